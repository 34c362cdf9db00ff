"""Migrations build exactly the schema `tables.py` declares, and run once."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from memfold.store import migrate
from memfold.store.engine import Database
from memfold.store.fulltext import FULLTEXT_TABLES, include_in_schema
from memfold.store.tables import metadata


def test_upgrade_from_empty_matches_the_declared_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrate.current_revision(db) is None
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_in_schema})
        diffs = compare_metadata(context, metadata)
        assert diffs == []
        assert set(inspect(conn).get_table_names()) >= {*metadata.tables, *FULLTEXT_TABLES}
    db.dispose()


def test_upgrade_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    migrate.upgrade(db)
    with db.write() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES ('org-x', 'x', '2026-01-01')")
        )
    db.dispose()
    again = Database(url)
    migrate.upgrade(again)
    with again.read() as conn:
        assert conn.execute(text("SELECT name FROM organizations WHERE id = 'org-x'")).scalar_one() == "x"
    again.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    db.dispose()


def test_every_migration_downgrades_to_empty_and_upgrades_again(tmp_path: Path) -> None:
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db)
    config = migrate.alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with db.read() as conn:
        left = set(inspect(conn).get_table_names()) - {"alembic_version"}
    assert left == set()
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    db.dispose()
