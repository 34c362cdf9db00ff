"""`ToolSandbox`: runs one custom tool call in a fresh child process and answers what the model reads.

Per call: take a warm worker from the pool (or start one; tools with pip requirements always start one
with their package directory), send it the source, the arguments and the agent's tool environment as
JSON, wait at most `sandbox_timeout_seconds`, read its answer and captured output, and delete
everything it had. Every failure - the tool's exception, a limit, the time limit, a failed install,
a broken setup - becomes an error result; nothing raises to the caller.

Blocking work runs in the sandbox's own threads, so slow tools never take the threads the server
uses for database work.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memfold.config import Settings
from memfold.errors import ToolError
from memfold.schemas.tools import Tool
from memfold.tools.sandbox.isolation import Isolation, detect, protect_data_dir, reachable
from memfold.tools.sandbox.pool import WorkerPool
from memfold.tools.sandbox.process import Outcome, SpawnError, WorkerProcess
from memfold.tools.sandbox.venvs import PackageCache, requirement_strings

log = logging.getLogger("memfold.sandbox")

MAX_CONTENT = 100_000
"""Characters of a tool's return value brought back (the agent clips further to the tool's limit)."""
CALL_THREADS = 32
EXIT_GRACE = 2.0
"""Seconds a worker that has answered gets to exit by itself before it is killed."""
PIP_INSTALL = ["install", "--no-input", "--disable-pip-version-check", "--no-cache-dir"]
PIP_INSTALL += ["--no-warn-script-location", "--target", "site-packages"]
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass
class SandboxResult:
    ok: bool
    content: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    seconds: float = 0.0


class ToolSandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.isolation: Isolation = detect(settings.sandbox_isolation, settings.sandbox_python)
        self.network = settings.sandbox_allow_network
        self.limits = {
            "cpu_seconds": settings.sandbox_cpu_seconds,
            "memory_mb": settings.sandbox_memory_mb,
            "max_processes": settings.sandbox_max_processes,
            "max_file_mb": settings.sandbox_max_file_mb,
        }
        protect_data_dir(self.home, self.isolation)
        self.pool = WorkerPool(self._spawn_warm, settings.sandbox_pool_size)
        self.packages = PackageCache(
            self.home / "sandbox" / "venvs",
            self._install,
            key_parts=[self.isolation.python_version, *settings.sandbox_pip_args],
        )
        self._threads = ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="memfold-sandbox")
        self._active: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._log_startup()

    # --- what is active ------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The isolation in force, for logs and the API."""
        isolation = self.isolation
        if self.network:
            network = "allowed (MEMFOLD_SANDBOX_ALLOW_NETWORK)"
        elif isolation.network_isolatable:
            network = "none (empty network namespace)"
        else:
            network = "NOT isolated (no namespaces on this machine)"
        return {
            **isolation.describe(),
            "network": network,
            "data_dir": self._data_dir_protection(),
            "limits": {**self.limits, "wall_seconds": self.settings.sandbox_timeout_seconds},
            "pool_size": self.pool.size,
        }

    def _data_dir_protection(self) -> str:
        users = self.isolation.users
        uid = users.first if users else None
        if self.isolation.mode == "bwrap":
            return "hidden (empty tmpfs over it)" if reachable(self.home, uid) else "unreachable (other user)"
        if users is not None:
            return "unreachable (other user)" if not reachable(self.home, uid) else "READABLE by tools"
        return "READABLE by tools (memfold is not root and has no bwrap)"

    def _log_startup(self) -> None:
        info = self.describe()
        log.info(
            "tool sandbox: isolation=%s network=%s data dir=%s user=%s python=%s",
            info["isolation"],
            info["network"],
            info["data_dir"],
            info["user"],
            info["python"],
        )
        for note in info["notes"]:
            log.info("tool sandbox: %s", note)
        if info["problem"]:
            log.error("tool sandbox: custom tools cannot run: %s", info["problem"])

    # --- running a tool ------------------------------------------------------------------------------

    async def run(
        self, tool: Tool, arguments: dict[str, Any], *, env: dict[str, str], agent_id: str | None
    ) -> SandboxResult:
        """Run `tool` with `arguments` (already parsed JSON) and the agent's tool environment `env`."""
        if self.isolation.problem:
            return SandboxResult(False, f"Error: the tool sandbox is not usable: {self.isolation.problem}")
        if not tool.source_code:
            return SandboxResult(False, f"Error: tool {tool.name!r} has no source code to run")
        request = {
            "source": tool.source_code,
            "name": tool.name,
            "arguments": arguments,
            "env": {str(k): str(v) for k, v in env.items() if v is not None},
            "agent_id": agent_id,
            "max_chars": MAX_CONTENT,
        }
        loop = asyncio.get_running_loop()
        try:
            specs = requirement_strings(tool.pip_requirements)
            site = await loop.run_in_executor(self._threads, self.packages.ensure, specs) if specs else None
            outcome = await loop.run_in_executor(self._threads, self._call, request, site)
        except ToolError as e:
            return SandboxResult(False, f"Error: {e.message}")
        except SpawnError as e:
            return SandboxResult(False, f"Error: {e}")
        except RuntimeError as e:  # the executor is shut down: the server is stopping
            return SandboxResult(False, f"Error: the tool sandbox is shut down ({e})")
        except OSError as e:  # e.g. no space left for a call directory or a package set
            log.exception("sandbox: tool %r failed to run", tool.name)
            return SandboxResult(False, f"Error: the tool sandbox failed: {type(e).__name__}: {e}")
        return self._result(tool.name, outcome)

    def _call(self, request: dict[str, Any], site: Path | None) -> Outcome:
        worker = None if site is not None else self.pool.take()
        if worker is None:
            worker = self._spawn(site)
        with self._lock:
            self._active.add(worker)
        try:
            return worker.run(request, self.settings.sandbox_timeout_seconds)
        finally:
            with self._lock:
                self._active.discard(worker)
            try:  # the answer is in; cleaning up need not delay it
                self._threads.submit(worker.dispose, EXIT_GRACE)
            except RuntimeError:  # shutting down
                worker.dispose()

    def _spawn(self, site: Path | None = None, *, warm: bool = False) -> WorkerProcess:
        config = {"mode": "tool", "limits": self.limits}
        return WorkerProcess.spawn(
            self.isolation, config, network=self.network, hide=[self.home], site=site, signal_ready=warm
        )

    def _spawn_warm(self) -> WorkerProcess:
        return self._spawn(None, warm=True)

    def _result(self, name: str, outcome: Outcome) -> SandboxResult:
        stdout = [outcome.stdout] if outcome.stdout else []
        stderr = [outcome.stderr] if outcome.stderr else []
        answer = outcome.answer
        if outcome.timed_out:
            content = (
                f"Error: tool {name!r} did not finish within {self.settings.sandbox_timeout_seconds:g} "
                "seconds and was stopped"
            )
        elif answer is None:
            content = f"Error: tool {name!r} {self._death(outcome)}"
        elif answer.get("ok"):
            return SandboxResult(True, str(answer.get("content", "")), stdout, stderr, outcome.seconds)
        else:
            content = _error_text(name, answer.get("error") or {})
        return SandboxResult(False, content, stdout, stderr, outcome.seconds)

    def _death(self, outcome: Outcome) -> str:
        """Why a worker ended without an answer, in words the model (and its user) can act on."""
        code = outcome.returncode or 0
        if code < 0 and -code == signal.SIGXCPU:
            return f"used more than {self.limits['cpu_seconds']} seconds of CPU time and was stopped"
        if code < 0 and -code == signal.SIGKILL:
            return (
                "was killed (SIGKILL), most likely for going over its memory limit "
                f"({self.limits['memory_mb']} MB)"
            )
        if code < 0:
            return f"was killed by signal {signal.Signals(-code).name}"
        tail = outcome.stderr.strip()[-600:]
        return f"ended (exit status {code}) without returning a result" + (f": {tail}" if tail else "")

    # --- pip requirements ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _install(self, specs: list[str]) -> Iterator[Path]:
        spec = importlib.util.find_spec("pip")
        if spec is None or spec.origin is None:
            raise ToolError("the tool has pip requirements, but pip is not installed where memfold runs")
        config = {
            "mode": "pip",
            "limits": {
                "cpu_seconds": int(self.settings.sandbox_pip_timeout_seconds),
                "memory_mb": max(2048, self.limits["memory_mb"]),
                "max_processes": max(64, self.limits["max_processes"]),
                "max_file_mb": max(1024, self.limits["max_file_mb"]),
            },
            "pip_path": str(Path(spec.origin).parent.parent),
            "pip_args": [*PIP_INSTALL, *self.settings.sandbox_pip_args, "--", *specs],
        }
        proxies = {k: v for k, v in os.environ.items() if k in PROXY_VARIABLES}
        try:
            worker = WorkerProcess.spawn(self.isolation, config, network=True, hide=[self.home], env=proxies)
        except SpawnError as e:
            raise ToolError(f"installing the tool's requirements failed: {e}") from e
        with self._lock:
            self._active.add(worker)
        try:
            outcome = worker.run({}, self.settings.sandbox_pip_timeout_seconds)
            if outcome.timed_out or outcome.returncode != 0:
                why = "timed out" if outcome.timed_out else f"pip exited with status {outcome.returncode}"
                tail = (outcome.stderr.strip() or outcome.stdout.strip())[-1500:]
                what = ", ".join(specs)
                raise ToolError(f"installing the tool's requirements ({what}) failed: {why}\n{tail}")
            yield worker.directory / "work"
        finally:
            with self._lock:
                self._active.discard(worker)
            worker.dispose()

    # --- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the pool (its idle workers are killed), kill running calls (they end with an error) and
        let the call threads finish their cleanup."""
        self.pool.close()
        with self._lock:
            running = list(self._active)
        for worker in running:
            worker.kill()
        self._threads.shutdown(wait=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def _error_text(name: str, error: dict[str, Any]) -> str:
    kind = str(error.get("type") or "Exception")
    message = str(error.get("message") or "")
    if kind == "BadArguments":
        return f"Error: bad arguments for tool {name!r}: {message}"
    text = f"Error: {kind}: {message}" if message else f"Error: {kind}"
    frames = str(error.get("traceback") or "")
    if frames:
        text += f"\nTraceback (the tool's own frames):\n{frames}"
    return text
