"""Migration 0005 records every existing block's current content as its first saved version."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from memfold.store import blocks as block_rows
from memfold.store import migrate
from memfold.store.engine import Database


def test_existing_blocks_get_their_current_version_in_the_history(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db, "0004")
    with db.write() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES ('org-x', 'x', '2026-01-01')")
        )
        conn.execute(
            text(
                'INSERT INTO blocks (id, organization_id, label, value, "limit", description, read_only, '
                "is_template, version, created_at, updated_at) VALUES ('block-1', 'org-x', 'human', "
                "'Name: Ada', 100, 'who', 0, 0, 3, '2026-01-01', '2026-01-02')"
            )
        )
    migrate.upgrade(db)
    with db.write() as conn:
        [first] = block_rows.list_history(conn, "org-x", "block-1")
        assert (first.version, first.value, first.limit, first.description) == (3, "Name: Ada", 100, "who")
        assert first.actor_type is None
        block_rows.update_block(conn, "org-x", "block-1", {"value": "Name: Grace"})
        restored = block_rows.rollback_block(conn, "org-x", "block-1", 3)
        assert restored.value == "Name: Ada"
        assert [v.version for v in block_rows.list_history(conn, "org-x", "block-1")] == [5, 4, 3]
    db.dispose()
