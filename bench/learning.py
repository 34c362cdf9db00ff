"""Learning throughput: how fast an agent reads a folder (`POST /v1/agents/{id}/folders/{fid}/learn`).

A folder of `--files` Markdown files holding `--chunks` short sections in all (one chunk each) is
uploaded through the real FastAPI app in-process (lifespan on, so the run workers run). One agent
learns it with a scripted model that answers after `--latency` seconds with one
`archival_memory_insert` of the chunk (one step per chunk, no heartbeat). The clock runs from the
learn request to the run's `completed`; the LLM-bound ideal is `chunks x latency`, and what is
left over, per chunk, is memfold's cost of a learning turn (the turn itself, the progress write,
the chunk read). As a baseline, the same chunk messages are then sent to a fresh agent as plain
turns (`AgentLoop.send`, one after another): the difference is what the learning run adds.

    python -m bench.learning [--chunks 100] [--files 4] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.step_overhead import machine_info
from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, text_response, tool_call_response
from memfold.schemas.messages import MessageCreate
from memfold.store.orgs import DEFAULT_ORG_ID

HEADER = "[Learning from folder"


def learner(request: ModelRequest) -> ModelResponse:
    last = request.messages[-1]
    if last.role == "user" and (last.content or "").startswith(HEADER):
        chunk = (last.content or "").split("\n---\n", 1)[1]
        return tool_call_response("archival_memory_insert", content=chunk, request_heartbeat=False)
    return text_response("(summary)")  # the summarizer


def section(i: int) -> str:
    return f"## Rule {i}\n\nMerchant tier {i} of Paywell pays {i % 3 + 1}.{i % 10}% per card payment."


async def measure(chunks: int, files: int, latency: float, home: Path) -> dict[str, Any]:
    from memfold.server.app import create_app

    model = ScriptedModel(learner, name="learner", latency=latency)
    registry = ModelRegistry(environ={})
    registry.register_model(model)
    app = create_app(Settings(home=home, default_model="scripted/learner"), registry)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client,
    ):
        folder = (
            await client.post("/v1/folders/", json={"name": "bench", "embedding_chunk_size": 50})
        ).json()
        per_file = -(-chunks // files)
        for f in range(files):
            body = "\n\n".join(section(i) for i in range(f * per_file, min(chunks, (f + 1) * per_file)))
            data = f"# File {f}\n\n{body}\n".encode()
            await client.post(f"/v1/folders/{folder['id']}/upload", files={"file": (f"f{f}.md", data)})
        await app.state.file_ingestion.wait()
        agent = (await client.post("/v1/agents/", json={"name": "learner"})).json()
        started = time.perf_counter()
        run = (await client.post(f"/v1/agents/{agent['id']}/folders/{folder['id']}/learn")).json()
        while run["status"] not in ("completed", "failed", "cancelled"):
            await asyncio.sleep(0.1)  # polling often would compete with the run for the event loop
            run = (await client.get(f"/v1/runs/{run['id']}")).json()
        elapsed = time.perf_counter() - started
        if run["status"] != "completed":
            raise SystemExit(f"learning ended {run['status']}: {run['metadata']}")
        learned = int(run["metadata"]["learning"]["chunks_done"])
        calls = len(model.requests)
        # The baseline: the same messages sent as plain turns (AgentLoop.send) to a fresh agent.
        texts = [
            r.messages[-1].content or ""
            for r in model.requests
            if r.messages[-1].role == "user" and (r.messages[-1].content or "").startswith(HEADER)
        ]
        other = (await client.post("/v1/agents/", json={"name": "baseline"})).json()
        loop = app.state.memfold.loop
        plain_started = time.perf_counter()
        for text in texts:
            await loop.send(DEFAULT_ORG_ID, other["id"], [MessageCreate(content=text)])
        plain = time.perf_counter() - plain_started
        info = machine_info(app.state.memfold.db)
    return {
        "chunks": learned,
        "latency_ms": latency * 1000,
        "wall_s": round(elapsed, 2),
        "chunks_per_s": round(learned / elapsed, 1),
        "ideal_chunks_per_s": round(1 / latency, 1) if latency else None,
        "overhead_ms_per_chunk": round((elapsed / learned - latency) * 1000, 1),
        "plain_turns_per_s": round(len(texts) / plain, 1),
        "plain_overhead_ms_per_turn": round((plain / len(texts) - latency) * 1000, 1),
        "llm_calls": calls,
        "machine": info,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.learning", description=__doc__)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.05, help="scripted LLM latency in seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        r = asyncio.run(measure(args.chunks, args.files, args.latency, Path(home)))
    print(
        f"{r['chunks']} chunks in {args.files} files, scripted LLM latency {r['latency_ms']:.0f} ms, SQLite\n"
    )
    print("| | per second | LLM-bound ideal | memfold's time per chunk/turn |")
    print("| --- | --- | --- | --- |")
    ideal = r["ideal_chunks_per_s"]
    print(f"| learning run | {r['chunks_per_s']} chunks | {ideal} | {r['overhead_ms_per_chunk']} ms |")
    print(
        f"| the same messages as plain turns | {r['plain_turns_per_s']} turns | {ideal} | "
        f"{r['plain_overhead_ms_per_turn']} ms |"
    )
    print(f"\nlearning wall time {r['wall_s']} s, {r['llm_calls']} LLM calls (chunks and summaries)")
    print()
    for key, value in r["machine"].items():
        print(f"- {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
