"""MCP tool calls: a session kept per server against a session opened per call.

The server is the test suite's own (tests/tools/mcp_server_fixture.py, the `mcp` SDK's
MCPServer in Python), over stdio (a child process) and streamable HTTP (127.0.0.1). Each call
is `add(a, b)` through `McpClients.call_tool` from another event loop, as the agent loop makes
it: the time includes the hand-over to the MCP loop's thread.

    python -m bench.mcp_sessions [--calls 200] [--per-call-calls 15]

Kept: `MEMFOLD_MCP_IDLE_TIMEOUT` > 0 (the default), the first call connects and later calls
reuse the session. Per call: `MEMFOLD_MCP_IDLE_TIMEOUT=0`, every call connects, calls and
closes (a stdio server's process starts and stops each time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import save_result
from bench.step_overhead import machine_info
from memfold.config import Settings
from memfold.store.mcp_servers import McpServerRecord
from memfold.tools.mcp import McpClients
from tests.tools.mcp_server_fixture import FIXTURE, HttpFixture


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def _timed_calls(clients: McpClients, server: McpServerRecord, count: int) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        result = await clients.call_tool(server, "add", {"a": i, "b": 1})
        times.append(time.perf_counter() - started)
        if result.text != str(i + 1):
            raise RuntimeError(f"unexpected result {result.text!r}")
    return times


async def _measure(home: Path, server: McpServerRecord, calls: int, per_call_calls: int) -> dict[str, Any]:
    kept = McpClients(Settings(home=home, mcp_idle_timeout=300))
    try:
        started = time.perf_counter()
        await kept.call_tool(server, "add", {"a": 0, "b": 0})
        first = time.perf_counter() - started
        reused = await _timed_calls(kept, server, calls)
    finally:
        await kept.aclose()
    per_call = McpClients(Settings(home=home, mcp_idle_timeout=0))
    try:
        fresh = await _timed_calls(per_call, server, per_call_calls)
    finally:
        await per_call.aclose()
    return {
        "first_call_ms": round(first * 1000, 2),
        "kept_session": _ms(reused),
        "session_per_call": _ms(fresh),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp_sessions", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls on a kept session")
    parser.add_argument("--per-call-calls", type=int, default=15, help="calls that each open a session")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        stdio = McpServerRecord(
            id="mcp_server-bench-stdio",
            organization_id="bench",
            server_name="bench-stdio",
            server_type="stdio",
            command=sys.executable,
            args=[str(FIXTURE)],
        )
        results = {"stdio": asyncio.run(_measure(home, stdio, args.calls, args.per_call_calls))}
        with HttpFixture(home / "http.log") as fixture:
            http = McpServerRecord(
                id="mcp_server-bench-http",
                organization_id="bench",
                server_name="bench-http",
                server_type="streamable_http",
                server_url=fixture.url,
            )
            results["streamable_http"] = asyncio.run(_measure(home, http, args.calls, args.per_call_calls))

    print(f"{'transport':<16} {'first call':>11} {'kept p50':>9} {'kept p95':>9} {'per-call p50':>13}")
    for transport, r in results.items():
        print(
            f"{transport:<16} {r['first_call_ms']:>9.1f}ms {r['kept_session']['p50_ms']:>7.2f}ms "
            f"{r['kept_session']['p95_ms']:>7.2f}ms {r['session_per_call']['p50_ms']:>11.1f}ms"
        )
    save_result("mcp_sessions", {"machine": machine_info(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
