"""What the durable run queue costs: the same turns sent plainly and queued as background runs.

`--agents` agents each take `--turns` one-step turns from a scripted model that answers after
`--latency` seconds, through the real FastAPI app in-process (lifespan on, so the run workers
run). Agents work in parallel, turns of one agent one after another, so the LLM-bound ideal is
`turns x latency`. Measured:

- plain: every agent's turns sent one after another with `POST /messages` (agents concurrently);
- queued: every turn submitted at once with `POST /messages/async`, then waited for; the
  queue serializes each agent's runs itself. Also: how long a run waits before a worker starts it.

    python -m bench.run_queue [--agents 10] [--turns 10] [--latency 0.05]
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
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.server.app import create_app


def answer(_: Any) -> Any:
    return tool_call_response("send_message", message="ok")


async def create_agents(client: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for i in range(count):
        response = await client.post("/v1/agents/", json={"name": f"bench-{i}", "memory_blocks": []})
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


async def plain(client: httpx.AsyncClient, agents: list[str], turns: int) -> float:
    async def one_agent(agent_id: str) -> None:
        for i in range(turns):
            response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": f"turn {i}"})
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(one_agent(a) for a in agents))
    return time.perf_counter() - started


async def queued(client: httpx.AsyncClient, agents: list[str], turns: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    run_ids = []
    for i in range(turns):
        for agent_id in agents:
            response = await client.post(f"/v1/agents/{agent_id}/messages/async", json={"input": f"turn {i}"})
            response.raise_for_status()
            run_ids.append(response.json()["id"])
    waiting = set(run_ids)
    while waiting:
        await asyncio.sleep(0.1)  # (polling competes with the runs for the one event loop)
        runs = (await client.get("/v1/runs/", params={"limit": 1000, "active": True})).json()
        waiting &= {r["id"] for r in runs}
    elapsed = time.perf_counter() - started
    durations = []
    for run_id in run_ids:
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        assert run["status"] == "completed", run
        durations.append(run["total_duration_ns"] / 1e9)
    return elapsed, durations


async def measure(agents: int, turns: int, latency: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        model = ScriptedModel(answer, name="bench", latency=latency)
        registry = ModelRegistry(environ={})
        registry.register_model(model)
        app = create_app(Settings(home=Path(home), default_model="scripted/bench"), registry)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client,
        ):
            plain_agents = await create_agents(client, agents)
            plain_s = await plain(client, plain_agents, turns)
            queued_agents = await create_agents(client, agents)
            queued_s, run_s = await queued(client, queued_agents, turns)
    ideal = turns * latency
    return {
        "ideal_s": ideal,
        "plain_s": plain_s,
        "queued_s": queued_s,
        "plain_share_of_ideal": ideal / plain_s,
        "queued_share_of_ideal": ideal / queued_s,
        "run_p50_ms": statistics.median(run_s) * 1000,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_queue", description=__doc__)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.agents, args.turns, args.latency))
    print(f"{args.agents} agents x {args.turns} turns, scripted LLM latency {args.latency * 1000:.0f} ms")
    print("| mode | wall time | share of LLM-bound ideal |")
    print("| --- | --- | --- |")
    print(f"| ideal | {result['ideal_s']:.2f} s | 100% |")
    print(f"| plain `POST /messages` | {result['plain_s']:.2f} s | {result['plain_share_of_ideal']:.0%} |")
    queued_share = result["queued_share_of_ideal"]
    print(f"| queued `POST /messages/async` | {result['queued_s']:.2f} s | {queued_share:.0%} |")
    print(f"\nqueued run, start to completion: p50 {result['run_p50_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
