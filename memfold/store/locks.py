"""Locks that hold across server processes sharing one PostgreSQL database.

Several `memfold serve` processes may share one PostgreSQL database; the steps of one agent must
still never interleave. Within a process an `asyncio.Lock` per agent serializes its turns
(`AgentLocks`, memfold/agent/loop.py); the turn that holds it then takes the agent's PostgreSQL
**advisory lock** through `AdvisoryLocks`, and gives it back when the turn ends, however it ends.

- One connection per process (autocommit, outside the pool) holds the session-level advisory locks
  of every turn the process runs, and a single thread talks to it, so no lock operation blocks the
  event loop and no wait ties up the threads that do the database work. A session may take the
  same key twice, so this is only a lock *between* processes: the in-process lock comes first.
- Waiting is polling `pg_try_advisory_lock`: 5 ms, doubling to at most 100 ms, with jitter. A
  blocking `pg_advisory_lock` would need a connection per waiting turn (with a hundred agents
  waiting, a hundred connections per process); a turn lasts seconds, so the poll's delay is small
  beside it.
- A process that dies loses its connection, and PostgreSQL releases every lock of that session at
  once: nothing is left locked. If the connection breaks while the process lives, the next
  operation reconnects and takes the held locks again (logging any that another process took in
  the meantime).

SQLite needs none of this: one process owns the database (`memfold serve` refuses more).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from memfold.store.engine import Database

log = logging.getLogger("memfold.store.locks")

POLL_FIRST = 0.005
"""Seconds before the first retry of a lock another process holds."""
POLL_MAX = 0.1
"""Longest wait between two tries."""

T = TypeVar("T")


def advisory_key(namespace: str, name: str) -> int:
    """The 64-bit advisory-lock key of `name` in `namespace` (e.g. `agent`, an agent id). Namespaces
    keep the keys of different uses apart; a collision between two names would only serialize them."""
    digest = hashlib.blake2b(f"memfold:{namespace}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def transaction_lock(conn: Connection, key: int) -> None:
    """Wait for an advisory lock and hold it for the rest of `conn`'s transaction (PostgreSQL)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def try_transaction_lock(conn: Connection, key: int) -> bool:
    """Take an advisory lock for the rest of `conn`'s transaction if no one else holds it (PostgreSQL)."""
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar_one())


@contextmanager
def startup_lock(db: Database) -> Iterator[None]:
    """Held while a process migrates the schema and creates the defaults, so processes that start
    together do this one after the other (the later ones find everything done). No-op on SQLite."""
    if db.is_sqlite:
        yield
        return
    key = advisory_key("startup", "schema")
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


class AdvisoryLocks:
    """Session-level advisory locks of this process, on a connection of their own (see the module
    docstring). `acquire` waits without blocking the event loop; `release` never waits."""

    def __init__(self, url: URL) -> None:
        self._engine = create_engine(url, poolclass=NullPool)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memfold-locks")
        self._conn: Connection | None = None
        self._held: set[int] = set()
        """Keys this process holds (touched only by the executor's thread)."""
        self._closed = False

    async def acquire(self, key: int) -> None:
        """Wait until this process holds `key`. Cancelled while waiting, it holds nothing."""
        delay = POLL_FIRST
        while not await self._try(key):
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, POLL_MAX)

    def release(self, key: int) -> None:
        """Give `key` back (queued behind any lock operation under way; does not wait)."""
        if self._closed:
            return
        self._executor.submit(self._unlock, key).add_done_callback(_log_failure)

    def held(self) -> frozenset[int]:
        """The keys held right now (for tests and diagnostics)."""
        return self._executor.submit(lambda: frozenset(self._held)).result()

    def close(self) -> None:
        """Release everything (by closing the connection) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._disconnect)
        self._executor.shutdown(wait=True)
        self._engine.dispose()

    async def _try(self, key: int) -> bool:
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._try_lock, key)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The statement runs on in its thread; if it took the lock, give it straight back.
            future.add_done_callback(lambda f: self._undo(key, f))
            raise

    def _undo(self, key: int, done: asyncio.Future[bool]) -> None:
        if not done.cancelled() and done.exception() is None and done.result():
            self.release(key)

    # -- in the executor's thread -------------------------------------------------------------

    def _try_lock(self, key: int) -> bool:
        taken = self._execute(lambda conn: _scalar(conn, "SELECT pg_try_advisory_lock(:k)", key))
        if taken:
            self._held.add(key)
        return bool(taken)

    def _unlock(self, key: int) -> None:
        self._held.discard(key)
        if self._conn is None:
            return  # disconnected since: the lock went with the old session
        try:
            self._execute(lambda conn: _scalar(conn, "SELECT pg_advisory_unlock(:k)", key), retry=False)
        except DBAPIError:
            # The connection is gone, and with it every lock of its session: nothing left to release.
            self._disconnect()

    def _execute(self, statement: Callable[[Connection], T], *, retry: bool = True) -> T:
        try:
            return statement(self._connection())
        except DBAPIError as e:
            if not (retry and e.connection_invalidated):
                raise
            log.warning("the advisory-lock connection broke (%s); reconnecting", e.orig)
            self._disconnect()
            return statement(self._connection())

    def _connection(self) -> Connection:
        if self._conn is not None and not self._conn.invalidated and not self._conn.closed:
            return self._conn
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if self._held:
            self._retake()
        return self._conn

    def _retake(self) -> None:
        """After a reconnect: the old session's locks are gone; take them again."""
        assert self._conn is not None
        for key in sorted(self._held):
            if not _scalar(self._conn, "SELECT pg_try_advisory_lock(:k)", key):
                log.error(
                    "lost an agent lock (key %d) while the database connection was down; another "
                    "process holds it now, so two turns of that agent may overlap once",
                    key,
                )

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(DBAPIError):  # already broken
                conn.close()


def _scalar(conn: Connection, sql: str, key: int) -> bool:
    return bool(conn.execute(text(sql), {"k": key}).scalar_one())


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("releasing an advisory lock failed: %s", error)
