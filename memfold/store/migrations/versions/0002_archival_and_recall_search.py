"""archival memory (archives, passages, tags) and recall search (message_search), with full-text indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# SQLite FTS5: external-content indexes kept in step by triggers (cascaded deletes fire them too).
_SQLITE_FULLTEXT = [
    """CREATE VIRTUAL TABLE passages_fts USING fts5(
        text, content='passages', content_rowid='seq', tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN
        INSERT INTO passages_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
    """CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN
        INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END""",
    """CREATE TRIGGER passages_fts_update AFTER UPDATE OF text ON passages BEGIN
        INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO passages_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
    """CREATE VIRTUAL TABLE message_search_fts USING fts5(
        text, content='message_search', content_rowid='seq',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER message_search_fts_insert AFTER INSERT ON message_search BEGIN
        INSERT INTO message_search_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
    """CREATE TRIGGER message_search_fts_delete AFTER DELETE ON message_search BEGIN
        INSERT INTO message_search_fts(message_search_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END""",
    """CREATE TRIGGER message_search_fts_update AFTER UPDATE OF text ON message_search BEGIN
        INSERT INTO message_search_fts(message_search_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO message_search_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
]
_SQLITE_FULLTEXT_DROP = [
    "DROP TRIGGER IF EXISTS message_search_fts_update",
    "DROP TRIGGER IF EXISTS message_search_fts_delete",
    "DROP TRIGGER IF EXISTS message_search_fts_insert",
    "DROP TABLE IF EXISTS message_search_fts",
    "DROP TRIGGER IF EXISTS passages_fts_update",
    "DROP TRIGGER IF EXISTS passages_fts_delete",
    "DROP TRIGGER IF EXISTS passages_fts_insert",
    "DROP TABLE IF EXISTS passages_fts",
]


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("organization_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("embedding_config", sa.JSON(), nullable=False),
        sa.Column("vector_db_provider", sa.String(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_archives_org_created", "archives", ["organization_id", "created_at"], unique=False)

    op.create_table(
        "agent_archives",
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("archive_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["archive_id"], ["archives.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agent_id", "archive_id"),
    )
    op.create_index("ix_agent_archives_archive", "agent_archives", ["archive_id"], unique=False)

    op.create_table(
        "passages",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("organization_id", sa.String(), nullable=False),
        sa.Column("archive_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_handle", sa.String(), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["archive_id"], ["archives.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_passages_archive_seq", "passages", ["archive_id", "seq"], unique=False)
    op.create_index("ix_passages_archive_created", "passages", ["archive_id", "created_at"], unique=False)

    op.create_table(
        "passage_tags",
        sa.Column("passage_seq", _SEQ, autoincrement=False, nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("archive_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["passage_seq"], ["passages.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("passage_seq", "tag"),
    )
    op.create_index(
        "ix_passage_tags_archive_tag", "passage_tags", ["archive_id", "tag", "passage_seq"], unique=False
    )

    op.create_table(
        "message_search",
        sa.Column("seq", _SEQ, autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_handle", sa.String(), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["seq"], ["messages.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_message_search_agent_seq", "message_search", ["agent_id", "seq"], unique=False)
    op.create_index(
        "ix_message_search_agent_created", "message_search", ["agent_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_message_search_agent_handle", "message_search", ["agent_id", "embedding_handle"], unique=False
    )

    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FULLTEXT:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FULLTEXT_DROP:
            op.execute(statement)
    op.drop_index("ix_message_search_agent_handle", table_name="message_search")
    op.drop_index("ix_message_search_agent_created", table_name="message_search")
    op.drop_index("ix_message_search_agent_seq", table_name="message_search")
    op.drop_table("message_search")
    op.drop_index("ix_passage_tags_archive_tag", table_name="passage_tags")
    op.drop_table("passage_tags")
    op.drop_index("ix_passages_archive_created", table_name="passages")
    op.drop_index("ix_passages_archive_seq", table_name="passages")
    op.drop_table("passages")
    op.drop_index("ix_agent_archives_archive", table_name="agent_archives")
    op.drop_table("agent_archives")
    op.drop_index("ix_archives_org_created", table_name="archives")
    op.drop_table("archives")
