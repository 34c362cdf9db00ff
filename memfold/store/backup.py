"""Backups as single SQLite files, whatever the database, and restoring them.

`backup(db, path)` writes a consistent snapshot of `db` to `path`:

- SQLite: SQLite's online backup API (`sqlite3.Connection.backup`) copies the pages under one
  read lock, so a running server may keep writing; the copy is at the source's schema revision.
- PostgreSQL: `copy_database` into a fresh SQLite file, reading the source in one REPEATABLE READ
  transaction (one moment of the database, while servers keep running).

The file is written beside `path` first and renamed into place when complete, in rollback-journal
mode (one self-contained file, no `-wal` beside it).

`restore(path, db)` copies a backup into `db` (SQLite or PostgreSQL): the backup is first copied
to a temporary file and migrated to the current schema there (a backup made by an earlier memfold
restores into a newer one; the backup file itself is never changed), then `copy_database` moves
the rows (the target must be empty unless `replace=True`).
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from alembic.script import ScriptDirectory

from memfold.errors import BadRequestError, ConflictError
from memfold.store import migrate
from memfold.store.copy import CopyProgress, CopyReport, copy_database
from memfold.store.engine import Database

__all__ = ["backup", "restore"]


def backup(
    db: Database, path: Path, *, overwrite: bool = False, progress: CopyProgress | None = None
) -> None:
    """Write a consistent snapshot of `db` to the SQLite file `path`."""
    if path.exists() and not overwrite:
        raise ConflictError(f"{path} already exists; choose another path or pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    _remove(partial)
    try:
        if db.is_sqlite:
            _sqlite_backup(_sqlite_path(db), partial)
        else:
            snapshot = Database(f"sqlite:///{partial}")
            try:
                copy_database(db, snapshot, progress=progress)
            finally:
                snapshot.dispose()
        _self_contained(partial)
        partial.replace(path)
    finally:
        _remove(partial)


def restore(
    path: Path, db: Database, *, replace: bool = False, progress: CopyProgress | None = None
) -> CopyReport:
    """Copy the backup at `path` into `db`."""
    revision = backup_revision(path)
    if revision not in {
        s.revision for s in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()
    }:
        raise BadRequestError(
            f"{path} is at schema {revision!r}, which this memfold does not know (made by a newer version?)"
        )
    with tempfile.TemporaryDirectory(prefix="memfold-restore-") as tmp:
        work = Path(tmp) / "restore.db"
        _sqlite_backup(path, work)
        source = Database(f"sqlite:///{work}")
        try:
            migrate.upgrade(source)
            return copy_database(source, db, replace=replace, progress=progress)
        finally:
            source.dispose()


def backup_revision(path: Path) -> str:
    """The schema revision recorded in the backup file; a clear error when it is not a memfold backup."""
    if not path.is_file():
        raise BadRequestError(f"no backup file at {path}")
    try:
        with closing(sqlite3.connect(path)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as e:
        raise BadRequestError(
            f"{path} is not a memfold backup (a SQLite file with a memfold schema): {e}"
        ) from e
    if row is None:
        raise BadRequestError(f"{path} is not a memfold backup: it records no schema revision")
    return str(row[0])


def _sqlite_path(db: Database) -> Path:
    name = db.url.database
    if not name or name == ":memory:":
        raise BadRequestError("an in-memory SQLite database cannot be backed up")
    return Path(name)


def _sqlite_backup(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _self_contained(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")


def _remove(path: Path) -> None:
    for extra in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + extra).unlink(missing_ok=True)
