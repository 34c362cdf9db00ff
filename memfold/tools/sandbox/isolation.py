"""Which Linux isolation the sandbox can use here, and the command line that applies it.

Three modes, strongest first (`MEMFOLD_SANDBOX_ISOLATION=auto` takes the first that works):

- `bwrap` (bubblewrap): new user, pid, ipc, uts and (unless allowed) network namespaces; the whole
  filesystem read-only; private tmpfs on /tmp and over the data directory; a fresh /proc and /dev;
  the worker dies with its parent.
- `unshare` (util-linux): new user, mount (for a private /proc), pid, ipc, uts and (unless allowed)
  network namespaces; the filesystem as it is.
- `none`: a plain child process.

In every mode the worker gets its own session (so a timeout kills the whole process group), resource
limits, an environment built from scratch, and - when the server runs as root - a user id of its own
that owns nothing (see `SandboxUsers`), so a 0700 data directory is unreadable and a fork bomb only
counts against itself. Detection runs each candidate once as that user and is cached per process.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger("memfold.sandbox")

Mode = Literal["bwrap", "unshare", "none"]
MODES: tuple[Mode, ...] = ("bwrap", "unshare", "none")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PROBE_TIMEOUT = 15.0
NOBODY = 65534


class SandboxUsers:
    """User ids for workers when the server runs as root: each live worker gets one nobody else has.

    The ids come from a slice of a high range chosen by the process id (so two servers on one machine
    rarely share one); an id is not handed out again while a worker holding it lives. Where such ids
    cannot be used (a user namespace that maps only a few ids), every worker is `nobody` (`shared`)."""

    BASE = 1_900_000_000
    SLICE = 1_000

    def __init__(self, *, shared: bool = False) -> None:
        self.shared = shared
        self._first = self.BASE + (os.getpid() % 1000) * self.SLICE
        self._next = 0
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    @property
    def first(self) -> int:
        return NOBODY if self.shared else self._first

    def acquire(self) -> int:
        if self.shared:
            return NOBODY
        with self._lock:
            for _ in range(self.SLICE):
                uid = self._first + self._next
                self._next = (self._next + 1) % self.SLICE
                if uid not in self._busy:
                    self._busy.add(uid)
                    return uid
        raise RuntimeError(f"all {self.SLICE} sandbox user ids are in use")

    def release(self, uid: int) -> None:
        with self._lock:
            self._busy.discard(uid)

    @staticmethod
    def popen_args(uid: int | None) -> dict[str, Any]:
        if uid is None:
            return {}
        return {"user": uid, "group": uid, "extra_groups": []}


def reachable(path: Path, uid: int | None) -> bool:
    """Whether a process of `uid` (in group `uid`, no other groups) can walk down to `path`."""
    if uid is None or uid == 0:
        return path.exists()
    current = Path(path.anchor)
    for part in (*path.parts[1:], None):
        try:
            st = current.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == uid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        if part is None:
            return True
        current = current / part
    return True


@dataclass
class Isolation:
    """The mode in use and how to wrap a command in it."""

    mode: Mode
    requested: str
    users: SandboxUsers | None
    python: str | None = None
    python_version: str = ""
    flags: tuple[str, ...] = ()
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def network_isolatable(self) -> bool:
        return self.mode != "none"

    def command(
        self, work: Path, inner: Sequence[str], *, network: bool, hide: Sequence[Path] = ()
    ) -> list[str]:
        """`inner` wrapped in this mode; `work` is the writable working directory, `hide` paths that
        must look empty (bwrap; elsewhere they must be unreachable for the worker's user)."""
        if self.mode == "bwrap":
            return [*self._bwrap(work, network, hide), "--", *inner]
        if self.mode == "unshare":
            net = [] if network else ["--net"]
            return ["unshare", "--user", *self.flags, "--mount", "--mount-proc", "--pid", "--fork",
                    "--kill-child", "--ipc", "--uts", *net, "--", *inner]  # fmt: skip
        return list(inner)

    def _bwrap(self, work: Path, network: bool, hide: Sequence[Path]) -> list[str]:
        uid = self.users.first if self.users else None
        args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-user", "--unshare-pid",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", *self.flags]  # fmt: skip
        if not network:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for path in hide:
            # A path the worker's user cannot reach stays unreachable; bwrap could not mount over it either.
            if reachable(path, uid):
                args += ["--tmpfs", str(path)]
        return [*args, "--bind", str(work), str(work), "--chdir", str(work)]

    def describe(self) -> dict[str, Any]:
        """What is active, for the startup log and the API."""
        users = self.users
        if users is None:
            user = "the server's own user (not root: no other user to switch to)"
        elif users.shared:
            user = f"uid {NOBODY} (nobody) for every worker"
        else:
            user = f"a uid of its own per worker ({users.first}-{users.first + users.SLICE - 1}), no groups"
        return {
            "isolation": self.mode,
            "requested": self.requested,
            "usable": self.problem is None,
            "problem": self.problem,
            "namespaces": {
                "bwrap": ["user", "pid", "ipc", "uts", "mount", "cgroup", "net unless allowed"],
                "unshare": ["user", "mount (private /proc)", "pid", "ipc", "uts", "net unless allowed"],
                "none": [],
            }[self.mode],
            "user": user,
            "python": f"{self.python} ({self.python_version})" if self.python else None,
            "notes": list(self.notes),
        }


_cache: dict[tuple[str, str | None], Isolation] = {}
_cache_lock = threading.Lock()


def detect(requested: str, python: str | None = None) -> Isolation:
    """The isolation for `MEMFOLD_SANDBOX_ISOLATION=requested`, probed once per process."""
    key = (requested, python)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _detect(requested, python)
        return _cache[key]


def _detect(requested: str, python: str | None) -> Isolation:
    users = _probe_users() if os.geteuid() == 0 else None
    uid = users.first if users else None
    notes: list[str] = []
    interpreter, version, why = _find_python(python, uid, notes)
    candidates: tuple[Mode, ...] = MODES if requested == "auto" else (requested,)  # type: ignore[assignment]
    for mode in candidates:
        flags, reason = _probe_mode(mode, users)
        if reason is None:
            isolation = Isolation(mode, requested, users, interpreter, version, flags, notes=notes)
            break
        notes.append(f"{mode} unavailable: {reason}")
    else:
        isolation = Isolation("none", requested, users, interpreter, version, notes=notes)
        isolation.problem = f"MEMFOLD_SANDBOX_ISOLATION={requested} was requested but {notes[-1]}"
    if interpreter is None:
        isolation.problem = "; ".join(filter(None, [isolation.problem, why]))
    if users is None and isolation.mode != "bwrap":
        notes.append("tools can read the data directory: memfold is not root and has no mount namespace")
    return isolation


def _run_as(argv: list[str], uid: int | None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        env={"PATH": SAFE_PATH, "LANG": "C.UTF-8"},
        cwd=cwd or "/",
        start_new_session=True,
        **SandboxUsers.popen_args(uid),
    )


def _probe_users() -> SandboxUsers:
    users = SandboxUsers()
    try:
        if _run_as(["true"], users.first).returncode == 0:
            return users
    except (OSError, subprocess.SubprocessError):
        pass
    log.warning("sandbox: cannot switch to uid %d; every worker runs as nobody", users.first)
    return SandboxUsers(shared=True)


def _find_python(configured: str | None, uid: int | None, notes: list[str]) -> tuple[str | None, str, str]:
    """An interpreter (3.10+) the worker's user can run: the configured one, the server's, or a system one."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    names = [configured] if configured else []
    if not configured:
        base = getattr(sys, "_base_executable", sys.executable)
        names += [sys.executable, os.path.realpath(sys.executable), base, os.path.realpath(base)]
        names += [shutil.which(n, path=SAFE_PATH) for n in (version, "python3")]  # type: ignore[misc]
    tried = []
    check = "import sys; assert sys.version_info >= (3, 10); print('%d.%d.%d' % sys.version_info[:3])"
    for name in dict.fromkeys(n for n in names if n):
        try:
            done = _run_as([name, "-I", "-S", "-c", check], uid)
        except (OSError, subprocess.SubprocessError) as e:
            tried.append(f"{name} ({type(e).__name__})")
            continue
        if done.returncode == 0:
            if tried:
                notes.append(f"python: the sandbox user cannot run {', '.join(tried)}; using {name}")
            return name, done.stdout.strip(), ""
        tried.append(f"{name} (exit {done.returncode})")
    return (
        None,
        "",
        (
            "no Python 3.10+ interpreter the sandbox user can run (tried " + ", ".join(tried) + "); "
            "set MEMFOLD_SANDBOX_PYTHON to one"
        ),
    )


def _probe_mode(mode: Mode, users: SandboxUsers | None) -> tuple[tuple[str, ...], str | None]:
    """The extra flags that make `mode` work here, or the reason it does not."""
    if mode == "none":
        return (), None
    if shutil.which(mode, path=SAFE_PATH) is None:
        return (), f"`{mode}` is not installed"
    variants: list[tuple[str, ...]] = (
        [("--disable-userns",), ()] if mode == "bwrap" else [("--map-current-user",), ("--map-root-user",)]
    )
    uid = users.first if users else None
    reason = ""
    for flags in variants:
        probe = Isolation(mode, mode, users, flags=flags)
        with tempfile.TemporaryDirectory(prefix="memfold-probe-") as work:
            if uid is not None:
                os.chown(work, uid, uid)
            try:
                done = _run_as(probe.command(Path(work), ["true"], network=False), uid, cwd=work)
            except (OSError, subprocess.SubprocessError) as e:
                return (), f"{type(e).__name__}: {e}"
        if done.returncode == 0:
            return flags, None
        reason = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()[-1]
    return (), reason


def protect_data_dir(home: Path, isolation: Isolation) -> None:
    """Without bwrap's tmpfs, the data directory is kept from tools by its mode: make it 0700 if the
    workers' user could otherwise walk into it."""
    users = isolation.users
    if users is None or isolation.mode == "bwrap" or not home.is_dir():
        return
    if reachable(home, users.first) and home.stat().st_uid == os.geteuid():
        home.chmod(0o700)
        log.info("sandbox: made the data directory %s 0700 so tools cannot read it", home)
