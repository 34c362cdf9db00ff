"""Backup and restore: a populated server is backed up, restored into a new database, and the
restored server's agents answer and search exactly as the original's do."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from memfold.config import Settings
from memfold.errors import BadRequestError, ConflictError
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel
from memfold.store import migrate
from memfold.store.backup import backup, backup_revision, restore
from memfold.store.engine import Database
from tests.store.scenario import observe, populate, serving
from tests.store.synthetic import dump


async def test_backup_then_restore_serves_the_same_agents(
    client: httpx.AsyncClient,
    app: FastAPI,
    scripted: ScriptedModel,
    registry: ModelRegistry,
    settings: Settings,
    tmp_path: Path,
) -> None:
    ids = await populate(client, app, scripted)
    source = app.state.memfold.db
    path = tmp_path / "backups" / "memfold-backup.db"
    backup(source, path)  # while the server runs
    assert not path.with_name(path.name + "-wal").exists()
    assert backup_revision(path) == migrate.head_revision()

    restored_url = f"sqlite:///{tmp_path / 'restored' / 'memfold.db'}"
    restored = Database(restored_url)
    try:
        report = restore(path, restored)
        assert (
            report.verified and report.source_rows["passages"] >= 6 and report.source_rows["messages"] >= 10
        )
        with source.read() as a, restored.read() as b:
            assert dump(b) == dump(a)
    finally:
        restored.dispose()

    original = await observe(client, scripted, ids)
    async with serving(tmp_path / "restored-home", restored_url, registry) as other:
        again = await observe(other, scripted, ids)
    assert again == original
    assert original["archival ada green tea"][0][1] == "Ada loves green tea from Darjeeling."
    assert original["tool status"] == ["success", "success"]


def test_backup_refuses_to_overwrite_and_restore_refuses_what_is_no_backup(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        migrate.upgrade(db)
        path = tmp_path / "b.db"
        backup(db, path)
        with pytest.raises(ConflictError, match="already exists"):
            backup(db, path)
        backup(db, path, overwrite=True)

        with pytest.raises(BadRequestError, match="no backup file"):
            restore(tmp_path / "missing.db", db)
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"not a database at all" * 100)
        with pytest.raises(BadRequestError, match="not a memfold backup"):
            restore(junk, db)
        with closing(sqlite3.connect(tmp_path / "newer.db")) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            conn.execute("INSERT INTO alembic_version VALUES ('9999')")
            conn.commit()
        with pytest.raises(BadRequestError, match="newer version"):
            restore(tmp_path / "newer.db", db)
    finally:
        db.dispose()


def test_a_backup_of_an_older_schema_is_upgraded_on_restore(tmp_path: Path) -> None:
    old = Database(f"sqlite:///{tmp_path / 'old.db'}")
    new = Database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        migrate.upgrade(old, "0002")
        backup(old, tmp_path / "old-backup.db")
        assert restore(tmp_path / "old-backup.db", new).verified
        assert migrate.current_revision(new) == migrate.head_revision()
        assert backup_revision(tmp_path / "old-backup.db") == "0002"  # the backup itself is untouched
    finally:
        old.dispose()
        new.dispose()
