"""An agent learns from a folder (`POST /v1/agents/{id}/folders/{folder_id}/learn`): one background run,
one turn per chunk in file and chunk order, progress in the run's metadata, resume without reading a
chunk twice, failure, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from memfold.errors import MemfoldError, ProviderError
from memfold.folders.learning import LEARN_KIND, MAX_STALLED_STARTS, FolderLearning, start_learning
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, text_response, tool_call_response
from memfold.runs.queue import Claim
from memfold.store import tables as t
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.folders.helpers import chunks, make_folder, processed, upload
from tests.helpers import assert_error, create_agent

pytestmark = pytest.mark.timeout(60)

# The seed's example: a payments company's documents, learned by its support agent.
PAYMENTS = b"""# Paywell

Paywell processes card payments for 4,000 merchants in Portugal and Spain. It was founded in 2011.

## Fees

A card payment costs the merchant 1.4% plus 10 cents. Payouts reach the merchant bank every Tuesday.

## Risk

A payment above 5,000 euros is held for manual review by the risk team in Lisbon.
"""
REFUNDS = b"""# Refunds

A merchant can refund a payment within 180 days from the Paywell dashboard.

## Chargebacks

A chargeback costs 15 euros and the merchant has 7 days to send evidence.
"""
HEADER = "[Learning from folder"
FINISHED = ("completed", "failed", "cancelled")


def chunk_text(message: str) -> str:
    return message.split("\n---\n", 1)[1]


class Learner:
    """A scripted agent that learns as asked: each chunk goes to archival memory (step 1, heartbeat),
    then the first sentence of its last line to the `human` block (step 2). `hold` makes a chunk's
    step wait for `release`; `fail` makes a chunk's first step raise a provider error."""

    def __init__(self) -> None:
        self.chunks_seen: list[str] = []
        self.hold: tuple[int, int] | None = None  # (chunk number, step) to wait at
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.fail: int | None = None

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        users = [m for m in request.messages if m.role == "user" and (m.content or "").startswith(HEADER)]
        if last.role == "user" and (last.content or "").startswith(HEADER):
            self.chunks_seen.append(chunk_text(last.content or ""))
            step = 1
        elif last.role == "tool" and users:
            step = 2
        else:
            return text_response("(summary)")  # the summarizer, folding evicted messages
        number = len(self.chunks_seen)
        if self.fail == number and step == 1:
            raise ProviderError("the provider is overloaded (529)", provider="scripted", status=529)
        if self.hold == (number, step) and not self.release.is_set():
            self.held.set()
            await self.release.wait()
        text = chunk_text(users[-1].content or "")
        if step == 1:
            return tool_call_response("archival_memory_insert", content=text, request_heartbeat=True)
        fact = text.strip().splitlines()[-1].split(". ")[0]
        return tool_call_response("memory_insert", label="human", new_str=fact, request_heartbeat=False)


@pytest.fixture
def learner(scripted: ScriptedModel) -> Learner:
    learner = Learner()
    scripted.function = learner
    return learner


async def payments_folder(client: httpx.AsyncClient) -> dict[str, Any]:
    folder = await make_folder(client, "paywell", embedding_chunk_size=50)
    for name, data in (("payments.md", PAYMENTS), ("refunds.md", REFUNDS)):
        sent = await upload(client, folder["id"], name, data, "text/markdown")
        assert (await processed(client, folder["id"], sent.json()["id"]))["processing_status"] == "completed"
    return folder


async def learn(client: httpx.AsyncClient, agent_id: str, folder_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/folders/{folder_id}/learn", json=body or None)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    assert run["id"].startswith("run-") and run["status"] in ("created", "running")
    return run


async def finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(1000):
        run: dict[str, Any] = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] in FINISHED:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish: {run}")


async def chunk_messages(client: httpx.AsyncClient, agent_id: str) -> list[str]:
    """The chunk texts the agent was handed, in its history's order."""
    history = (
        await client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000, "order": "asc"})
    ).json()
    return [
        chunk_text(m["content"])
        for m in history
        if m["message_type"] == "user_message" and m["content"].startswith(HEADER)
    ]


async def archival_texts(client: httpx.AsyncClient, agent_id: str) -> list[str]:
    passages = (
        await client.get(f"/v1/agents/{agent_id}/archival-memory", params={"limit": 1000, "order": "asc"})
    ).json()
    return sorted(p["text"] for p in passages)


async def test_agent_learns_a_folder_in_file_and_chunk_order(
    client: httpx.AsyncClient, app: FastAPI, learner: Learner
) -> None:
    folder = await payments_folder(client)
    stored = chunks(app, folder["id"])
    assert len(stored) >= 5  # several chunks per file
    agent = await create_agent(client)

    run = await learn(client, agent["id"], folder["id"])
    assert run["metadata"]["learning"]["chunks_total"] == len(stored)
    done = await finished(client, run["id"])

    assert done["status"] == "completed", done
    progress = done["metadata"]["learning"]
    assert progress["chunks_done"] == progress["chunks_total"] == len(stored)
    assert progress["current_file"] is None
    texts = [text for _, text in stored]
    assert await chunk_messages(client, agent["id"]) == texts  # each once, files then chunks in order
    assert learner.chunks_seen == texts
    assert await archival_texts(client, agent["id"]) == sorted(texts)
    human = (await client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")).json()["value"]
    assert "Paywell processes card payments for 4,000 merchants in Portugal and Spain" in human
    assert "A chargeback costs 15 euros and the merchant has 7 days to send evidence" in human

    history = (
        await client.get(f"/v1/agents/{agent['id']}/messages", params={"limit": 1000, "order": "asc"})
    ).json()
    first = next(m for m in history if m["message_type"] == "user_message")
    assert first["content"].startswith(f"{HEADER} 'paywell': chunk 1 of ")
    assert "of file payments.md (1 of " in first["content"]

    listed = (await client.get("/v1/runs/", params={"agent_id": agent["id"], "background": True})).json()
    assert [r["id"] for r in listed] == [run["id"]]

    queued = await learn(client, agent["id"], folder["id"])
    assert queued["metadata"]["learning"]["chunks_done"] == len(stored)  # known at once
    again = await finished(client, queued["id"])
    assert again["status"] == "completed"  # nothing new: every chunk was learned already
    assert again["metadata"]["learning"]["chunks_done"] == len(stored)
    assert len(await chunk_messages(client, agent["id"])) == len(stored)

    fresh = await finished(client, (await learn(client, agent["id"], folder["id"], relearn=True))["id"])
    assert fresh["status"] == "completed"
    assert await chunk_messages(client, agent["id"]) == texts + texts


async def test_a_provider_failure_fails_the_run_and_learning_again_resumes(
    client: httpx.AsyncClient, app: FastAPI, learner: Learner
) -> None:
    folder = await payments_folder(client)
    texts = [text for _, text in chunks(app, folder["id"])]
    agent = await create_agent(client)
    learner.fail = 3

    failed = await finished(client, (await learn(client, agent["id"], folder["id"]))["id"])

    assert failed["status"] == "failed"
    assert "chunk 3 of" in failed["metadata"]["error"] and "overloaded" in failed["metadata"]["error"]
    assert failed["metadata"]["learning"]["chunks_done"] == 2
    assert await chunk_messages(client, agent["id"]) == texts[:2]

    learner.fail = None
    resumed = await finished(client, (await learn(client, agent["id"], folder["id"]))["id"])
    assert resumed["status"] == "completed"
    assert resumed["metadata"]["learning"]["chunks_done"] == len(texts)
    assert await chunk_messages(client, agent["id"]) == texts  # none read twice
    assert await archival_texts(client, agent["id"]) == sorted(texts)


async def test_a_run_stopped_mid_turn_resumes_from_committed_state(
    client: httpx.AsyncClient, app: FastAPI, learner: Learner
) -> None:
    folder = await payments_folder(client)
    texts = [text for _, text in chunks(app, folder["id"])]
    agent = await create_agent(client)
    learner.hold = (3, 2)  # chunk 3's first step (the archival insert) commits, its second waits
    run = await learn(client, agent["id"], folder["id"])
    await asyncio.wait_for(learner.held.wait(), 20)

    workers = app.state.memfold.workers
    await workers.stop()  # the process stops mid-turn: the run stays `running` with its lease
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "running"
    learner.release.set()
    workers.start(recover=True)  # the next process frees the lease and picks the run up again
    done = await finished(client, run["id"])

    assert done["status"] == "completed", done
    assert done["metadata"]["learning"]["chunks_done"] == len(texts)
    assert await chunk_messages(client, agent["id"]) == texts  # chunk 3 was not handed over again
    assert learner.chunks_seen == texts
    assert await archival_texts(client, agent["id"]) == sorted(texts)  # and not inserted twice
    human = (await client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")).json()["value"]
    third = texts[2].strip().splitlines()[-1].split(". ")[0]
    assert human.count(third) == 1  # chunk 3's interrupted turn was finished, once
    turns = (await client.get("/v1/runs/", params={"agent_id": agent["id"], "background": False})).json()
    assert {r["status"] for r in turns} == {"completed"}


async def test_cancel_stops_learning_after_the_chunk_under_way(
    client: httpx.AsyncClient, app: FastAPI, learner: Learner
) -> None:
    folder = await payments_folder(client)
    texts = [text for _, text in chunks(app, folder["id"])]
    agent = await create_agent(client)
    learner.hold = (2, 1)
    run = await learn(client, agent["id"], folder["id"])
    await asyncio.wait_for(learner.held.wait(), 20)

    answer = await client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={"run_ids": [run["id"]]})
    assert answer.json() == {run["id"]: "cancelling"}
    learner.release.set()
    done = await finished(client, run["id"])

    assert done["status"] == "cancelled" and done["stop_reason"] == "cancelled"
    assert done["metadata"]["learning"]["chunks_done"] == 2
    assert done["metadata"]["learning"]["chunks_total"] == len(texts)
    assert await chunk_messages(client, agent["id"]) == texts[:2]
    assert learner.chunks_seen == texts[:2]


async def test_bad_learning_requests(client: httpx.AsyncClient, learner: Learner) -> None:
    agent = await create_agent(client)
    empty = await make_folder(client, "empty")
    url = f"/v1/agents/{agent['id']}/folders"
    assert_error(await client.post(f"{url}/source-nope/learn"), 404)
    assert_error(await client.post(f"/v1/agents/agent-nope/folders/{empty['id']}/learn"), 404)
    assert "no processed file" in assert_error(await client.post(f"{url}/{empty['id']}/learn"), 400)["detail"]
    assert_error(await client.post(f"{url}/{empty['id']}/learn", json={"relearn": "maybe"}), 422)

    folder = await payments_folder(client)
    learner.hold = (1, 1)
    run = await learn(client, agent["id"], folder["id"])
    busy = assert_error(await client.post(f"{url}/{folder['id']}/learn"), 409)
    assert run["id"] in busy["detail"]
    learner.release.set()
    assert (await finished(client, run["id"]))["status"] == "completed"


async def test_a_run_restarted_without_progress_gives_up(
    client: httpx.AsyncClient, app: FastAPI, learner: Learner
) -> None:
    folder = await payments_folder(client)
    agent = await create_agent(client)
    context = app.state.memfold
    await context.workers.stop()  # this test plays the run queue itself
    with context.db.write() as conn:
        run_id = start_learning(conn, DEFAULT_ORG_ID, agent["id"], folder["id"], relearn=False)
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(status="running"))  # claimed
    request = {"kind": LEARN_KIND, "folder_id": folder["id"], "relearn": False}
    learning = FolderLearning(context.db, context.loop)

    def claim(attempts: int) -> Claim:
        return Claim(run_id, DEFAULT_ORG_ID, agent["id"], request, attempts=attempts, resumed=False)

    learner.fail = 1  # every start fails before its first chunk commits, like a crash would
    for attempt in range(1, MAX_STALLED_STARTS + 1):
        with pytest.raises(MemfoldError, match="overloaded"):
            await learning.execute(claim(attempt))
        learner.chunks_seen.clear()
    with pytest.raises(MemfoldError, match="without learning a chunk; giving up"):
        await learning.execute(claim(MAX_STALLED_STARTS + 1))
    assert learner.chunks_seen == []

    learner.fail = None
    with (
        context.db.write() as conn
    ):  # pretend a chunk was learned at the last start: progress resets the count
        run = conn.execute(select(t.runs.c.metadata).where(t.runs.c.id == run_id)).scalar_one()
        progress = {**run["learning"], "done_at_start": -1}
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(metadata={"learning": progress}))
    await learning.execute(claim(MAX_STALLED_STARTS + 2))
    done = (await client.get(f"/v1/runs/{run_id}")).json()
    assert done["status"] == "completed"
    assert done["metadata"]["learning"]["stalled_starts"] == 0
