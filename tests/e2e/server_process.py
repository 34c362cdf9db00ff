"""`memfold serve` as a real subprocess on a free port of 127.0.0.1, for end-to-end tests.

    with ServerProcess(tmp_path / "home", env=fake.env()) as server:
        client = Letta(base_url=server.base_url)
        ...
        server.restart()          # same MEMFOLD_HOME, so the same database

The server's output (stdout and stderr, every start) goes to `log_path`; `output()` reads
it back for failure messages. `stop()` sends SIGTERM to the server's process group, then
SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

__all__ = [
    "ServerProcess",
    "free_port",
    "memfold_command",
    "process_group_alive",
    "server_environment",
    "stop_process_group",
    "wait_for_health",
]

STARTUP_TIMEOUT = 30.0
"""Seconds the server may take to answer `GET /v1/health` after it is started."""
STOP_TIMEOUT = 10.0
"""Seconds the server may take to exit after SIGTERM before it is killed."""

# Variables of the test process that must not leak into the server: they would configure
# providers or settings the test did not ask for.
_INHERITED_PREFIXES = ("MEMFOLD_", "OPENAI_", "ANTHROPIC_", "OLLAMA_", "LETTA_")
# A `make test` run exports these; a nested `make serve` must not inherit its jobserver.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memfold_command() -> list[str]:
    """The `memfold` console script of this interpreter's environment, else `python -m memfold`."""
    script = Path(sys.executable).parent / "memfold"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "memfold"]


def server_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without provider/memfold variables, plus MEMFOLD_HOME and `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_INHERITED_PREFIXES) and k not in _MAKE_VARIABLES
    }
    env.update(
        MEMFOLD_HOME=str(home),
        MEMFOLD_HOST="127.0.0.1",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def wait_for_health(
    base_url: str, process: subprocess.Popen[bytes], timeout: float = STARTUP_TIMEOUT
) -> None:
    """Poll `GET {base_url}/v1/health` until it answers 200. Raises RuntimeError if the process exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0, trust_env=False) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
            with contextlib.suppress(httpx.TransportError):
                if http.get("/v1/health").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer /v1/health within {timeout:.0f} s")
            time.sleep(0.05)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM the process group led by `process` (started with `start_new_session=True`), SIGKILL it
    after `timeout` seconds. Returns the exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    return process.returncode


def process_group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: alive all the same
        return True
    return True


class ServerProcess:
    """One `memfold serve` subprocess; see the module docstring.

    `port=None` picks a free port at the first start and keeps it across restarts, so one
    client outlives a restart; a start that loses its port to another process is retried
    on a new one (then `base_url` changes).
    """

    def __init__(
        self,
        home: Path,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.home = home
        self.env = dict(env or {})
        self.fixed_port = port
        self.log_path = log_path or home.with_name(f"{home.name}-serve.log")
        self.startup_timeout = startup_timeout
        self.starts = 0
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self.running:
            raise RuntimeError("the server is already running")
        self.home.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.fixed_port is not None else 3
        for attempt in range(attempts):
            try:
                self._start_once(self.fixed_port or self._port or free_port())
                return self
            except RuntimeError as e:
                address_taken = "address already in use" in self.output().lower()
                self.stop()
                if not address_taken or attempt == attempts - 1:
                    raise RuntimeError(self._failure(str(e))) from None
                self._port = None  # lost the port to another process: try a new one
        raise AssertionError("unreachable")

    def _start_once(self, port: int) -> None:
        self._port = port
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts} on port {port} ---\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            [*memfold_command(), "serve", "--port", str(port)],
            env=server_environment(self.home, self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_health(self.base_url, self._process, self.startup_timeout)

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL). Returns its exit status, or None if none ran."""
        process, self._process = self._process, None
        status = stop_process_group(process) if process is not None else None
        if self._log is not None:
            self._log.close()
            self._log = None
        return status

    def kill(self) -> None:
        """Crash the server: SIGKILL its process group, with no chance to clean up."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        self.stop()

    def restart(self) -> Self:
        """Stop and start again on the same MEMFOLD_HOME and, when it is still free, the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- inspection ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: what `Letta(base_url=...)` takes."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far, over all its starts."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _failure(self, what: str, lines: int = 60) -> str:
        tail = "\n".join(self.output().splitlines()[-lines:])
        return f"{what}; last lines of {self.log_path}:\n{tail}"
