"""Folders attached to agents, and each agent's open files (window, last access for LRU)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _agent() -> sa.Column[str]:
    return sa.Column(
        "agent_id", sa.String(), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.add_column("agents", sa.Column("max_files_open", sa.Integer()))
    op.add_column("agents", sa.Column("per_file_view_window_char_limit", sa.Integer()))
    op.create_table(
        "agent_folders",
        _agent(),
        sa.Column(
            "folder_id", sa.String(), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_agent_folders_folder", "agent_folders", ["folder_id"])
    op.create_table(
        "agent_files",
        _agent(),
        sa.Column(
            "file_id", sa.String(), sa.ForeignKey("folder_files.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("folder_id", sa.String(), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("start_line", sa.Integer()),
        sa.Column("end_line", sa.Integer()),
        sa.Column("total_lines", sa.Integer()),
        sa.Column("visible_content", sa.Text()),
        sa.Column("last_accessed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_agent_files_agent_open", "agent_files", ["agent_id", "is_open"])
    op.create_index("ix_agent_files_file", "agent_files", ["file_id"])
    op.create_index("ix_agent_files_folder", "agent_files", ["folder_id"])


def downgrade() -> None:
    op.drop_table("agent_files")
    op.drop_table("agent_folders")
    # A plain DROP COLUMN (SQLite has it since 3.35): a batch rebuild of `agents` would cascade-delete
    # every row that references an agent.
    op.drop_column("agents", "per_file_view_window_char_limit")
    op.drop_column("agents", "max_files_open")
