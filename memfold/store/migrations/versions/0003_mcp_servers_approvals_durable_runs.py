"""MCP servers, tool-call approvals on messages, and the columns of the durable run queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column(
            "organization_id",
            sa.String(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("server_name", sa.String(), nullable=False),
        sa.Column("server_type", sa.String(), nullable=False),
        sa.Column("command", sa.String()),
        sa.Column("args", sa.JSON()),
        sa.Column("env", sa.JSON()),
        sa.Column("server_url", sa.String()),
        sa.Column("auth_header", sa.String()),
        sa.Column("auth_token", sa.String()),
        sa.Column("custom_headers", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "server_name", name="uq_mcp_servers_org_name"),
    )
    op.add_column("messages", sa.Column("approval", sa.JSON()))
    op.add_column("runs", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("lease_owner", sa.String()))
    op.add_column("runs", sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("started_at", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("callback_url", sa.String()))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for column in ("callback_url", "started_at", "lease_expires_at", "lease_owner", "attempts"):
            batch.drop_column(column)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("approval")
    op.drop_table("mcp_servers")
