"""`memfold db` against PostgreSQL: upgrade, copy in, back up from it, restore out of it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from memfold.cli import app as cli
from memfold.config import get_settings
from memfold.store import migrate
from memfold.store.engine import Database
from tests.cli.test_db import home, populated, same_rows  # noqa: F401  (the autouse fixture too)

runner = CliRunner()


def test_upgrade_migrates_postgres(postgres_url: str) -> None:
    result = runner.invoke(cli, ["db", "upgrade", "--url", postgres_url])
    assert result.exit_code == 0, result.output
    db = Database(postgres_url)
    try:
        assert migrate.current_revision(db) == migrate.head_revision()
        with db.read() as conn:
            assert conn.execute(text("SELECT to_regclass('passages')")).scalar() is not None
    finally:
        db.dispose()
    again = runner.invoke(cli, ["db", "upgrade", "--url", postgres_url])
    assert f"-> {migrate.head_revision()}" in again.output


def test_copy_to_postgres_then_backup_and_restore_from_it(postgres_url: str, tmp_path: Path) -> None:
    populated()
    sqlite_url = get_settings().resolved_database_url
    copied = runner.invoke(cli, ["db", "copy", "--to", postgres_url])
    assert copied.exit_code == 0, copied.output
    assert same_rows(sqlite_url, postgres_url)
    db = Database(postgres_url)
    try:
        with db.read() as conn:  # the HNSW index of the copied embeddings' dimension exists
            assert conn.execute(text("SELECT to_regclass('ix_passages_embedding_3')")).scalar() is not None
    finally:
        db.dispose()

    path = tmp_path / "from-postgres.db"
    made = runner.invoke(cli, ["db", "backup", str(path), "--from", postgres_url])
    assert made.exit_code == 0, made.output
    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = runner.invoke(cli, ["db", "restore", str(path), "--to", restored_url])
    assert restored.exit_code == 0, restored.output
    assert same_rows(sqlite_url, restored_url)
