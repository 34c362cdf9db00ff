"""One sandboxed child process, from spawn to cleanup.

`WorkerProcess.spawn` prepares a call directory (mode 0711, in the system's temp directory, never in the
data directory) holding `work/` (the child's cwd and HOME, owned by its user) and two files the
server opened for it, its stdout and stderr, handed over as file descriptors (as is the write end of
the result pipe) so the child needs no path to them. The child starts at once and waits for its
request on stdin; `run` writes the request, reads the one-line answer from the pipe (up to the
wall-time limit, then kills the process group) and the two files; `dispose` kills what is left,
reaps it and deletes the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfold.tools.sandbox.isolation import SAFE_PATH, Isolation, SandboxUsers

WORKER_SOURCE = (Path(__file__).with_name("worker.py")).read_text()
_source_fd: int | None = None
_source_lock = threading.Lock()
MAX_CAPTURE = 64 * 1024
"""Bytes of a tool's stdout (and of its stderr) kept; the rest is dropped with a note."""
MAX_RESULT = 8 * 1024 * 1024
OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def kill_user_processes(uid: int, passes: int = 5) -> int:
    """SIGKILL every process whose real uid is `uid` (the worker's own), found in /proc; repeated while a
    pass finds some (a fork bomb forks between passes). Each process is held by a pidfd while its uid is
    checked, so a recycled pid is never hit. Returns how many were signalled."""
    killed = 0
    for _ in range(passes):
        found = 0
        entries: list[str] = []
        with contextlib.suppress(OSError):
            entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
        for name in entries:
            try:
                pidfd = os.pidfd_open(int(name))
            except OSError:
                continue
            try:
                with open(f"/proc/{name}/status", "rb") as status:
                    uids = next((line for line in status if line.startswith(b"Uid:")), b"")
                if uids.split()[1:2] == [str(uid).encode()]:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    found += 1
            except (OSError, IndexError):
                pass
            finally:
                os.close(pidfd)
        killed += found
        if not found:
            break
    return killed


def worker_command(python: str, flags: list[str], config: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The interpreter command running worker.py, and the descriptors it needs. The source is read from
    a sealed memfd (so `ps` shows a short command line); without memfd it goes on the command line."""
    global _source_fd
    with _source_lock:
        if _source_fd is None and hasattr(os, "memfd_create"):
            with contextlib.suppress(OSError):
                fd = os.memfd_create("memfold-sandbox-worker", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
                os.write(fd, WORKER_SOURCE.encode())
                seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
                _source_fd = fd
    if _source_fd is None:
        return [python, *flags, "-c", WORKER_SOURCE, json.dumps(config)], []
    boot = f"import os;exec(compile(os.pread({_source_fd},1<<20,0),'memfold-sandbox-worker','exec'))"
    config = {**config, "source_fd": _source_fd}
    return [python, *flags, "-c", boot, json.dumps(config)], [_source_fd]


class SpawnError(Exception):
    """The child could not be started (the message says why)."""


@dataclass
class Outcome:
    """What one child did: its answer (None if it wrote none), captured output and how it ended."""

    answer: dict[str, Any] | None
    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    seconds: float


class WorkerProcess:
    def __init__(
        self,
        isolation: Isolation,
        popen: subprocess.Popen[bytes],
        directory: Path,
        fds: dict[str, int],
        uid: int | None,
    ) -> None:
        self.isolation = isolation
        self.popen = popen
        self.directory = directory
        self.fds = fds
        self.uid = uid
        self.spawned_at = time.monotonic()

    @classmethod
    def spawn(
        cls,
        isolation: Isolation,
        config: dict[str, Any],
        *,
        network: bool,
        hide: list[Path],
        site: Path | None = None,
        env: dict[str, str] | None = None,
        signal_ready: bool = False,
    ) -> WorkerProcess:
        """Start a child running worker.py with `config` (see its docstring); `site` is a package
        directory to add to its path (handed over as a descriptor: the data directory stays closed).
        With `signal_ready`, the child says when it waits for its request (see `wait_started`)."""
        if isolation.python is None:
            raise SpawnError(isolation.problem or "no Python interpreter for the sandbox")
        uid = isolation.users.acquire() if isolation.users else None
        directory = Path(tempfile.mkdtemp(prefix="memfold-sandbox-"))
        fds: dict[str, int] = {}
        try:
            directory.chmod(0o711)
            work = directory / "work"
            work.mkdir(mode=0o700)
            if uid is not None:
                os.chown(work, uid, uid)
            for name in ("stdout", "stderr"):
                fds[name] = os.open(directory / name, OPEN_FLAGS, 0o600)
            fds["result"], fds["result_end"] = os.pipe2(os.O_CLOEXEC)
            config = {**config, "result_fd": fds["result_end"]}
            passed = [fds["result_end"]]
            if signal_ready:
                fds["ready"], ready_end = os.pipe2(os.O_CLOEXEC)
                fds["ready_end"] = config["ready_fd"] = ready_end
                passed.append(ready_end)
            flags = ["-I"]
            if site is not None:
                fds["site"] = os.open(site, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                config["site"] = f"/proc/self/fd/{fds['site']}/site-packages"
                passed.append(fds["site"])
            if config.get("pip_path"):
                # Handed over as a descriptor too: the server's own packages may sit under /tmp, which
                # bwrap replaces with an empty tmpfs.
                fds["pip"] = os.open(config["pip_path"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                config["pip_path"] = f"/proc/self/fd/{fds['pip']}"
                passed.append(fds["pip"])
            if site is not None or config.get("mode") == "pip":
                flags.append("-S")  # only the package directory, not the interpreter's site-packages
            inner, source_fds = worker_command(isolation.python, flags, config)
            environment = {"PATH": SAFE_PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
            popen = subprocess.Popen(
                isolation.command(work, inner, network=network, hide=hide),
                stdin=subprocess.PIPE,
                stdout=fds["stdout"],
                stderr=fds["stderr"],
                pass_fds=[*passed, *source_fds],
                cwd=work,
                env={**environment, **(env or {})},
                start_new_session=True,
                **SandboxUsers.popen_args(uid),
            )
        except BaseException as e:
            for fd in fds.values():
                os.close(fd)
            shutil.rmtree(directory, ignore_errors=True)
            if uid is not None and isolation.users is not None:
                isolation.users.release(uid)
            if isinstance(e, OSError | subprocess.SubprocessError):
                raise SpawnError(f"could not start the sandbox worker: {e}") from e
            raise
        for name in ("site", "ready_end", "result_end"):  # the child's now
            if name in fds:
                os.close(fds.pop(name))
        return cls(isolation, popen, directory, fds, uid)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def run(self, request: dict[str, Any], timeout: float) -> Outcome:
        """Send the request and wait for the child to finish, at most `timeout` seconds from now."""
        started = time.monotonic()
        stdin = self.popen.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):  # a dead child: the outcome says why
            stdin.write(json.dumps(request).encode())
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.close()
        answer, timed_out = self._collect(started + timeout)
        if timed_out:
            self.kill()
        if answer is None:  # it died, or was killed: wait for it, so its exit status can say why
            self.popen.wait()
        return Outcome(
            answer=answer,
            stdout=self._read("stdout"),
            stderr=self._read("stderr"),
            returncode=self.popen.returncode,
            timed_out=timed_out,
            seconds=time.monotonic() - started,
        )

    def _collect(self, deadline: float) -> tuple[dict[str, Any] | None, bool]:
        """Read the answer from the result pipe until it is complete (one line), the child exits or
        the deadline passes. Returns (answer or None, timed out). The child's exit is not awaited once
        its answer is in: its teardown (and bwrap's) happens off the caller's path, in `dispose`."""
        result = self.fds["result"]
        os.set_blocking(result, False)
        received = bytearray()
        pidfd = _pidfd(self.popen.pid)
        poller = select.poll()
        poller.register(result, select.POLLIN | select.POLLHUP)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, True
                events = dict(poller.poll((left if pidfd is not None else min(left, 0.05)) * 1000))
                if result in events:
                    eof = _drain(result, received)
                    if eof or received.endswith(b"\n") or len(received) > MAX_RESULT:
                        return _parse_answer(bytes(received)), False
                exited = pidfd in events if pidfd is not None else self.popen.poll() is not None
                if exited:  # gone: whatever is in the pipe is all there is
                    _drain(result, received)
                    return _parse_answer(bytes(received)), False
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def wait_started(self, timeout: float) -> bool:
        """Block until the child (spawned with `signal_ready`) waits for its request; False if it died
        or took longer than `timeout`."""
        ready = self.fds.get("ready")
        if ready is None:
            return self.alive
        poller = select.poll()
        poller.register(ready, select.POLLIN | select.POLLHUP)
        if not poller.poll(timeout * 1000):
            return False
        try:
            return os.read(ready, 1) == b"1"
        except OSError:
            return False

    def wait(self, timeout: float) -> bool:
        """Wait for the child to exit by itself (no request); False at the timeout."""
        return self._wait(timeout)

    def _wait(self, timeout: float) -> bool:
        """Wait for the child to exit: True if it did within `timeout`, woken exactly by a pidfd."""
        if timeout <= 0:
            return self.popen.poll() is not None
        try:
            pidfd = os.pidfd_open(self.popen.pid)
        except (OSError, AttributeError):
            try:
                self.popen.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(timeout * 1000)) or self.popen.poll() is not None
        finally:
            os.close(pidfd)

    def kill(self) -> None:
        """Kill the child's process group (bwrap and unshare take their namespaces down with them);
        without namespaces, also every process of the child's private uid, in case one left the group."""
        if self.popen.returncode is None:  # not reaped yet, so its pid cannot name another group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        users = self.isolation.users
        if self.isolation.mode == "none" and self.uid is not None and users is not None and not users.shared:
            kill_user_processes(self.uid)

    def dispose(self, grace: float = 0.0) -> None:
        """Kill whatever is left, then delete the call directory. Safe to call twice. With `grace`,
        first give a child that has answered that long to exit by itself (so bwrap winds its
        namespace down and reaps its own helpers, rather than leaving them to init)."""
        if grace > 0 and self.popen.returncode is None:
            self._wait(grace)
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = {}
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.uid is not None and self.isolation.users is not None:
            self.isolation.users.release(self.uid)
            self.uid = None

    def stderr_tail(self, chars: int = 600) -> str:
        return self._read("stderr").strip()[-chars:] if "stderr" in self.fds else ""

    def _read(self, name: str) -> str:
        fd = self.fds[name]
        size = os.fstat(fd).st_size
        data = os.pread(fd, MAX_CAPTURE, 0)
        text = data.decode("utf-8", "replace")
        if size > MAX_CAPTURE:
            text += f"\n[... {size - MAX_CAPTURE} more bytes not kept]"
        return text


def _drain(fd: int, into: bytearray) -> bool:
    """Read what a non-blocking pipe holds; True at end of file."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            return True
        into += chunk


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # an old kernel: poll the child instead
        return None


def _parse_answer(data: bytes) -> dict[str, Any] | None:
    if not data.endswith(b"\n"):
        return None
    try:
        answer = json.loads(data)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
