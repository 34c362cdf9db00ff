"""Sleep-time groups: a main agent and the sleep-time agent that tends its memory

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _agent(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column(
            "organization_id",
            sa.String(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("manager_type", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _agent("manager_agent_id"),
        _agent("sleeptime_agent_id"),
        sa.Column("sleeptime_agent_frequency", sa.Integer(), nullable=False),
        sa.Column("turns_counter", sa.Integer(), nullable=False),
        sa.Column("turns_since_run", sa.Integer(), nullable=False),
        sa.Column("last_processed_message_id", sa.String()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("manager_agent_id", name="uq_groups_manager_agent"),
    )
    op.create_index("ix_groups_sleeptime_agent", "groups", ["sleeptime_agent_id"])
    op.create_index("ix_groups_org_created", "groups", ["organization_id", "created_at"])


def downgrade() -> None:
    op.drop_table("groups")
