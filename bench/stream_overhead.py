"""What token streaming costs per step, with the LLM's time taken out.

The model is the scripted test double with zero latency; its streamed answer comes in the pieces of
`STREAM_PIECES` (1-9 characters, about 4 on average: roughly one piece per token). One turn is one step:
user message -> LLM -> `send_message` (a `thinking` of ~190 characters and a message of ~620) -> persisted.
Three ways, each through `AgentLoop.send` with the turn's events rendered as Server-Sent Events by
`server.streaming.sse` (what the server sends, JSON encoding included), drained concurrently:

- **no stream**: `AgentLoop.send()` alone, the plain route's path (no events, no rendering);
- **messages**: a `TurnStream` without deltas (`/messages/stream` as before token streaming);
- **tokens**: `stream_tokens`: `complete_streaming`, `StepDeltas` and the delta chunks.

A fresh agent takes over every `--turns-per-agent` turns, as in `bench/step_overhead.py`.

    python -m bench.stream_overhead [--turns 300] [--warmup 30] [--turns-per-agent 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._report import report
from bench.step_overhead import BackgroundLoad, agent_request, expect, machine_info
from memfold.agent import lifecycle
from memfold.agent.loop import AgentLoop
from memfold.agent.stream import TurnStream
from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, stream_pieces, tool_call_response
from memfold.schemas.messages import ApprovalCreate, LettaRequest, MessageCreate
from memfold.server.app import open_database
from memfold.server.streaming import sse
from memfold.store.orgs import DEFAULT_ORG_ID

THINKING = (
    "The user tells me about their weekend plans. Nothing to store in core memory this time; I should "
    "answer warmly, mention the hiking trip, and ask one follow-up question."
)
MESSAGE = (
    "That sounds like a wonderful weekend! A hike along the ridge in early autumn is hard to beat: the air "
    "is cool, the light is soft, and the trails are quieter than in summer. Do take layers, since the wind "
    "up there can turn cold quickly once the sun drops, and a thermos of something warm never hurts. If "
    "you're planning to start early, the first hour after sunrise is often the best for seeing wildlife. "
    "I'd love to hear how it goes - which trail are you thinking of taking, and are you going with friends "
    "or on your own this time? Let me know if you'd like a packing checklist."
)
WAYS = ("no stream", "messages", "tokens")


def answer(_: ModelRequest) -> ModelResponse:
    return tool_call_response("send_message", thinking=THINKING, message=MESSAGE)


@dataclass
class Measurement:
    way: str
    turns: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    chunks_per_turn: float
    deltas_per_turn: int

    @classmethod
    def of(cls, way: str, durations: list[float], chunks: int, deltas: int) -> Measurement:
        cuts = statistics.quantiles(durations, n=100, method="inclusive")
        return cls(
            way=way,
            turns=len(durations),
            p50_ms=cuts[49] * 1000,
            p95_ms=cuts[94] * 1000,
            mean_ms=statistics.fmean(durations) * 1000,
            chunks_per_turn=chunks / len(durations),
            deltas_per_turn=deltas,
        )


async def measure(
    way: str, home: Path, *, turns: int, warmup: int, turns_per_agent: int
) -> tuple[list[float], int]:
    model = ScriptedModel(answer, name="stream-bench", estimate_usage=False)
    settings = Settings(home=home, default_model=str(model.handle))
    registry = ModelRegistry(environ={}, settings=settings)
    registry.register_model(model)
    db = open_database(settings)
    loop = AgentLoop(db, registry, settings)
    inputs: list[MessageCreate | ApprovalCreate] = [MessageCreate(role="user", content="hi")]
    body = LettaRequest(input="hi", stream_tokens=way == "tokens")
    durations: list[float] = []
    chunks = 0
    agent_id = ""
    for index in range(warmup + turns):
        if index % turns_per_agent == 0:
            with db.write() as conn:
                request = agent_request(str(model.handle), index // turns_per_agent, 1000)
                agent_id = lifecycle.create_agent(conn, DEFAULT_ORG_ID, request, settings, None)
        started = time.perf_counter()
        if way == "no stream":
            result = await loop.send(DEFAULT_ORG_ID, agent_id, inputs)
            sent = 0
        else:
            stream = TurnStream(deltas=way == "tokens")
            result, sent = await asyncio.gather(
                loop.send(DEFAULT_ORG_ID, agent_id, inputs, stream=stream), drain(stream, body)
            )
        elapsed = time.perf_counter() - started
        model.requests.clear()
        expect(result.stop_reason == "end_turn", f"stop reason {result.stop_reason}")
        if index >= warmup:
            durations.append(elapsed)
            chunks += sent
    db.dispose()
    return durations, chunks


async def drain(stream: TurnStream, body: LettaRequest) -> int:
    """Read the turn as the server sends it; returns the number of data chunks (pieces and messages)."""
    count = 0
    async for event in sse(stream, body, ping_every=30.0):
        count += event.startswith("data: {")
    return count


async def run(*, turns: int, warmup: int, turns_per_agent: int) -> tuple[list[Measurement], dict[str, Any]]:
    arguments = answer(ModelRequest(messages=[])).tool_calls[0].arguments
    deltas = 1 + len(stream_pieces(arguments))  # the call opens, then its arguments in pieces
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as tmp:
        for way in WAYS:
            durations, chunks = await measure(
                way,
                Path(tmp) / way.replace(" ", "-"),
                turns=turns,
                warmup=warmup,
                turns_per_agent=turns_per_agent,
            )
            results.append(Measurement.of(way, durations, chunks, deltas if way == "tokens" else 0))
        machine = machine_info()
    return results, machine


def markdown_table(results: list[Measurement]) -> str:
    """One row per way; the last column is the cost of each model piece over the same stream without
    pieces (`messages`)."""
    streamed = next(r for r in results if r.way == "messages")
    rows = [
        "| way | turns | p50 ms | p95 ms | mean ms | chunks sent / turn | model pieces / turn | per piece |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        per_piece = (
            f"{(r.p50_ms - streamed.p50_ms) / r.deltas_per_turn * 1000:.0f} us" if r.deltas_per_turn else ""
        )
        rows.append(
            f"| {r.way} | {r.turns} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.mean_ms:.2f} "
            f"| {r.chunks_per_turn:.0f} | {r.deltas_per_turn} | {per_piece} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_overhead", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--turns", type=int, default=300, help="timed turns per way (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed turns first (default 30)")
    parser.add_argument(
        "--turns-per-agent", type=int, default=50, help="turns before a fresh agent (default 50)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    if args.turns < 100:
        parser.error("--turns must be at least 100 for a meaningful p95")

    started = time.perf_counter()
    load = BackgroundLoad()
    results, machine = asyncio.run(
        run(turns=args.turns, warmup=args.warmup, turns_per_agent=args.turns_per_agent)
    )
    elapsed = time.perf_counter() - started
    machine["background_cpu_percent"] = load.percent()
    now = datetime.now(UTC)
    command = (
        f"python -m bench.stream_overhead --turns {args.turns} --warmup {args.warmup} "
        f"--turns-per-agent {args.turns_per_agent}"
    )
    report(
        "stream_overhead",
        "Token streaming overhead",
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
