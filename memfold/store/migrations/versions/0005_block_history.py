"""Block history: every saved version of a block, for audit and rollback

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "block_history",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column(
            "organization_id",
            sa.String(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("block_id", sa.String(), sa.ForeignKey("blocks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("actor_type", sa.String()),
        sa.Column("actor_id", sa.String()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("block_id", "version", name="uq_block_history_block_version"),
    )
    # Every existing block's current content becomes its first recorded version (actor unknown), so
    # it can be rolled back to after its next change.
    op.execute(
        'INSERT INTO block_history (id, organization_id, block_id, version, label, value, "limit", '
        "description, actor_type, actor_id, created_at) "
        "SELECT 'blockversion-' || id || '-' || version, organization_id, id, version, label, value, "
        '"limit", description, NULL, NULL, updated_at FROM blocks'
    )


def downgrade() -> None:
    op.drop_table("block_history")
