"""Workers in the server process that execute queued runs.

One dispatcher task claims runs (oldest first, up to `run_concurrency` at a time) and starts a
task per run; the run's turn takes the agent's lock like any other, so runs of one agent execute
one at a time, in the order they were queued. The dispatcher renews the leases of every run this
process holds; if the process dies, the leases expire and the runs are claimed again (on SQLite,
at the next start-up at once).

With several processes on one PostgreSQL database, each runs its own dispatcher: claims skip rows
another process is claiming (`FOR UPDATE SKIP LOCKED`) and take turns per agent, so a run is
executed by one process at a time. A cancel received by any process is stored on the run; each
round, the dispatcher of the process holding it reads the requests and stops those runs at their
next step boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from memfold.agent.loop import AgentLoop
from memfold.errors import MemfoldError
from memfold.runs import queue
from memfold.schemas.messages import LettaRequest
from memfold.store.engine import Database

log = logging.getLogger("memfold.runs")

MAX_ATTEMPTS = 3
"""A run that was picked up this many times without finishing (e.g. it crashed its process each
time) is failed instead of tried again."""

RunKind = Callable[[queue.Claim], Awaitable[None]]
"""Executes a run whose request names a `kind` (e.g. learning a folder): completes or ends the run
itself; raising fails it with the reason."""


class RunWorkers:
    def __init__(
        self, db: Database, loop: AgentLoop, *, concurrency: int, lease_seconds: float, poll_seconds: float
    ) -> None:
        self.db = db
        self.loop = loop
        self.owner = loop.owner
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._renewed_at = 0.0
        self._cancels_read_at = 0.0
        self.kinds: dict[str, RunKind] = {}
        """Executors of runs that are not one queued turn, by their request's `kind`."""
        loop.on_turn_end.append(self._wake.set)

    def start(self, *, recover: bool) -> None:
        """Start the dispatcher in the running event loop (idempotent). With `recover`, first free
        the leases a previous process left behind (single-process databases only)."""
        if recover:
            with self.db.write() as conn:
                freed = queue.expire_leases(conn)
            if freed:
                log.info("resuming %d run(s) left unfinished by the previous process", freed)
        self._stopping = False
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="memfold-run-dispatcher")
        self._wake.set()

    def submit(self, org_id: str, agent_id: str, request: LettaRequest, *, callback_url: str | None) -> str:
        """Queue a request as a background run; a worker picks it up at once."""
        with self.db.write() as conn:
            saved = request.model_dump(mode="json", exclude_none=True)
            run_id = queue.enqueue(conn, org_id, agent_id, saved, callback_url=callback_url)
        self.start(recover=False)
        return run_id

    async def stop(self) -> None:
        # The flag, not only the cancellation: a wake-up racing the cancel can swallow it.
        self._stopping = True
        self._wake.set()
        tasks = [t for t in [self._dispatcher, *self.running.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._dispatcher = None

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                # Runs waiting for their agent's lock are held too: their leases must not lapse.
                holding = bool(self.running or self.loop.active_runs)
                due = time.monotonic() - self._renewed_at > self.lease.total_seconds() / 3
                if holding and due:
                    await asyncio.to_thread(self._renew)
                # A cancel may have come through another process (SQLite has one: it cancels directly).
                if holding and not self.db.is_sqlite and time.monotonic() - self._cancels_read_at > 1.0:
                    self._cancels_read_at = time.monotonic()
                    for run_id in await asyncio.to_thread(self._cancel_requests):
                        if run_id in self.running or run_id in self.loop.active_runs:
                            self.loop.cancel(run_id)
                free = self.concurrency - len(self.running)
                claims = await asyncio.to_thread(self._claim, free) if free > 0 else []
                for claim in claims:
                    task = asyncio.create_task(self._execute(claim), name=f"memfold-{claim.run_id}")
                    self.running[claim.run_id] = task
            except Exception:  # a database fault must not end the dispatcher: try again next round
                log.exception("run dispatcher round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    def _renew(self) -> None:
        with self.db.write() as conn:
            queue.renew(conn, self.owner, self.lease)
        self._renewed_at = time.monotonic()

    def _cancel_requests(self) -> list[str]:
        with self.db.read() as conn:
            return queue.cancel_requests(conn, self.owner)

    def _claim(self, limit: int) -> list[queue.Claim]:
        with self.db.read() as conn:  # the common idle round reads and takes no write lock
            if not queue.any_claimable(conn):
                return []
        with self.db.write() as conn:
            return queue.claim(conn, self.owner, self.lease, limit=limit)

    async def _execute(self, claim: queue.Claim) -> None:
        try:
            kind = self.kinds.get(str(claim.request.get("kind", "")))
            if kind is not None:  # it keeps its own account of attempts (it may progress across them)
                await kind(claim)
                return
            if claim.attempts > MAX_ATTEMPTS:
                raise MemfoldError(f"the run was started {MAX_ATTEMPTS} times without finishing; giving up")
            request = LettaRequest.model_validate(claim.request)
            inputs = [] if claim.resumed else request.new_messages()
            if not claim.resumed and not inputs:
                raise MemfoldError("the run has no input messages")
            await self.loop.send(
                claim.organization_id,
                claim.agent_id,
                inputs,
                max_steps=request.max_steps,
                run_id=claim.run_id,
                client_tools=request.client_tools,
            )
        except asyncio.CancelledError:
            raise  # the server is stopping: the lease lapses and the run is resumed later
        except Exception as e:
            message = e.message if isinstance(e, MemfoldError) else f"{type(e).__name__}: {e}"
            log.warning("run %s failed: %s", claim.run_id, message)
            await asyncio.to_thread(self._fail, claim.run_id, message)
        finally:
            self.running.pop(claim.run_id, None)
            self._wake.set()

    def _fail(self, run_id: str, error: str) -> None:
        with self.db.write() as conn:
            queue.fail(conn, run_id, error)
