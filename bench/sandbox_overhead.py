"""Per-call overhead of the tool sandbox, for a trivial tool, cold and warm, in each isolation mode.

The tool returns the sum of two integers, so everything measured is the sandbox's own cost:
`ToolSandbox.run()` end to end as the executor awaits it (request built, worker taken or started,
JSON in, the call, JSON and captured output back, the call's directory cleaned up afterwards in the
background). Three ways:

- **cold**: `sandbox_pool_size=0`, every call starts its process (isolation wrapper + interpreter);
- **warm**: a pool of 2, and the benchmark waits for the pool to be full again before each call,
  so every call gets a worker that is already running (the cost a lightly loaded server sees);
- **back-to-back**: a pool of 2 and no waiting: calls as fast as they complete, so some get a warm
  worker and some wait for one (the throughput one agent calling a tool in a loop sees).

    .venv/bin/python -m bench.sandbox_overhead --calls 200 --cold-calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._report import report
from bench.step_overhead import BackgroundLoad, machine_info
from memfold.config import Settings
from memfold.schemas.tools import Tool
from memfold.tools.sandbox import ToolSandbox
from memfold.tools.sandbox.isolation import MODES, detect

TRIVIAL = Tool(id="tool-bench", name="add", source_code="def add(a: int, b: int) -> int:\n    return a + b\n")


@dataclass
class Measurement:
    isolation: str
    way: str
    calls: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    worker_p50_ms: float
    """Median time from the request reaching the process to its answer and output being read."""
    calls_per_s: float


def measure(
    isolation: str, way: str, durations: list[float], worker: list[float], wall: float
) -> Measurement:
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return Measurement(
        isolation=isolation,
        way=way,
        calls=len(durations),
        p50_ms=cuts[49] * 1000,
        p95_ms=cuts[94] * 1000,
        mean_ms=statistics.fmean(durations) * 1000,
        worker_p50_ms=statistics.median(worker) * 1000,
        calls_per_s=len(durations) / wall,
    )


async def timed_calls(
    sandbox: ToolSandbox, calls: int, *, wait_for_pool: bool
) -> tuple[list[float], list[float], float]:
    durations: list[float] = []
    worker: list[float] = []
    started = time.perf_counter()
    for index in range(calls):
        if wait_for_pool:
            await asyncio.to_thread(sandbox.pool.wait_ready, sandbox.pool.size, 30)
        begin = time.perf_counter()
        result = await sandbox.run(TRIVIAL, {"a": index, "b": 1}, env={"K": "v"}, agent_id="agent-bench")
        durations.append(time.perf_counter() - begin)
        worker.append(result.seconds)
        if not result.ok or result.content != str(index + 1):
            raise SystemExit(f"unexpected result: {result}")
    return durations, worker, time.perf_counter() - started


async def run_mode(mode: str, home: Path, calls: int, cold_calls: int, warmup: int) -> list[Measurement]:
    results = []
    ways = (("cold", 0, cold_calls, False), ("warm", 2, calls, True), ("back-to-back", 2, calls, False))
    for way, pool, count, wait in ways:
        sandbox = ToolSandbox(Settings(home=home, sandbox_isolation=mode, sandbox_pool_size=pool))
        try:
            await timed_calls(sandbox, warmup, wait_for_pool=wait)
            durations, worker, wall = await timed_calls(sandbox, count, wait_for_pool=wait)
        finally:
            await sandbox.aclose()
        results.append(measure(mode, way, durations, worker, wall))
    return results


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def markdown_table(results: list[Measurement]) -> str:
    rows = [
        "| isolation | way | calls | p50 ms | p95 ms | mean ms | in worker p50 ms | calls/s |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        rows.append(
            f"| {r.isolation} | {r.way} | {r.calls} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.mean_ms:.1f} "
            f"| {r.worker_p50_ms:.1f} | {r.calls_per_s:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sandbox_overhead", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--calls", type=int, default=200, help="timed warm and back-to-back calls (default 200)"
    )
    parser.add_argument("--cold-calls", type=int, default=100, help="timed cold calls (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument("--modes", nargs="*", default=list(MODES), help="isolation modes (default: all)")
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    if min(args.calls, args.cold_calls) < 20:
        parser.error("--calls and --cold-calls must be at least 20 for a meaningful p95")

    started = time.perf_counter()
    load = BackgroundLoad()
    children = _children_cpu()
    results: list[Measurement] = []
    described: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as directory:
        home = Path(directory) / "home"
        home.mkdir()
        for mode in args.modes:
            isolation = detect(mode)
            if isolation.problem:
                print(f"- {mode}: skipped ({isolation.problem})")
                continue
            described[mode] = {"python": isolation.python, "version": isolation.python_version}
            results += asyncio.run(run_mode(mode, home, args.calls, args.cold_calls, args.warmup))
    elapsed = time.perf_counter() - started
    machine = machine_info()
    # BackgroundLoad counts the benchmark's own (reaped) workers as "other processes": take them out.
    background = load.percent()
    if background is not None:
        workers = (_children_cpu() - children) / (elapsed * (os.cpu_count() or 1)) * 100
        background = round(max(0.0, background - workers), 1)
    machine["background_cpu_percent"] = background
    machine["sandbox"] = described
    now = datetime.now(UTC)
    command = "python -m bench.sandbox_overhead " + " ".join(
        [f"--calls {args.calls}", f"--cold-calls {args.cold_calls}", f"--warmup {args.warmup}"]
    )

    report(
        "sandbox_overhead",
        "Sandbox overhead",
        table=markdown_table(results),
        machine=machine,
        command=command,
        settings=vars(args),
        elapsed=elapsed,
        results=[asdict(r) for r in results],
        now=now,
        save=not args.no_save,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
