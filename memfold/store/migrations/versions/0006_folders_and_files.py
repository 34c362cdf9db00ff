"""Folders of uploaded files; a file's chunks are passages of the folder's own archive

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _org() -> sa.Column[str]:
    return sa.Column(
        "organization_id", sa.String(), sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.String(), primary_key=True),
        _org(),
        sa.Column(
            "archive_id", sa.String(), sa.ForeignKey("archives.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("instructions", sa.Text()),
        sa.Column("metadata", sa.JSON()),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "name", name="uq_folders_org_name"),
    )
    op.create_index("ix_folders_org_created", "folders", ["organization_id", "created_at"])
    op.create_table(
        "folder_files",
        sa.Column("id", sa.String(), primary_key=True),
        _org(),
        sa.Column("folder_id", sa.String(), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_name", sa.String(), nullable=False),
        sa.Column("original_file_name", sa.String(), nullable=False),
        sa.Column("file_type", sa.String()),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("processing_status", sa.String(), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("total_chunks", sa.Integer()),
        sa.Column("chunks_embedded", sa.Integer()),
        sa.Column("content", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_folder_files_folder_name", "folder_files", ["folder_id", "file_name"])
    op.create_index("ix_folder_files_folder_created", "folder_files", ["folder_id", "created_at"])
    op.create_index("ix_folder_files_status", "folder_files", ["processing_status"])


def downgrade() -> None:
    op.drop_table("folder_files")
    op.drop_table("folders")
