"""`McpClients` against the test suite's own MCP server (tests/tools/mcp_server_fixture.py), over
stdio and streamable HTTP and SSE: sessions kept and replaced, timeouts, dead servers, shutdown."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memfold.config import Settings
from memfold.store.mcp_servers import McpServerRecord
from memfold.tools.mcp import McpClients, McpServerError
from tests.tools.mcp_server_fixture import FIXTURE, TOOL_NAMES, HttpFixture, free_port

pytestmark = pytest.mark.timeout(90)


def stdio_server(*args: str, env: dict[str, str] | None = None, name: str = "fixture") -> McpServerRecord:
    return McpServerRecord(
        id=f"mcp_server-{name}",
        organization_id="org-test",
        server_name=name,
        server_type="stdio",
        command=sys.executable,
        args=[str(FIXTURE), *args],
        env=env or {},
    )


def http_server(url: str, kind: str = "streamable_http", **values: Any) -> McpServerRecord:
    return McpServerRecord(
        id="mcp_server-http",
        organization_id="org-test",
        server_name="http-fixture",
        server_type=kind,
        server_url=url,
        **values,
    )


def make_clients(tmp_path: Path, **settings: Any) -> McpClients:
    return McpClients(Settings(home=tmp_path / "home", **settings))


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[McpClients]:
    pool = make_clients(tmp_path, mcp_call_timeout=20, mcp_connect_timeout=30)
    yield pool
    pool.close()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def eventually(check: Callable[[], bool], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def pid_of(clients: McpClients, server: McpServerRecord) -> int:
    result = await clients.call_tool(server, "pid", {})
    assert result.ok, result.text
    return int(result.text)


async def test_stdio_lists_and_calls_tools(clients: McpClients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMFOLD_TEST_SECRET", "do-not-leak")
    server = stdio_server(env={"GREETING": "hello from env"})

    tools = {tool.name: tool for tool in await clients.list_tools(server)}
    assert sorted(tools) == TOOL_NAMES
    assert tools["add"].description == "Add two integers."
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"

    added = await clients.call_tool(server, "add", {"a": 2, "b": 40})
    assert (added.ok, added.text) == (True, "42")
    echoed = await clients.call_tool(server, "echo", {"text": "ünïcode ✓"})
    assert (echoed.ok, echoed.text) == (True, "ünïcode ✓")

    # The server gets its own `env`, and none of memfold's environment.
    assert (await clients.call_tool(server, "env_value", {"name": "GREETING"})).text == "hello from env"
    assert (await clients.call_tool(server, "env_value", {"name": "MEMFOLD_TEST_SECRET"})).text == "<unset>"

    failed = await clients.call_tool(server, "fail", {"reason": "on purpose"})
    assert not failed.ok
    assert failed.text == "Error executing tool fail: fixture failure: on purpose"
    bad = await clients.call_tool(server, "add", {"a": "two"})
    assert not bad.ok and "a" in bad.text


async def test_one_session_per_server_is_reused_and_replaced_when_settings_change(
    clients: McpClients,
) -> None:
    server = stdio_server()
    first = await pid_of(clients, server)
    assert await pid_of(clients, server) == first  # the same process answers again

    changed = stdio_server(env={"SOMETHING": "new"})  # same id, new settings: a new session
    second = await pid_of(clients, changed)
    assert second != first
    await clients.forget(server.id)
    third = await pid_of(clients, changed)
    assert third not in (first, second)


async def test_idle_timeout_zero_opens_a_session_per_request(tmp_path: Path) -> None:
    pool = make_clients(tmp_path, mcp_idle_timeout=0)
    try:
        server = stdio_server()
        first = await pid_of(pool, server)
        second = await pid_of(pool, server)
        assert first != second
    finally:
        pool.close()


async def test_a_server_that_dies_mid_call_is_an_error_and_the_next_call_restarts_it(
    clients: McpClients,
) -> None:
    server = stdio_server()
    before = await pid_of(clients, server)
    with pytest.raises(McpServerError, match="closed the connection during the call of tool 'crash'"):
        await clients.call_tool(server, "crash", {})
    after = await pid_of(clients, server)
    assert after != before
    assert not process_alive(before)


async def test_a_slow_call_times_out_and_the_session_stays_usable(tmp_path: Path) -> None:
    pool = make_clients(tmp_path, mcp_call_timeout=1)
    try:
        server = stdio_server()
        before = await pid_of(pool, server)
        with pytest.raises(McpServerError, match="did not answer the call of tool 'sleep' within 1 s"):
            await pool.call_tool(server, "sleep", {"seconds": 30})
        assert (await pool.call_tool(server, "add", {"a": 1, "b": 1})).text == "2"
        assert await pid_of(pool, server) == before
    finally:
        pool.close()


async def test_a_command_that_does_not_exist_is_a_clear_error(clients: McpClients) -> None:
    server = McpServerRecord(
        id="mcp_server-missing",
        organization_id="org-test",
        server_name="missing",
        server_type="stdio",
        command="/nonexistent/mcp-server-binary",
    )
    with pytest.raises(McpServerError, match="could not connect to MCP server 'missing'") as caught:
        await clients.list_tools(server)
    assert "/nonexistent/mcp-server-binary" in caught.value.message


async def test_a_server_that_never_answers_the_handshake_times_out_and_is_stopped(tmp_path: Path) -> None:
    pool = make_clients(tmp_path, mcp_connect_timeout=1)
    pid_file = tmp_path / "silent.pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    try:
        silent = McpServerRecord(
            id="mcp_server-silent",
            organization_id="org-test",
            server_name="silent",
            server_type="stdio",
            command=sys.executable,
            args=["-c", script],
        )
        with pytest.raises(McpServerError, match="did not finish connecting within 1 s"):
            await pool.list_tools(silent)
        pid = int(pid_file.read_text())
        assert await eventually(lambda: not process_alive(pid)), "the silent server was left running"
    finally:
        pool.close()


async def test_close_stops_stdio_servers(tmp_path: Path) -> None:
    pool = make_clients(tmp_path)
    pid = await pid_of(pool, stdio_server())
    assert process_alive(pid)
    await pool.aclose()
    assert not process_alive(pid)
    with pytest.raises(McpServerError, match="shut down"):
        await pool.list_tools(stdio_server())


async def test_the_blocking_api_works_from_a_worker_thread(clients: McpClients) -> None:
    result = await asyncio.to_thread(clients.call_tool_blocking, stdio_server(), "add", {"a": 5, "b": 6})
    assert result.text == "11"


# --- HTTP ----------------------------------------------------------------------------------------


async def test_streamable_http_with_auth_token_and_custom_headers(
    clients: McpClients, tmp_path: Path
) -> None:
    with HttpFixture(tmp_path / "http.log", token="s3cret") as fixture:
        server = http_server(fixture.url, auth_token="s3cret", custom_headers={"X-Trace": "1"})
        assert sorted(tool.name for tool in await clients.list_tools(server)) == TOOL_NAMES
        assert (await clients.call_tool(server, "add", {"a": 20, "b": 22})).text == "42"

        wrong = http_server(fixture.url, auth_header="Authorization", auth_token="Bearer wrong")
        with pytest.raises(McpServerError, match="401") as caught:
            await clients.list_tools(wrong)
        assert "wrong" not in caught.value.message and "s3cret" not in caught.value.message


async def test_sse_transport(clients: McpClients, tmp_path: Path) -> None:
    with HttpFixture(tmp_path / "sse.log", transport="sse") as fixture:
        server = http_server(fixture.url, kind="sse")
        assert "echo" in {tool.name for tool in await clients.list_tools(server)}
        assert (await clients.call_tool(server, "echo", {"text": "over sse"})).text == "over sse"
        await clients.forget(server.id)  # closes the session before the server goes


async def test_an_http_server_that_is_down_is_a_clear_error(clients: McpClients) -> None:
    server = http_server(f"http://127.0.0.1:{free_port()}/mcp?api_key=hidden")
    with pytest.raises(McpServerError, match="connection failed") as caught:
        await clients.call_tool(server, "add", {"a": 1, "b": 2})
    assert "hidden" not in caught.value.message


async def test_an_http_server_that_restarted_is_reconnected_for_listing(
    clients: McpClients, tmp_path: Path
) -> None:
    fixture = HttpFixture(tmp_path / "restart.log").start()
    try:
        server = http_server(fixture.url)
        first = await pid_of(clients, server)
        fixture.stop()
        fixture.start()
        # The old session is gone with the old process; a listing (safe to repeat) reconnects.
        assert sorted(tool.name for tool in await clients.list_tools(server)) == TOOL_NAMES
        assert await pid_of(clients, server) != first
    finally:
        fixture.stop()
