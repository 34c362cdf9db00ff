"""Server overhead per agent step, with the LLM's time taken out.

The model is memfold's scripted test double with zero latency, so what is timed is
everything memfold does around one LLM call: load the agent, compile the context, run the
tool, and commit the step to SQLite (in a temporary directory). Each turn is one user
message; two turn shapes are measured:

- 1 step:  user message -> LLM -> send_message -> persisted;
- 2 steps: user message -> LLM -> core_memory_append (heartbeat) -> persisted
           -> LLM -> send_message -> persisted.

Each shape runs two ways, to separate the HTTP stack from the step itself:

- `AgentLoop`: `AgentLoop.send()` called directly;
- `HTTP`: `POST /v1/agents/{id}/messages` through the real FastAPI app in-process
  (`httpx.AsyncClient` + `ASGITransport`; no socket, no uvicorn).

A fresh agent takes over every `--turns-per-agent` turns, so the in-context history stays
the size of a real conversation's window (memfold does not evict yet: on one agent
forever the history would grow without bound and with it the cost of a step).

    python -m bench.step_overhead [--turns 500] [--warmup 50] [--turns-per-agent 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._report import ROOT, report
from memfold import __version__
from memfold.agent import lifecycle
from memfold.agent.loop import AgentLoop
from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.schemas.agents import CreateAgent
from memfold.schemas.messages import MessageCreate
from memfold.server.app import create_app, open_database
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID

Turn = Callable[[], Awaitable[None]]
"""Runs one turn of the current agent and checks it ended as expected."""


# -- the model: zero latency, timed so its share can be shown -------------------------------


class TimedScriptedModel(ScriptedModel):
    """A scripted model that also adds up the time spent inside `complete()`."""

    def __init__(self, name: str, *, two_steps: bool) -> None:
        super().__init__(self._answer, name=name, estimate_usage=False)
        self.two_steps = two_steps
        self.seconds = 0.0

    def _answer(self, request: ModelRequest) -> ModelResponse:
        if self.two_steps and request.messages[-1].role == "user":
            return tool_call_response(
                "core_memory_append",
                thinking="Noting it.",
                label="scratch",
                content=".",
                request_heartbeat=True,
            )
        return tool_call_response("send_message", thinking="Replying.", message="ok")

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        try:
            return await super().complete(request)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests.clear()  # keep memory flat over thousands of calls


# -- results ---------------------------------------------------------------------------------


@dataclass
class Measurement:
    path: str
    shape: str
    llm_calls_per_turn: int
    turns: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    turns_per_s: float
    steps_per_s: float
    model_ms_per_turn: float
    """Mean time inside the scripted model per turn: the part that is not server overhead."""

    @classmethod
    def of(
        cls, path: str, shape: str, calls: int, durations: list[float], model_seconds: float
    ) -> Measurement:
        cuts = statistics.quantiles(durations, n=100, method="inclusive")
        mean = statistics.fmean(durations)
        return cls(
            path=path,
            shape=shape,
            llm_calls_per_turn=calls,
            turns=len(durations),
            p50_ms=cuts[49] * 1000,
            p95_ms=cuts[94] * 1000,
            p99_ms=cuts[98] * 1000,
            mean_ms=mean * 1000,
            turns_per_s=1 / mean,
            steps_per_s=calls / mean,
            model_ms_per_turn=model_seconds / len(durations) * 1000,
        )


def markdown_table(results: list[Measurement]) -> str:
    rows = [
        "| path | turn | LLM calls | turns | p50 ms | p95 ms | p99 ms | mean ms | turns/s | steps/s "
        "| model ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        rows.append(
            f"| {r.path} | {r.shape} | {r.llm_calls_per_turn} | {r.turns} | {r.p50_ms:.2f} | {r.p95_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.mean_ms:.2f} | {r.turns_per_s:.0f} | {r.steps_per_s:.0f} "
            f"| {r.model_ms_per_turn:.3f} |"
        )
    return "\n".join(rows)


def machine_info(db: Database | None = None) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "memfold": __version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }
    if db is not None:
        with db.read() as conn:
            info["sqlite_journal_mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            info["sqlite_synchronous"] = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    return info


class BackgroundLoad:
    """How busy the machine was with *other* processes while the benchmark ran, in percent of all
    cores: the total CPU time used (from /proc/stat) less this process's own. On a shared machine
    a high value means the numbers are pessimistic."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        ticks = os.sysconf("SC_CLK_TCK")
        own = os.times()
        return busy / ticks, own.user + own.system, time.monotonic()

    def percent(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        busy, own, wall = (b - a for a, b in zip(self._start, end, strict=True))
        capacity = wall * (os.cpu_count() or 1)
        return round(max(0.0, busy - own) / capacity * 100, 1) if capacity > 0 else None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# -- the two paths ---------------------------------------------------------------------------


def agent_request(handle: str, index: int, scratch_limit: int) -> CreateAgent:
    return CreateAgent(
        name=f"bench-{index}",
        model=handle,
        memory_blocks=[
            {"label": "human", "value": "Name: Ada. Likes tea."},
            {"label": "persona", "value": "I am a concise assistant."},
            {"label": "scratch", "value": "", "limit": scratch_limit},
        ],
        tools=["send_message", "core_memory_append"],
        include_base_tools=False,
    )


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"benchmark turn went wrong: {what}")


async def measure(
    new_agent: Callable[[int], Awaitable[Turn]],
    model: TimedScriptedModel,
    *,
    turns: int,
    warmup: int,
    turns_per_agent: int,
) -> tuple[list[float], float]:
    """Run `warmup` then `turns` timed turns, a new agent every `turns_per_agent` turns.
    Returns the turn durations (seconds) and the model's total time over the timed turns."""
    durations: list[float] = []
    turn: Turn | None = None
    for index in range(warmup + turns):
        if index % turns_per_agent == 0:
            turn = await new_agent(index // turns_per_agent)
        assert turn is not None
        if index == warmup:
            model.seconds = 0.0
        started = time.perf_counter()
        await turn()
        if index >= warmup:
            durations.append(time.perf_counter() - started)
    return durations, model.seconds


async def run_loop_path(
    home: Path, model: TimedScriptedModel, calls: int, *, turns: int, warmup: int, turns_per_agent: int
) -> tuple[list[float], float, Database]:
    settings = Settings(home=home, default_model=str(model.handle))
    registry = ModelRegistry(environ={}, settings=settings)
    registry.register_model(model)
    db = open_database(settings)
    loop = AgentLoop(db, registry, settings)
    inputs = [MessageCreate(role="user", content="hi")]
    limit = 4 * (turns + warmup) + 1000

    async def new_agent(index: int) -> Turn:
        with db.write() as conn:
            agent_id = lifecycle.create_agent(
                conn, DEFAULT_ORG_ID, agent_request(str(model.handle), index, limit), settings, None
            )

        async def turn() -> None:
            result = await loop.send(DEFAULT_ORG_ID, agent_id, inputs)
            expect(result.stop_reason == "end_turn", f"stop reason {result.stop_reason}")
            expect(result.steps == calls, f"{result.steps} steps, expected {calls}")

        return turn

    durations, model_seconds = await measure(
        new_agent, model, turns=turns, warmup=warmup, turns_per_agent=turns_per_agent
    )
    return durations, model_seconds, db


async def run_http_path(
    home: Path, model: TimedScriptedModel, calls: int, *, turns: int, warmup: int, turns_per_agent: int
) -> tuple[list[float], float, Database]:
    settings = Settings(home=home, default_model=str(model.handle))
    registry = ModelRegistry(environ={}, settings=settings)
    registry.register_model(model)
    app = create_app(settings, registry)
    db: Database = app.state.memfold.db
    body = {"messages": [{"role": "user", "content": "hi"}]}
    limit = 4 * (turns + warmup) + 1000
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def new_agent(index: int) -> Turn:
            request = agent_request(str(model.handle), index, limit)
            created = await http.post("/v1/agents/", json=request.model_dump(mode="json", exclude_unset=True))
            expect(created.status_code == 200, created.text)
            path = f"/v1/agents/{created.json()['id']}/messages"

            async def turn() -> None:
                response = await http.post(path, json=body)
                expect(response.status_code == 200, response.text)
                expect(response.json()["stop_reason"]["stop_reason"] == "end_turn", response.text)

            return turn

        durations, model_seconds = await measure(
            new_agent, model, turns=turns, warmup=warmup, turns_per_agent=turns_per_agent
        )
    return durations, model_seconds, db


PATHS = {"AgentLoop": run_loop_path, "HTTP (ASGI)": run_http_path}
SHAPES = {"1 step (send_message)": 1, "2 steps (core_memory_append + heartbeat, send_message)": 2}


async def run(*, turns: int, warmup: int, turns_per_agent: int) -> tuple[list[Measurement], dict[str, Any]]:
    results: list[Measurement] = []
    machine: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as tmp:
        for shape, calls in SHAPES.items():
            for path, runner in PATHS.items():
                model = TimedScriptedModel(f"bench-{calls}", two_steps=calls == 2)
                home = Path(tmp) / f"{path.split()[0].lower()}-{calls}"
                durations, model_seconds, db = await runner(
                    home, model, calls, turns=turns, warmup=warmup, turns_per_agent=turns_per_agent
                )
                results.append(Measurement.of(path, shape, calls, durations, model_seconds))
                machine = machine or machine_info(db)
                db.dispose()
    return results, machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step_overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=500, help="timed turns per configuration (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed turns first (default 50)")
    parser.add_argument(
        "--turns-per-agent", type=int, default=50, help="turns before a fresh agent takes over (default 50)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    if args.turns < 100:
        parser.error("--turns must be at least 100 for a meaningful p99")

    started = time.perf_counter()
    load = BackgroundLoad()
    results, machine = asyncio.run(
        run(turns=args.turns, warmup=args.warmup, turns_per_agent=args.turns_per_agent)
    )
    elapsed = time.perf_counter() - started
    machine["background_cpu_percent"] = load.percent()
    now = datetime.now(UTC)
    command = "python -m bench.step_overhead " + " ".join(
        [f"--turns {args.turns}", f"--warmup {args.warmup}", f"--turns-per-agent {args.turns_per_agent}"]
    )

    report(
        "step_overhead",
        "Step overhead",
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
