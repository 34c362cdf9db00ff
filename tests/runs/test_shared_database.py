"""Several server processes on one PostgreSQL database, simulated in one test process: each app (or
`AdvisoryLocks`) has connections of its own, as a process would. The real thing, two `memfold
serve` processes, is tests/e2e/test_multiprocess_pg.py."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from memfold.agent.lifecycle import create_agent as create_agent_row
from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.runs import queue
from memfold.schemas.agents import CreateAgent
from memfold.server.app import create_app, open_database
from memfold.store import tables as t
from memfold.store.locks import AdvisoryLocks, advisory_key
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.helpers import create_agent
from tests.runs.test_async_runs import wait_for_run

pytestmark = pytest.mark.timeout(120)


# --- the advisory locks themselves ------------------------------------------------------------------


@pytest.fixture
def two_processes(postgres_url: str) -> Iterator[tuple[AdvisoryLocks, AdvisoryLocks]]:
    a, b = AdvisoryLocks(make_url(postgres_url)), AdvisoryLocks(make_url(postgres_url))
    yield a, b
    a.close()
    b.close()


async def test_a_lock_held_by_one_process_waits_in_the_other(
    two_processes: tuple[AdvisoryLocks, AdvisoryLocks],
) -> None:
    a, b = two_processes
    key = advisory_key("agent", "agent-1")
    await a.acquire(key)
    waiting = asyncio.create_task(b.acquire(key))
    await asyncio.sleep(0.3)
    assert not waiting.done(), "the second process took a lock the first holds"
    await b.acquire(advisory_key("agent", "agent-2"))  # another agent is not held up
    a.release(key)
    await asyncio.wait_for(waiting, 10)
    assert key in b.held() and key not in a.held()


async def test_a_cancelled_wait_holds_nothing(two_processes: tuple[AdvisoryLocks, AdvisoryLocks]) -> None:
    a, b = two_processes
    key = advisory_key("agent", "agent-1")
    await a.acquire(key)
    waiting = asyncio.create_task(b.acquire(key))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    a.release(key)
    await asyncio.sleep(0.1)  # let a try that was under way finish (and be undone)
    assert key not in b.held()
    await asyncio.wait_for(a.acquire(key), 10)  # nobody kept it


async def test_a_process_that_goes_away_releases_its_locks(
    two_processes: tuple[AdvisoryLocks, AdvisoryLocks],
) -> None:
    a, b = two_processes
    key = advisory_key("agent", "agent-1")
    await a.acquire(key)
    waiting = asyncio.create_task(b.acquire(key))
    await asyncio.sleep(0.1)
    await asyncio.to_thread(a.close)  # its connection closes, as when the process dies
    await asyncio.wait_for(waiting, 10)
    assert key in b.held()


# --- claims: one run per agent, however many processes claim at once ---------------------------------


def test_concurrent_claims_take_one_run_per_agent(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, default_model="scripted/test")
    db = open_database(settings)
    try:
        with db.write() as conn:
            agents = [
                create_agent_row(conn, DEFAULT_ORG_ID, CreateAgent(name=f"a{i}"), settings, "scripted/test")
                for i in range(4)
            ]
            for i in range(40):
                queue.enqueue(conn, DEFAULT_ORG_ID, agents[i % 4], {"input": f"m{i}"})
        owners = [f"process-{i}" for i in range(6)]
        barrier = threading.Barrier(len(owners))
        claimed: dict[str, list[queue.Claim]] = {}

        def claim(owner: str) -> None:
            barrier.wait()
            with db.write() as conn:
                claimed[owner] = queue.claim(conn, owner, timedelta(seconds=30), limit=4)

        threads = [threading.Thread(target=claim, args=(o,)) for o in owners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        taken = [c for claims in claimed.values() for c in claims]
        per_agent = Counter(c.agent_id for c in taken)
        assert per_agent and max(per_agent.values()) == 1, per_agent
        c = t.runs.c
        with db.read() as conn:
            first = {
                a: conn.execute(select(c.id).where(c.agent_id == a).order_by(c.created_at, c.id))
                .scalars()
                .first()
                for a in agents
            }
            running = conn.execute(select(c.agent_id).where(c.status == "running")).scalars().all()
        assert all(claim.run_id == first[claim.agent_id] for claim in taken), "a newer run went first"
        assert sorted(running) == sorted(claim.agent_id for claim in taken)
    finally:
        db.dispose()


def test_a_cancel_request_reaches_the_holder_or_ends_an_orphaned_run(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, default_model="scripted/test")
    db = open_database(settings)
    try:
        with db.write() as conn:
            live, dead = (
                create_agent_row(conn, DEFAULT_ORG_ID, CreateAgent(name=n), settings, "scripted/test")
                for n in ("live", "dead")
            )
            live_run = queue.enqueue(conn, DEFAULT_ORG_ID, live, {"input": "x"})
            dead_run = queue.enqueue(conn, DEFAULT_ORG_ID, dead, {"input": "y"})
        with db.write() as conn:
            assert [c.run_id for c in queue.claim(conn, "process-a", timedelta(seconds=30), limit=1)] == [
                live_run
            ]
            assert [c.run_id for c in queue.claim(conn, "process-b", timedelta(seconds=-1), limit=1)] == [
                dead_run
            ]
        with db.write() as conn:
            assert queue.request_cancel(conn, [live_run, dead_run]) == [dead_run]
        with db.read() as conn:
            assert queue.cancel_requests(conn, "process-a") == [live_run]
            assert queue.cancel_requests(conn, "process-b") == []
            status = {row.id: row.status for row in conn.execute(select(t.runs.c.id, t.runs.c.status))}
        assert status == {live_run: "running", dead_run: "cancelled"}
    finally:
        db.dispose()


# --- two apps on one database ------------------------------------------------------------------------


def two_steps(request: ModelRequest) -> ModelResponse:
    """A user message -> a memory edit with a heartbeat; its result -> a reply quoting the message."""
    last_user = next(m.content for m in reversed(request.messages) if m.role == "user")
    if request.messages[-1].role == "user":
        return tool_call_response("core_memory_append", label="human", content="+", request_heartbeat=True)
    return tool_call_response("send_message", message=f"re: {last_user}")


@pytest.fixture
async def two_clients(
    postgres_url: str, tmp_path: Path, scripted: ScriptedModel
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    apps: list[FastAPI] = []
    for name in ("a", "b"):
        settings = Settings(home=tmp_path / name, database_url=postgres_url, default_model="scripted/test")
        registry = ModelRegistry(environ={})
        registry.register_model(scripted)
        apps.append(create_app(settings, registry))
    a, b = apps
    async with (
        a.router.lifespan_context(a),
        b.router.lifespan_context(b),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://a.test") as ca,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=b), base_url="http://b.test") as cb,
    ):
        yield ca, cb
    for application in apps:
        application.state.memfold.db.dispose()


async def test_turns_of_one_agent_never_interleave_across_processes(
    two_clients: tuple[httpx.AsyncClient, httpx.AsyncClient], scripted: ScriptedModel
) -> None:
    a, b = two_clients
    scripted.function = two_steps
    scripted.latency = 0.01
    agent = await create_agent(a, agent_type="memgpt_agent")
    sends = 20

    async def send(index: int) -> str | None:
        client = (a, b)[index % 2]
        text = f"message {index}"
        if index % 4 < 2:
            response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": text})
            assert response.status_code == 200, response.text
            assert response.json()["messages"][-1]["content"] == f"re: {text}"
            return None
        response = await client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": text})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    run_ids = await asyncio.gather(*(send(i) for i in range(sends)))
    for run_id in filter(None, run_ids):
        assert (await asyncio.wait_for(wait_for_run(a, run_id), 60))["status"] == "completed"
    listed = await b.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc", "limit": 1000})
    history = listed.json()
    users = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert sorted(users) == sorted(f"message {i}" for i in range(sends))
    kinds = [m["message_type"] for m in history if m["message_type"] != "reasoning_message"]
    turn = ["user_message", "tool_call_message", "tool_return_message", "assistant_message"]
    assert kinds == turn * sends, "two turns of the agent interleaved"


async def test_a_cancel_reaches_the_process_running_the_run(
    two_clients: tuple[httpx.AsyncClient, httpx.AsyncClient], scripted: ScriptedModel
) -> None:
    a, b = two_clients

    def endless(request: ModelRequest) -> ModelResponse:  # heartbeats forever
        return tool_call_response("core_memory_append", label="human", content=".", request_heartbeat=True)

    scripted.function = endless
    scripted.latency = 0.05
    agent = await create_agent(a, agent_type="memgpt_agent")
    run = (
        await a.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "go", "max_steps": 500})
    ).json()
    # The cancel goes through the app that does not hold the run.
    holder = await asyncio.wait_for(_holder(two_clients, run["id"]), 20)
    other = b if holder is a else a
    answer = await other.post(f"/v1/agents/{agent['id']}/messages/cancel", json={"run_ids": [run["id"]]})
    assert answer.json() == {run["id"]: "cancelling"}
    done = await asyncio.wait_for(wait_for_run(a, run["id"]), 30)
    assert done["status"] == "cancelled" and done["stop_reason"] == "cancelled"


async def _holder(clients: tuple[httpx.AsyncClient, httpx.AsyncClient], run_id: str) -> httpx.AsyncClient:
    """The client of the app whose run workers hold the run."""
    while True:
        for client in clients:
            transport = client._transport
            assert isinstance(transport, httpx.ASGITransport)
            app = transport.app
            assert isinstance(app, FastAPI)
            if run_id in app.state.memfold.workers.running:
                return client
        await asyncio.sleep(0.01)
