"""What the sandbox says it does (`describe`), how it picks a mode, the warm pool, and cleanup."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfold.tools.sandbox import ToolSandbox
from memfold.tools.sandbox import isolation as isolation_module
from memfold.tools.sandbox.isolation import MODES, SandboxUsers, detect, reachable
from memfold.tools.sandbox.process import WorkerProcess
from tests.tools.sandbox.conftest import SandboxFactory, is_root, tool

VAR_TMP = "/var/tmp" if Path("/var/tmp").is_dir() else None
"""Outside /tmp (private under bwrap) and outside pytest's 0700 temporary root."""
WHERE = "import os\ndef f() -> str:\n    return os.getcwd()\n"


def test_describe_says_what_is_active(make_sandbox: SandboxFactory, mode: str) -> None:
    info = make_sandbox(mode).describe()
    assert info["isolation"] == mode and info["usable"] and info["problem"] is None
    assert info["limits"] == {
        "cpu_seconds": 10,
        "memory_mb": 256,
        "max_processes": 16,
        "max_file_mb": 8,
        "wall_seconds": 2.0,
    }
    if mode == "none":
        assert info["namespaces"] == [] and info["network"].startswith("NOT isolated")
    else:
        assert "pid" in info["namespaces"] and info["network"].startswith("none")
    if is_root():
        assert info["user"].startswith("a uid of its own") or "nobody" in info["user"]
        assert not info["data_dir"].startswith("READABLE")


def test_auto_takes_the_strongest_mode_that_works() -> None:
    available = [m for m in MODES if detect(m).problem is None]
    assert detect("auto").mode == available[0]


def test_a_requested_mode_that_is_missing_makes_tools_fail_clearly(
    monkeypatch: pytest.MonkeyPatch, make_sandbox: SandboxFactory
) -> None:
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, **kw: None if name == "bwrap" else which(name, **kw))
    missing = isolation_module._detect("bwrap", None)
    assert missing.problem is not None and "`bwrap` is not installed" in missing.problem
    sandbox = make_sandbox("none")
    sandbox.isolation = missing
    result = asyncio.run(sandbox.run(tool(WHERE), {}, env={}, agent_id=None))
    assert not result.ok and "the tool sandbox is not usable" in result.content


def test_reachable_follows_the_permission_bits(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    base = Path(tempfile.mkdtemp(prefix="memfold-reach-", dir=VAR_TMP))
    try:
        open_dir = base / "open" / "inner"
        open_dir.mkdir(parents=True)
        base.chmod(0o755)
        (base / "open").chmod(0o755)
        stranger = SandboxUsers.BASE + 12345
        assert reachable(open_dir, stranger)
        (base / "open").chmod(0o700)
        assert not reachable(open_dir, stranger)
        assert reachable(open_dir, None)  # the server's own user
        assert not reachable(base / "missing", None)
    finally:
        shutil.rmtree(base)


async def test_calls_use_warm_workers_and_leave_nothing_behind(
    make_sandbox: SandboxFactory, mode: str
) -> None:
    sandbox = make_sandbox(mode, sandbox_pool_size=2)
    assert sandbox.pool.wait_ready(2, timeout=30)
    warm = list(sandbox.pool._idle)
    seen: list[WorkerProcess] = list(warm)
    result = await sandbox.run(tool(WHERE), {}, env={}, agent_id=None)
    assert result.content in {str(w.directory / "work") for w in warm}

    # More calls at once than warm workers: the rest start cold; one leaves a daemon behind.
    daemon = (
        "import os, time\n"
        "def f() -> str:\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(300)\n"
        "        os._exit(0)\n"
        "    return os.getcwd()\n"
    )
    results = await asyncio.gather(*(sandbox.run(tool(daemon), {}, env={}, agent_id=None) for _ in range(4)))
    assert all(r.ok for r in results) and len({r.content for r in results}) == 4
    seen += list(sandbox.pool._idle)
    sandbox.close()

    deadline = time.monotonic() + 10
    for worker in seen:
        assert worker.popen.poll() is not None or worker.wait(max(0.0, deadline - time.monotonic()))
        assert not worker.directory.exists()
    for directory in (Path(r.content).parent for r in results):
        assert not directory.exists()
    users = sandbox.isolation.users
    if users is not None and not users.shared:
        assert _live_processes_of(users) == [], "sandbox processes outlived the sandbox"


def _live_processes_of(users: SandboxUsers, wait: float = 5.0) -> list[int]:
    """Pids (not zombies) whose uid is one of the sandbox's, after letting namespaces wind down."""
    ids = {str(uid) for uid in range(users.first, users.first + users.SLICE)}
    deadline = time.monotonic() + wait
    while True:
        live = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            uid = (fields.get("Uid", "").split() or [""])[0]
            if uid in ids and not fields.get("State", "").strip().startswith("Z"):
                live.append(int(entry.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


async def test_closing_stops_a_running_call(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox("auto", sandbox_timeout_seconds=60)
    sleeper = tool("import time\ndef f():\n    time.sleep(60)\n")
    running = asyncio.create_task(sandbox.run(sleeper, {}, env={}, agent_id=None))
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await sandbox.aclose()
    result = await asyncio.wait_for(running, timeout=10)
    assert not result.ok and time.monotonic() - started < 10
    later = await sandbox.run(tool(WHERE), {}, env={}, agent_id=None)
    assert not later.ok and "shut down" in later.content


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A data directory every user could walk into (as `/var/lib/memfold` often is)."""
    base = Path(tempfile.mkdtemp(prefix="memfold-home-", dir=VAR_TMP))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir(mode=0o755)
    (home / "secret.txt").write_text("the server's secret")
    (home / "secret.txt").chmod(0o644)
    yield home
    shutil.rmtree(base)


async def test_a_data_directory_open_to_all_is_still_closed_to_tools(open_home: Path, mode: str) -> None:
    if not is_root() and mode != "bwrap":
        pytest.skip("not root and no bwrap: nothing can keep the server's own user out of its data directory")
    from memfold.config import Settings

    sandbox = ToolSandbox(Settings(home=open_home, sandbox_isolation=mode, sandbox_pool_size=0))
    try:
        source = (
            "import os\n"
            "def f(home: str) -> str:\n"
            "    try:\n"
            "        return repr(os.listdir(home))\n"
            "    except OSError as e:\n"
            "        return type(e).__name__\n"
        )
        result = await sandbox.run(tool(source), {"home": str(open_home)}, env={}, agent_id=None)
        assert "secret" not in result.content
        assert result.content in ("[]", "PermissionError", "FileNotFoundError"), result.content
        if mode == "bwrap":
            assert sandbox.describe()["data_dir"] == "hidden (empty tmpfs over it)"
        else:
            mode_bits = (await asyncio.to_thread(open_home.stat)).st_mode & 0o777
            assert mode_bits == 0o700  # made 0700 when the sandbox started
    finally:
        sandbox.close()
