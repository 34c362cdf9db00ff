"""Hostile tools, through the executor, in every isolation mode this machine has: they never see the
server's environment or data directory, and the limits stop them without hurting the machine."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from memfold.config import Settings
from memfold.llm.base import ToolCall
from memfold.memory.core import CoreMemory
from memfold.tools.builtin import ToolContext
from memfold.tools.executor import ToolResult, execute
from memfold.tools.runtime import ToolRuntime
from tests.tools.sandbox.conftest import SMALL_LIMITS, is_root, tool


@pytest.fixture
async def runtime(home: Path, mode: str) -> AsyncIterator[ToolRuntime]:
    runtime = ToolRuntime(Settings(home=home, sandbox_isolation=mode, **SMALL_LIMITS))
    yield runtime
    await runtime.close()


async def run(
    runtime: ToolRuntime, source: str, env: dict[str, str] | None = None, **arguments: Any
) -> ToolResult:
    custom = tool(source)
    ctx = ToolContext(agent_id="agent-hostile", memory=CoreMemory([]), env=env or {}, runtime=runtime)
    call = ToolCall(id="call-1", name=custom.name, arguments=json.dumps(arguments))
    return await execute(call, {custom.name: custom}, ctx)


async def test_server_secrets_are_not_in_the_environment_but_agent_variables_are(
    runtime: ToolRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFOLD_TEST_SECRET", "server-only-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-key")
    source = "import os, json\ndef f() -> str:\n    return json.dumps(dict(os.environ))\n"
    result = await run(runtime, source, env={"WEATHER_API_KEY": "agent-key"})
    assert result.ok, result.content
    seen = json.loads(result.content)
    assert seen["WEATHER_API_KEY"] == "agent-key"
    assert "MEMFOLD_TEST_SECRET" not in seen and "OPENAI_API_KEY" not in seen
    assert "server-only-secret" not in result.content and "sk-server-key" not in result.content
    assert set(seen) <= {"PATH", "HOME", "TMPDIR", "LANG", "WEATHER_API_KEY", "LC_CTYPE", "PWD"}


async def test_the_server_process_environment_cannot_be_read_through_proc(
    runtime: ToolRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_root() and runtime.sandbox.isolation.mode == "none":
        pytest.skip("not root and no pid namespace: the server's /proc entries belong to the tool's user")
    monkeypatch.setenv("MEMFOLD_TEST_SECRET", "server-only-secret")
    source = (
        "def f(pid: int) -> str:\n"
        "    try:\n"
        "        return open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace')\n"
        "    except OSError as e:\n"
        "        return f'refused: {type(e).__name__}'\n"
    )
    result = await run(runtime, source, pid=os.getpid())
    assert result.ok, result.content
    assert result.content.startswith("refused:")


async def test_the_data_directory_can_be_neither_read_nor_written(runtime: ToolRuntime, home: Path) -> None:
    if runtime.sandbox.describe()["data_dir"].startswith("READABLE"):
        pytest.skip("no isolation of the data directory here: " + runtime.sandbox.describe()["data_dir"])
    source = (
        "import os\n"
        "def f(home: str) -> str:\n"
        "    found = []\n"
        "    for attempt in (lambda: os.listdir(home), lambda: open(home + '/secret.txt').read(),\n"
        "                    lambda: open(home + '/planted.txt', 'w').write('x')):\n"
        "        try:\n"
        "            found.append(repr(attempt()))\n"
        "        except OSError as e:\n"
        "            found.append(type(e).__name__)\n"
        "    return ','.join(found)\n"
    )
    result = await run(runtime, source, home=str(home))
    assert result.ok, result.content
    assert "secret" not in result.content
    assert all(part.endswith("Error") for part in result.content.split(",")), result.content
    assert not (home / "planted.txt").exists()
    assert (home / "secret.txt").read_text() == "the server's secret"


async def test_an_infinite_loop_is_killed_at_the_time_limit(runtime: ToolRuntime) -> None:
    result = await run(runtime, "def f():\n    while True:\n        pass\n")
    assert not result.ok
    assert "did not finish within 2 seconds" in result.content
    after = await run(runtime, "def f() -> str:\n    return 'still here'\n")
    assert after.ok and after.content == "still here"


async def test_a_memory_hog_is_stopped_by_the_memory_limit(runtime: ToolRuntime) -> None:
    hog = "def f():\n    chunks = []\n    while True:\n        chunks.append(bytearray(16 * 1024 * 1024))\n"
    result = await run(runtime, hog)
    assert not result.ok
    assert "MemoryError" in result.content or "memory limit" in result.content


async def test_a_fork_bomb_is_bounded_by_the_process_limit(runtime: ToolRuntime) -> None:
    if not is_root() and runtime.sandbox.isolation.mode == "none":
        pytest.skip("not root, no namespaces: the process limit would count all the server user's processes")
    counted = (
        "import os, time\n"
        "def f() -> str:\n"
        "    children = 0\n"
        "    while True:\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(30)\n"
        "                os._exit(0)\n"
        "        except OSError as e:\n"
        "            return f'{children} {e.errno}'\n"
        "        children += 1\n"
    )
    result = await run(runtime, counted)
    assert result.ok, result.content
    children, errno = result.content.split()
    assert int(children) < SMALL_LIMITS["sandbox_max_processes"]
    assert int(errno) == 11  # EAGAIN: RLIMIT_NPROC
    bomb = "import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"  # noqa: E501
    result = await run(runtime, bomb)
    assert not result.ok and "did not finish" in result.content


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


CONNECT = (
    "import socket\n"
    "def f(port: int) -> str:\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
    "        return 'connected'\n"
    "    except OSError as e:\n"
    "        return f'refused: {e}'\n"
)


async def test_no_network_where_network_isolation_is_active(runtime: ToolRuntime, listener: int) -> None:
    if not runtime.sandbox.isolation.network_isolatable:
        pytest.skip("mode 'none' has no network namespace: network isolation is unavailable")
    result = await run(runtime, CONNECT, port=listener)
    assert result.ok, result.content
    assert result.content.startswith("refused:")


async def test_network_is_there_when_allowed(home: Path, listener: int, mode: str) -> None:
    runtime = ToolRuntime(Settings(home=home, sandbox_isolation=mode, sandbox_allow_network=True))
    try:
        result = await run(runtime, CONNECT, port=listener)  # no network namespace: loopback is the host's
        assert result.content == "connected"
        assert runtime.sandbox.describe()["network"].startswith("allowed")
    finally:
        await runtime.close()
