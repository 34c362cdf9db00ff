"""Copy a whole memfold database into another one: SQLite <-> PostgreSQL, or SQLite -> SQLite.

`copy_database(source, target)`:

1. the source must be at the schema head (`memfold db upgrade` it first); the target is
   migrated to head;
2. the target must hold no rows (a server that opened it once made the default organization
   and the built-in tools) unless `replace=True`, which deletes every row first;
3. every table of `tables.metadata` is copied in foreign-key order (`metadata.sorted_tables`,
   so a table added later is never forgotten), streamed in batches (memory stays bounded),
   inside ONE target transaction: the copy lands whole or not at all. Ids, `seq` values,
   timestamps (normalized to UTC), JSON (SQL NULL stays NULL, JSON `null` stays `null`) and
   embedding bytes are kept exactly. The source is read in one snapshot (PostgreSQL:
   REPEATABLE READ; SQLite: one read transaction), so a running server may keep writing;
4. counters are carried over: the never-reused `seq` high-water marks (SQLite
   `sqlite_sequence`, PostgreSQL sequences via `setval`), so new rows get new numbers;
5. derived search structures are brought up: SQLite's FTS5 tables are filled by their triggers
   as rows arrive; PostgreSQL's generated `text_search` columns fill themselves, and the HNSW
   index of every embedding dimension present is made (`pg_vectors.ensure_indexes`);
6. row counts are compared table by table (`CopyReport.verified`).

Derived tables (`alembic_version`, the FTS5 tables and their shadows, `sqlite_sequence`) are
not copied: migrations and triggers make them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Integer,
    Table,
    TableClause,
    Text,
    cast,
    column,
    delete,
    func,
    insert,
    inspect,
    select,
    table,
    text,
)

from memfold.errors import BadRequestError, ConflictError
from memfold.store import fulltext, migrate, pg_vectors
from memfold.store.engine import Database
from memfold.store.tables import metadata

__all__ = [
    "CopyProgress",
    "CopyReport",
    "copied_tables",
    "copy_database",
    "is_derived_table",
    "row_counts",
    "same_database",
]

BATCH_SIZE = 1000
"""Rows per read batch and per insert: bounds memory whatever the database's size."""


class CopyProgress(Protocol):
    """Told about each table as it is copied (the CLI draws progress bars from it)."""

    def table_started(self, name: str, total: int) -> None: ...

    def rows_copied(self, name: str, count: int) -> None: ...


class _Silent:
    def table_started(self, name: str, total: int) -> None:
        pass

    def rows_copied(self, name: str, count: int) -> None:
        pass


@dataclass
class CopyReport:
    """What was copied: rows per table in the source snapshot and in the target afterwards."""

    source_rows: dict[str, int] = field(default_factory=dict)
    target_rows: dict[str, int] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.source_rows == self.target_rows

    @property
    def total(self) -> int:
        return sum(self.source_rows.values())


def copied_tables() -> list[Table]:
    """The tables a copy carries, parents before children."""
    return list(metadata.sorted_tables)


def is_derived_table(name: str) -> bool:
    """Tables in a database that the migrations or triggers make, so a copy does not carry them."""
    return (
        name in ("alembic_version", "sqlite_sequence")
        or name.startswith(fulltext.FULLTEXT_TABLES)
        or name.startswith("sqlite_")
    )


def row_counts(conn: Connection) -> dict[str, int]:
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in copied_tables()
    }


def copy_database(
    source: Database,
    target: Database,
    *,
    replace: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: CopyProgress | None = None,
) -> CopyReport:
    """Copy every row of `source` into `target` (see the module docstring)."""
    progress = progress or _Silent()
    if same_database(source, target):
        raise BadRequestError("the source and the target are the same database")
    _check_source(source)
    migrate.upgrade(target)
    report = CopyReport()
    with _snapshot(source) as src, target.write() as dst:
        _check_no_strangers(src)
        existing = sum(row_counts(dst).values())
        if existing and not replace:
            raise ConflictError(
                f"the target database already holds {existing} rows; copy only into an empty database, "
                "or pass --force (replace=True) to erase it first"
            )
        if existing:
            for t in reversed(copied_tables()):
                dst.execute(delete(t))
        for t in copied_tables():
            report.source_rows[t.name] = _copy_table(src, dst, t, batch_size, progress)
        _carry_counters(src, dst)
        _ensure_search_structures(dst)
    with target.read() as conn:
        report.target_rows = row_counts(conn)
    return report


def same_database(a: Database, b: Database) -> bool:
    """Whether two handles name one database (one SQLite file; one server's database by name)."""
    if a.is_sqlite != b.is_sqlite:
        return False
    if a.is_sqlite:
        paths = [db.url.database or ":memory:" for db in (a, b)]
        return ":memory:" not in paths and Path(paths[0]).resolve() == Path(paths[1]).resolve()
    key = [
        (db.url.host or str(db.url.query.get("host")), db.url.port or 5432, db.url.database) for db in (a, b)
    ]
    return key[0] == key[1]


def _check_source(source: Database) -> None:
    current, head = migrate.current_revision(source), migrate.head_revision()
    if current is None:
        raise BadRequestError(f"the source database {source.url!r} has no memfold schema")
    if current != head:
        raise BadRequestError(
            f"the source database is at schema {current}, not {head}: run `memfold db upgrade` on it first"
        )


@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One read transaction over the whole copy: every table comes from the same moment."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _check_no_strangers(conn: Connection) -> None:
    """A table in the database that the metadata does not declare would be lost: refuse."""
    names = set(inspect(conn).get_table_names())
    unknown = sorted(n for n in names - set(metadata.tables) if not is_derived_table(n))
    if unknown:
        raise BadRequestError(f"the source holds tables memfold does not know, refusing to copy: {unknown}")


def _copy_table(src: Connection, dst: Connection, t: Table, batch_size: int, progress: CopyProgress) -> int:
    columns = [c for c in t.columns if c.computed is None]
    total = int(src.execute(select(func.count()).select_from(t)).scalar_one())
    progress.table_started(t.name, total)
    query = select(*[_readable(c) for c in columns]).order_by(*t.primary_key.columns)
    writable = _writable(t, columns)
    convert = [_converter(c) for c in columns]
    names = [c.name for c in columns]
    copied = 0
    result = src.execution_options(yield_per=batch_size).execute(query)
    for batch in result.partitions(batch_size):
        rows = [
            {name: fn(value) for name, fn, value in zip(names, convert, row, strict=True)} for row in batch
        ]
        dst.execute(insert(writable), rows)
        copied += len(rows)
        progress.rows_copied(t.name, len(rows))
    return copied


def _readable(c: Column[Any]) -> Any:
    # JSON is read as its stored text, so SQL NULL and JSON null stay apart.
    return cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c


def _writable(t: Table, columns: list[Column[Any]]) -> TableClause:
    """`t` with JSON columns that write None as SQL NULL (JSON null is written as `JSON.NULL`)."""
    typed = []
    for c in columns:
        type_ = c.type
        if isinstance(type_, JSON):
            type_ = type_.copy()
            type_.none_as_null = True
        typed.append(column(c.name, type_))
    return table(t.name, *typed)


def _converter(c: Column[Any]) -> Any:
    if isinstance(c.type, JSON):
        return _json_value
    if isinstance(c.type, DateTime):
        return _utc
    return _same


def _same(value: Any) -> Any:
    return value


def _json_value(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode()
    if raw == "null":
        return JSON.NULL
    return json.loads(raw)


def _utc(value: Any) -> Any:
    """SQLite hands back naive UTC; PostgreSQL aware values in the session's zone: both become UTC."""
    if not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- counters ------------------------------------------------------------------------------------


def _serial_columns() -> list[tuple[Table, Column[Any]]]:
    found = []
    for t in copied_tables():
        c = t.autoincrement_column
        if c is not None and isinstance(c.type, Integer):
            found.append((t, c))
    return found


def _carry_counters(src: Connection, dst: Connection) -> None:
    for t, c in _serial_columns():
        high = max(_high_water(src, t, c), int(src.execute(select(func.max(c))).scalar() or 0))
        _set_high_water(dst, t, c, high)


def _high_water(conn: Connection, t: Table, c: Column[Any]) -> int:
    """The largest value the counter has handed out (rows deleted since may have held it)."""
    if conn.dialect.name == "sqlite":
        if not inspect(conn).has_table("sqlite_sequence"):
            return 0
        value = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :n"), {"n": t.name}).scalar()
        return int(value or 0)
    sequence = _pg_sequence(conn, t, c)
    if sequence is None:
        return 0
    row = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
    return int(row.last_value) if row.is_called else 0


def _set_high_water(conn: Connection, t: Table, c: Column[Any], high: int) -> None:
    if conn.dialect.name == "sqlite":
        if high == 0 or not inspect(conn).has_table("sqlite_sequence"):
            return  # a table without AUTOINCREMENT follows max(rowid) by itself
        updated = conn.execute(
            text("UPDATE sqlite_sequence SET seq = max(seq, :h) WHERE name = :n"), {"h": high, "n": t.name}
        ).rowcount
        if not updated and _has_autoincrement(conn, t):
            conn.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :h)"), {"n": t.name, "h": high}
            )
        return
    sequence = _pg_sequence(conn, t, c)
    if sequence is not None:
        # setval(seq, n, false): the next value handed out is n itself.
        conn.execute(text("SELECT setval(:s, :n, false)"), {"s": sequence, "n": high + 1})


def _has_autoincrement(conn: Connection, t: Table) -> bool:
    sql = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": t.name}
    )
    return "AUTOINCREMENT" in str(sql.scalar() or "").upper()


def _pg_sequence(conn: Connection, t: Table, c: Column[Any]) -> str | None:
    value = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": t.name, "c": c.name}).scalar()
    return None if value is None else str(value)


# --- derived search structures -------------------------------------------------------------------


def _ensure_search_structures(conn: Connection) -> None:
    """SQLite: the FTS5 triggers filled the indexes row by row. PostgreSQL: the generated
    `text_search` columns filled themselves; the HNSW index of each embedding dimension present
    is made here (the store makes one when a dimension is first written, which a copy bypasses)."""
    pg_vectors.ensure_indexes(conn)
