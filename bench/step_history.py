"""Step overhead against the length of an agent's history: 10 messages vs 100,000.

Two agents take turns: one with 10 stored messages, one with 100,000 (seeded with bulk
inserts) of which only a window is in context -- the running summary and the same 9 recent
messages the short agent has. The model is the scripted test double with zero latency, so
what is timed is memfold's own work around one LLM call (`AgentLoop.send()` in process:
load the agent, fit and compile the context, run `send_message`, commit to SQLite).

Every `--reset-every` turns both agents' windows are put back to where they started (not
timed), so their contexts stay the same size and only the stored history differs. The
window (32,000 tokens) is large enough that no compaction happens while timing. Turns
alternate between the agents, so drift in the machine affects both alike.

    python -m bench.step_history [--history 100000] [--turns 400] [--warmup 40]

Target: p50 at 100,000 messages within 1.2x of p50 at 10.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench._report import save_result
from bench.step_overhead import machine_info
from memfold.agent import lifecycle
from memfold.agent.loop import AgentLoop
from memfold.agent.session import load_session
from memfold.config import Settings
from memfold.ids import new_id
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, text_response, tool_call_response
from memfold.schemas.agents import CreateAgent
from memfold.schemas.messages import MessageCreate
from memfold.server.app import open_database
from memfold.store import agents as agent_rows
from memfold.store import tables as t
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID

WINDOW = 32_000
IN_CONTEXT = 9
"""Recent messages in both agents' windows at the start (the long one also has a summary)."""
BATCH = 5_000
INPUTS = [MessageCreate(role="user", content="hi, how are you today?")]
_COLUMNS = [c.name for c in t.messages.c if c.name != "seq"]


def answer(request: ModelRequest) -> ModelResponse:
    if not request.tools:
        return text_response("The user and the agent exchanged greetings.")
    return tool_call_response("send_message", thinking="Replying.", message="ok")


def seed_rows(agent_id: str, count: int, start: datetime) -> list[dict[str, Any]]:
    """`count` stored messages in the shape a conversation leaves: user, assistant call, tool result."""
    rows: list[dict[str, Any]] = []
    for i in range(count):
        at = start + timedelta(seconds=i)
        row: dict[str, Any] = {column: None for column in _COLUMNS}
        row.update(id=new_id("message"), organization_id=DEFAULT_ORG_ID, agent_id=agent_id, created_at=at)
        kind = i % 3
        if kind == 0:
            row.update(role="user", content=f"message {i}: how was the weekend at the harbour?")
        elif kind == 1:
            call = {"id": f"call_{i}", "name": "send_message", "arguments": json.dumps({"message": "ok"})}
            row.update(role="assistant", tool_calls=[call], reasoning="Replying.")
        else:
            row.update(
                role="tool",
                content="Sent message successfully.",
                tool_call_id=f"call_{i - 1}",
                tool_status="success",
                name="send_message",
            )
        rows.append(row)
    return rows


def create(db: Database, settings: Settings, handle: str, name: str) -> str:
    with db.write() as conn:
        return lifecycle.create_agent(
            conn,
            DEFAULT_ORG_ID,
            CreateAgent(
                name=name,
                model=handle,
                context_window_limit=WINDOW,
                memory_blocks=[
                    {"label": "human", "value": "Name: Ada. Likes tea."},
                    {"label": "persona", "value": "I am a concise assistant."},
                ],
                tools=["send_message"],
                include_base_tools=False,
            ),
            settings,
            None,
        )


def seed(db: Database, agent_id: str, count: int, *, summary: bool) -> tuple[list[str], float]:
    """Store `count` messages (bulk inserts) and put the last `IN_CONTEXT` (behind a summary) in context.
    Returns the window's message ids and the seconds it took."""
    started = time.perf_counter()
    start = datetime.now(UTC) - timedelta(seconds=count + 10)
    rows = seed_rows(agent_id, count, start)
    tail = rows[-IN_CONTEXT:]
    while tail[0]["role"] == "tool":  # never start the window with a result whose call is out
        tail = tail[1:]
    window = [r["id"] for r in tail]
    with db.write() as conn:
        for offset in range(0, len(rows), BATCH):
            conn.execute(insert(t.messages), rows[offset : offset + BATCH])
        if summary:
            summary_id = new_id("message")
            conn.execute(
                insert(t.messages).values(
                    id=summary_id,
                    organization_id=DEFAULT_ORG_ID,
                    agent_id=agent_id,
                    role="summary",
                    content=f"The user and the agent talked {count // 3} times about weekends and harbours.",
                    created_at=datetime.now(UTC),
                )
            )
            window = [summary_id, *window]
        agent_rows.update_agent(conn, agent_id, {"message_ids": window})
    return window, time.perf_counter() - started


@dataclass
class Result:
    history: int
    in_context_at_start: int
    turns: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    compactions: int
    compaction_p50_ms: float
    """A forced compaction (zero-latency summarizer) plus the turn after it."""


def summarize(history: int, window: list[str], durations: list[float], compactions: list[float]) -> Result:
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return Result(
        history=history,
        in_context_at_start=len(window),
        turns=len(durations),
        p50_ms=cuts[49] * 1000,
        p95_ms=cuts[94] * 1000,
        p99_ms=cuts[98] * 1000,
        mean_ms=statistics.fmean(durations) * 1000,
        compactions=len(compactions),
        compaction_p50_ms=statistics.median(compactions) * 1000 if compactions else 0.0,
    )


def reset(db: Database, windows: dict[str, list[str]]) -> None:
    """Put both agents' windows back where they started (not timed)."""
    with db.write() as conn:
        for agent_id, window in windows.items():
            agent_rows.update_agent(conn, agent_id, {"message_ids": window})


async def timed_turn(loop: AgentLoop, agent_id: str) -> float:
    started = time.perf_counter()
    result = await loop.send(DEFAULT_ORG_ID, agent_id, INPUTS)
    elapsed = time.perf_counter() - started
    if result.stop_reason != "end_turn" or result.steps != 1:
        raise RuntimeError(f"benchmark turn went wrong: {result.stop_reason}, {result.steps} steps")
    return elapsed


async def timed_compaction(loop: AgentLoop, db: Database, model: ScriptedModel, agent_id: str) -> float:
    """A forced compaction and the turn after it (which must not count the whole history either)."""
    started = time.perf_counter()
    async with loop.locks(agent_id):
        session = await asyncio.to_thread(load_session, db, DEFAULT_ORG_ID, agent_id, loop.messages)
        done = await loop.window.compact(session, model)
    if done.summary is None:
        raise RuntimeError("the forced compaction evicted nothing")
    await timed_turn(loop, agent_id)
    return time.perf_counter() - started


async def run(
    history: int, turns: int, warmup: int, reset_every: int, compaction_cycles: int
) -> tuple[list[Result], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as tmp:
        settings = Settings(home=Path(tmp))
        model = ScriptedModel(answer, name="history", estimate_usage=False)
        registry = ModelRegistry(environ={}, settings=settings)
        registry.register_model(model)
        db = open_database(settings)
        loop = AgentLoop(db, registry, settings)
        short = create(db, settings, str(model.handle), "short")
        long = create(db, settings, str(model.handle), "long")
        short_window, _ = seed(db, short, 10, summary=False)
        long_window, seeding = seed(db, long, history, summary=True)
        print(f"seeded {history:,} messages in {seeding:.1f} s", flush=True)
        windows = {short: short_window, long: long_window}
        durations: dict[str, list[float]] = {short: [], long: []}
        for index in range(warmup + turns):
            if index % reset_every == 0:
                reset(db, windows)
            for agent_id in (short, long) if index % 2 else (long, short):
                elapsed = await timed_turn(loop, agent_id)
                if index >= warmup:
                    durations[agent_id].append(elapsed)
            if any(not r.tools for r in model.requests):
                raise RuntimeError("a compaction happened while timing: enlarge WINDOW or reset more often")
            model.requests.clear()
        compactions: dict[str, list[float]] = {short: [], long: []}
        for _ in range(compaction_cycles):
            reset(db, windows)
            for agent_id in (short, long):
                for _ in range(6):  # something to evict; the first turn also relearns the counts
                    await timed_turn(loop, agent_id)
                compactions[agent_id].append(await timed_compaction(loop, db, model, agent_id))
            model.requests.clear()
        machine = machine_info(db)
        machine["seed_seconds"] = round(seeding, 2)
        results = [
            summarize(10, short_window, durations[short], compactions[short]),
            summarize(history, long_window, durations[long], compactions[long]),
        ]
        db.dispose()
    return results, machine


def markdown(results: list[Result]) -> str:
    rows = [
        "| stored messages | in context at start | turns | p50 ms | p95 ms | p99 ms | mean ms "
        "| compaction + next turn, p50 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        rows.append(
            f"| {r.history:,} | {r.in_context_at_start} | {r.turns} | {r.p50_ms:.2f} | {r.p95_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.mean_ms:.2f} | {r.compaction_p50_ms:.2f} ({r.compactions}) |"
        )
    short, long = results
    rows.append("")
    rows.append(
        f"Ratio {long.history:,} / 10 messages: p50 {long.p50_ms / short.p50_ms:.2f}x, "
        f"p95 {long.p95_ms / short.p95_ms:.2f}x (target: p50 at most 1.2x)."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step_history", description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=100_000, help="messages of the long agent (100000)")
    parser.add_argument("--turns", type=int, default=400, help="timed turns per agent (default 400)")
    parser.add_argument("--warmup", type=int, default=40, help="untimed turns first (default 40)")
    parser.add_argument("--reset-every", type=int, default=50, help="turns between window resets (50)")
    parser.add_argument("--compactions", type=int, default=20, help="forced compactions per agent (20)")
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    if args.turns < 100:
        parser.error("--turns must be at least 100 for a meaningful p99")

    started = time.perf_counter()
    results, machine = asyncio.run(
        run(args.history, args.turns, args.warmup, args.reset_every, args.compactions)
    )
    elapsed = time.perf_counter() - started
    now = datetime.now(UTC)
    print(f"## Step overhead vs history ({now:%Y-%m-%d %H:%M} UTC, {elapsed:.1f} s)\n")
    print(markdown(results))
    print()
    for key, value in machine.items():
        print(f"- {key}: {value}")
    short, long = results
    if not args.no_save:
        payload = {
            "benchmark": "step_history",
            "date": now.isoformat(timespec="seconds"),
            "command": "python -m bench.step_history " + " ".join(argv or sys.argv[1:]),
            "settings": vars(args),
            "elapsed_s": round(elapsed, 2),
            "machine": machine,
            "results": [asdict(r) for r in results],
            "ratio_p50": round(long.p50_ms / short.p50_ms, 3),
            "ratio_p95": round(long.p95_ms / short.p95_ms, 3),
        }
        save_result("step_history", payload, now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
