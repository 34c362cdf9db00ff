"""What a sleep-time agent costs the main agent's replies: the same turns with and without one.

One agent takes `--turns` one-step turns (`POST /messages`, one after another) from a scripted model
answering after `--latency` seconds, through the real FastAPI app in-process with its lifespan
(run workers on), SQLite in a temporary directory. With sleep-time on, the frequency is 1 (a
sleep-time run is due after every turn, the worst case) and the sleep-time agent's model answers
after `--sleeptime-latency` seconds per step (two steps a run: an edit, then
`memory_finish_edits`), so its runs overlap the main agent's next turns. Reported: the main
agent's reply latency (p50, p90) in both modes, their ratio, and how many sleep-time runs ran; and
once more with sleep-time on but no run ever due (the per-turn bookkeeping alone).

    python -m bench.sleeptime [--turns 40] [--latency 0.05] [--sleeptime-latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.server.app import create_app


class Script:
    def __init__(self, latency: float, sleeptime_latency: float) -> None:
        self.latency = latency
        self.sleeptime_latency = sleeptime_latency
        self.edits = 0

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        if not any(t.name == "memory_finish_edits" for t in request.tools):
            await asyncio.sleep(self.latency)
            return tool_call_response("send_message", message="ok")
        await asyncio.sleep(self.sleeptime_latency)
        if request.messages[-1].role == "user":  # the run's first step: its transcript
            self.edits += 1
            return tool_call_response("memory_insert", label="human", new_str=f"note {self.edits}")
        return tool_call_response("memory_finish_edits")


async def measure(
    turns: int, latency: float, sleeptime_latency: float, *, enabled: bool, frequency: int = 1
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        script = Script(latency, sleeptime_latency)
        registry = ModelRegistry(environ={})
        registry.register_model(ScriptedModel(script, name="bench"))
        settings = Settings(
            home=Path(home), default_model="scripted/bench", sleeptime_agent_frequency=frequency
        )
        app = create_app(settings, registry)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client,
        ):
            body = {"memory_blocks": [{"label": "human", "value": "-", "limit": 100_000}]}
            made = (await client.post("/v1/agents/", json={**body, "enable_sleeptime": enabled})).json()
            replies = []
            for i in range(turns):
                started = time.perf_counter()
                response = await client.post(f"/v1/agents/{made['id']}/messages", json={"input": f"turn {i}"})
                replies.append(time.perf_counter() - started)
                response.raise_for_status()
            await app.state.sleeptime.wait_idle()
            runs = 0
            if enabled:
                sleeper = made["managed_group"]["agent_ids"][0]
                while True:  # let the last sleep-time run finish before the app stops
                    listed = (
                        await client.get("/v1/runs/", params={"agent_id": sleeper, "limit": 1000})
                    ).json()
                    if not any(r["status"] in ("created", "running") for r in listed):
                        break
                    await asyncio.sleep(0.05)
                runs = sum(r["status"] == "completed" for r in listed)
    ordered = sorted(replies)
    return {
        "p50_ms": statistics.median(replies) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
        "sleeptime_runs": runs,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sleeptime", description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sleeptime-latency", type=float, default=0.2)
    args = parser.parse_args(argv)
    off = asyncio.run(measure(args.turns, args.latency, args.sleeptime_latency, enabled=False))
    on = asyncio.run(measure(args.turns, args.latency, args.sleeptime_latency, enabled=True))
    idle = asyncio.run(  # the bookkeeping alone: no run ever due
        measure(args.turns, args.latency, args.sleeptime_latency, enabled=True, frequency=args.turns + 1)
    )
    print(
        f"{args.turns} turns, main LLM latency {args.latency * 1000:.0f} ms, sleep-time LLM latency "
        f"{args.sleeptime_latency * 1000:.0f} ms per step"
    )
    print("| sleep-time | reply p50 | reply p90 | sleep-time runs |")
    print("| --- | --: | --: | --: |")
    print(f"| off | {off['p50_ms']:.1f} ms | {off['p90_ms']:.1f} ms | 0 |")
    print(f"| on, frequency 1 | {on['p50_ms']:.1f} ms | {on['p90_ms']:.1f} ms | {on['sleeptime_runs']} |")
    print(f"| on, no run due | {idle['p50_ms']:.1f} ms | {idle['p90_ms']:.1f} ms | 0 |")
    print(f"\nratio on/off: p50 {on['p50_ms'] / off['p50_ms']:.2f}, p90 {on['p90_ms'] / off['p90_ms']:.2f}")
    print(f"ratio no-run-due/off: p50 {idle['p50_ms'] / off['p50_ms']:.2f}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
