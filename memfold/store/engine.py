"""The database handle: one engine, explicit read and write transactions.

SQLite (the embedded default) gets WAL, foreign keys, and exactly one writer: a write
transaction takes an in-process lock and starts with `BEGIN IMMEDIATE`, so writers queue
instead of failing with "database is locked"; reads run concurrently. PostgreSQL gets a
connection pool and ordinary transactions; `postgresql://` and `postgres://` URLs mean the
psycopg (3) driver, which comes with `pip install 'memfold[postgres]'`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from memfold.errors import ConfigurationError

__all__ = ["Database", "database_url"]

_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")


def database_url(url: str | URL) -> URL:
    """`url` parsed, with PostgreSQL URLs given the psycopg driver.

    Raises ConfigurationError for a URL that cannot be parsed, and for a PostgreSQL URL when
    psycopg is not installed (naming the install command)."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigurationError(f"MEMFOLD_DATABASE_URL is not a database URL: {e}") from e
    if parsed.drivername in _POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise ConfigurationError(
                "PostgreSQL needs the psycopg driver: pip install 'memfold[postgres]'"
            ) from e
    return parsed


class Database:
    """Owns the engine. Use `read()` for queries and `write()` for anything that changes rows."""

    def __init__(
        self, url: str | URL, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10
    ) -> None:
        """`pool_size` and `max_overflow` size PostgreSQL's pool (per process: MEMFOLD_DB_POOL_SIZE)."""
        self.url = database_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self._write_lock = threading.Lock()
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, echo=echo)
        else:
            self.engine = create_engine(
                self.url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
            )
            if self.is_postgres:
                event.listen(self.engine, "connect", _on_postgres_connect)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One atomic write transaction: everything in the block commits together or not at all."""
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.connect() as raw:
            conn = raw.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _on_postgres_connect(dbapi_conn: Any, _record: Any) -> None:
    # pgvector's filtered HNSW search (memfold.store.pg_vectors): keep scanning the graph until
    # enough rows pass the filter. Set once per connection, not per query (a round trip saved).
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SET hnsw.iterative_scan = relaxed_order")
    dbapi_conn.commit()


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    parsed = url
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=8,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module (SQLAlchemy's documented recipe).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
