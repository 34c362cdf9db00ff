"""Warm one-shot workers: started ahead of time, each used for exactly one call, then gone.

A worker joins the pool once it has reported (over a pipe) that its interpreter has started, its
limits are set and it is blocked reading its request. Nothing of a call survives into the next one:
every call gets a new process, working directory and user id. A background thread keeps `size`
workers ready and starts a replacement as soon as one is taken. A worker older than `max_age` is
replaced, so none waits for hours holding a uid and a directory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from memfold.tools.sandbox.process import SpawnError, WorkerProcess

log = logging.getLogger("memfold.sandbox")

START_TIMEOUT = 30.0
"""Seconds a warm worker may take to start its interpreter and report that it waits."""
RETRY_SECONDS = 5.0
"""After a failed spawn, the pool waits this long before trying again (no busy loop on a broken setup)."""


class WorkerPool:
    def __init__(self, spawn: Callable[[], WorkerProcess], size: int, *, max_age: float = 600.0) -> None:
        self._spawn = spawn
        self.size = size
        self.max_age = max_age
        self._idle: deque[WorkerProcess] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def take(self) -> WorkerProcess | None:
        """A warm worker, or None if none is ready (the caller starts one itself)."""
        self._start()
        with self._cond:
            while self._idle:
                worker = self._idle.popleft()
                if worker.alive and time.monotonic() - worker.spawned_at < self.max_age:
                    self._cond.notify()
                    return worker
                self._discard(worker)
            self._cond.notify()
            return None

    @property
    def ready(self) -> int:
        with self._cond:
            return len(self._idle)

    def wait_ready(self, count: int, timeout: float) -> bool:
        """Block until `count` workers are warm (tests and benchmarks)."""
        self._start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._idle) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for worker in idle:
            self._discard(worker)

    def _start(self) -> None:
        if self.size <= 0 or self._thread is not None:
            return
        with self._cond:
            if self._thread is None and not self._closed:
                # The thread that starts the workers must live as long as they do: they die with it.
                self._thread = threading.Thread(target=self._fill, name="memfold-sandbox-pool", daemon=True)
                self._thread.start()

    def _fill(self) -> None:
        while True:
            with self._cond:
                while not self._closed and len(self._idle) >= self.size:
                    self._cond.wait(timeout=self.max_age / 2)
                    self._expire()
                if self._closed:
                    return
            try:
                worker = self._spawn()
                if not worker.wait_started(START_TIMEOUT):
                    why = worker.stderr_tail() or "no output"
                    worker.dispose()
                    raise SpawnError(f"the worker did not start: {why}")
            except SpawnError as e:
                self.last_error = str(e)
                log.warning("sandbox: could not start a warm worker: %s", e)
                with self._cond:
                    self._cond.wait(timeout=RETRY_SECONDS)
                continue
            with self._cond:
                if self._closed:
                    break
                self._idle.append(worker)
                self._cond.notify_all()
        self._discard(worker)

    def _expire(self) -> None:
        """Drop idle workers past their age (called with the lock held; the next loop replaces them)."""
        now = time.monotonic()
        for worker in [w for w in self._idle if now - w.spawned_at >= self.max_age or not w.alive]:
            self._idle.remove(worker)
            self._discard(worker)

    @staticmethod
    def _discard(worker: WorkerProcess) -> None:
        worker.dispose()
