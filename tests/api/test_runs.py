"""/v1/runs: list with every filter and cursor, retrieve, a run's messages, steps and usage.

Runs are made by real turns of the scripted model (a heartbeat chain, a one-step turn, a turn
whose provider fails after its first step); rows only the run queue writes (background, queued,
with a callback or a lease) are inserted as the queue would store them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from letta_client import Letta
from letta_client import NotFoundError as SDKNotFoundError
from sqlalchemy import insert, update

from memfold.errors import ProviderError
from memfold.ids import new_id
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.store import tables as t
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.e2e.server_process import ServerProcess
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers import assert_error, create_agent

MISSING_RUN = "run-00000000-0000-4000-8000-000000000999"


@dataclass
class Turns:
    alice: str
    bob: str
    chain: dict[str, Any]
    """The send route's response to alice's two-step turn (memory edit + heartbeat, then reply)."""
    single: dict[str, Any]
    """bob's one-step turn."""
    failed: dict[str, Any]
    """alice's turn whose provider failed after the first step."""

    @property
    def chain_run(self) -> str:
        return str(self.chain["usage"]["run_ids"][0])

    @property
    def single_run(self) -> str:
        return str(self.single["usage"]["run_ids"][0])

    @property
    def failed_run(self) -> str:
        return str(self.failed["usage"]["run_ids"][0])


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def turns(app: FastAPI, client: httpx.AsyncClient, scripted: ScriptedModel) -> Turns:
    played = await play_turns(client, scripted)
    # The tests insert run rows as the queue stores them; no worker may pick those up meanwhile.
    await app.state.memfold.workers.stop()
    return played


async def play_turns(client: httpx.AsyncClient, scripted: ScriptedModel) -> Turns:
    """Two agents, three turns: alice's heartbeat chain, bob's one-step turn, alice's failed turn."""
    alice = (await create_agent(client, name="alice", agent_type="memgpt_agent"))["id"]
    bob = (await create_agent(client, name="bob", agent_type="memgpt_agent"))["id"]
    scripted.enqueue(
        tool_call_response(
            "core_memory_append",
            thinking="Remember the cat.",
            label="human",
            content="Has a cat.",
            request_heartbeat=True,
        ),
        tool_call_response("send_message", thinking="Answer.", message="Noted, a cat."),
    )
    chain = await send(client, alice, "I have a cat")
    scripted.enqueue(tool_call_response("send_message", thinking="Greet.", message="Hi Bob."))
    single = await send(client, bob, "hello")
    scripted.enqueue(
        tool_call_response(
            "core_memory_append", thinking="Dog too.", label="human", content="Dog.", request_heartbeat=True
        ),
        ProviderError("upstream unavailable", provider="scripted", status=503),
    )
    failed = await send(client, alice, "and a dog")
    assert failed["stop_reason"]["stop_reason"] == "llm_api_error"
    return Turns(alice, bob, chain, single, failed)


def insert_queued_run(app: FastAPI, agent_id: str, **values: Any) -> str:
    """A run row as the run queue stores it (with its lease bookkeeping)."""
    run_id = new_id("run")
    row: dict[str, Any] = {
        "id": run_id,
        "organization_id": DEFAULT_ORG_ID,
        "agent_id": agent_id,
        "status": "created",
        "background": True,
        "created_at": datetime.now(UTC),
        "attempts": 1,
        "lease_owner": "worker-secret-7",
        "lease_expires_at": datetime.now(UTC) + timedelta(seconds=30),
    }
    row.update(values)
    with app.state.memfold.db.write() as conn:
        conn.execute(insert(t.runs).values(**row))
    return run_id


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def run_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [r["id"] for r in await get_json(client, "/v1/runs/", **params)]


# -- retrieve ------------------------------------------------------------------------------


async def test_retrieve_a_completed_run(client: httpx.AsyncClient, turns: Turns) -> None:
    run = await get_json(client, f"/v1/runs/{turns.chain_run}")
    assert run["id"] == turns.chain_run and run["id"].startswith("run-")
    assert run["agent_id"] == turns.alice
    assert (run["status"], run["stop_reason"], run["background"]) == ("completed", "end_turn", False)
    created = datetime.fromisoformat(run["created_at"])
    completed = datetime.fromisoformat(run["completed_at"])
    assert created.tzinfo is not None and completed >= created
    assert run["total_duration_ns"] == int((completed - created) / timedelta(microseconds=1)) * 1000
    assert run["metadata"] is None and run["callback_url"] is None


async def test_a_run_failed_after_its_first_step(client: httpx.AsyncClient, turns: Turns) -> None:
    run = await get_json(client, f"/v1/runs/{turns.failed_run}")
    assert (run["status"], run["stop_reason"]) == ("failed", "llm_api_error")
    assert "upstream unavailable" in run["metadata"]["error"]
    assert run["completed_at"] is not None and run["total_duration_ns"] >= 0
    steps = await get_json(client, f"/v1/runs/{turns.failed_run}/steps")
    assert len(steps) == 1 and steps[0]["status"] == "success"
    usage = await get_json(client, f"/v1/runs/{turns.failed_run}/usage")
    assert usage["total_tokens"] == turns.failed["usage"]["total_tokens"] > 0
    assert usage["step_count"] == turns.failed["usage"]["step_count"] == 1


async def test_queued_run_fields_and_no_lease_internals(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    created = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    run_id = insert_queued_run(
        app,
        turns.bob,
        status="completed",
        stop_reason="end_turn",
        created_at=created,
        started_at=created + timedelta(seconds=5),
        completed_at=created + timedelta(seconds=7, microseconds=250),
        metadata={"source": "cron"},
        callback_url="http://127.0.0.1:9/done",
        request={"use_assistant_message": False, "include_return_message_types": ["assistant_message"]},
    )
    run = await get_json(client, f"/v1/runs/{run_id}")
    assert run["background"] is True
    assert run["metadata"] == {"source": "cron"}
    assert run["callback_url"] == "http://127.0.0.1:9/done"
    assert run["request_config"]["use_assistant_message"] is False
    assert run["request_config"]["include_return_message_types"] == ["assistant_message"]
    assert run["total_duration_ns"] == 2_000_250_000  # from the worker's start, not creation
    assert datetime.fromisoformat(run["created_at"]) == created
    text = (await client.get(f"/v1/runs/{run_id}")).text
    for internal in ("lease_owner", "lease_expires_at", "attempts", "started_at", "worker-secret-7"):
        assert internal not in text

    pending = insert_queued_run(app, turns.bob)
    queued = await get_json(client, f"/v1/runs/{pending}")
    assert (queued["status"], queued["completed_at"], queued["total_duration_ns"]) == ("created", None, None)


async def test_unknown_run_is_404_on_every_route(client: httpx.AsyncClient) -> None:
    for suffix in ("", "/messages", "/steps", "/usage", "/trace"):
        body = assert_error(await client.get(f"/v1/runs/{MISSING_RUN}{suffix}"), 404)
        assert MISSING_RUN in body["detail"] and body["code"] == "not_found"


# -- list: filters ---------------------------------------------------------------------------


async def test_list_newest_first_and_by_agent(client: httpx.AsyncClient, turns: Turns) -> None:
    everything = [turns.failed_run, turns.single_run, turns.chain_run]
    assert await run_ids(client) == everything
    assert await run_ids(client, order="asc") == everything[::-1]
    assert await run_ids(client, ascending="true") == everything[::-1]
    assert await run_ids(client, agent_id=turns.alice) == [turns.failed_run, turns.chain_run]
    assert await run_ids(client, agent_ids=[turns.bob]) == [turns.single_run]
    both = await run_ids(client, agent_id=turns.alice, agent_ids=[turns.bob])
    assert both == everything
    assert await run_ids(client, agent_id="agent-00000000-0000-4000-8000-000000000001") == []


async def test_list_by_status_stop_reason_background_and_active(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    running = insert_queued_run(app, turns.alice, status="running", background=False)
    queued = insert_queued_run(app, turns.bob)
    assert await run_ids(client, statuses=["failed"]) == [turns.failed_run]
    completed = await run_ids(client, statuses=["completed"])
    assert completed == [turns.single_run, turns.chain_run]
    assert set(await run_ids(client, statuses=["completed", "failed"])) == {
        turns.single_run,
        turns.chain_run,
        turns.failed_run,
    }
    assert await run_ids(client, stop_reason="llm_api_error") == [turns.failed_run]
    assert await run_ids(client, stop_reason="end_turn", agent_id=turns.bob) == [turns.single_run]
    assert await run_ids(client, background="true") == [queued]
    assert set(await run_ids(client, background="false")) == {running, *completed, turns.failed_run}
    assert await run_ids(client, active="true") == [queued, running]
    assert await run_ids(client, active="true", statuses=["running", "completed"]) == [running]
    assert await run_ids(client, active="true", agent_id=turns.bob) == [queued]
    assert len(await run_ids(client, active="false")) == 5
    assert await run_ids(client, conversation_id="conv-1") == []  # memfold has no conversations


async def test_list_pages_with_cursors(client: httpx.AsyncClient, turns: Turns) -> None:
    everything = await run_ids(client)
    first = await run_ids(client, limit=2)
    assert first == everything[:2]
    assert await run_ids(client, limit=2, after=first[-1]) == everything[2:]
    assert await run_ids(client, before=everything[-1]) == everything[:2]
    assert await run_ids(client, after=everything[0], before=everything[-1]) == everything[1:2]
    ascending = await run_ids(client, order="asc", limit=1)
    assert ascending == [everything[-1]]
    assert await run_ids(client, order="asc", after=ascending[0]) == everything[-2::-1]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"statuses": "sleeping"}, 422),
        ({"order": "sideways"}, 422),
        ({"order_by": "updated_at"}, 422),
        ({"limit": 0}, 422),
        ({"stop_reason": "bored"}, 422),
        ({"active": "maybe"}, 422),
        ({"after": MISSING_RUN}, 404),
    ],
)
async def test_bad_list_parameters(client: httpx.AsyncClient, params: dict[str, Any], status: int) -> None:
    assert_error(await client.get("/v1/runs/", params=params), status)


# -- a run's messages, steps and usage ---------------------------------------------------------


async def test_run_messages_are_the_turns_messages(client: httpx.AsyncClient, turns: Turns) -> None:
    messages = await get_json(client, f"/v1/runs/{turns.chain_run}/messages")
    types = [m["message_type"] for m in messages]
    assert types == [
        "user_message",
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert messages[0]["content"] == "I have a cat"
    assert messages[-1]["content"] == "Noted, a cat."
    assert {m["run_id"] for m in messages} == {turns.chain_run}
    # the same views the send route returned, in the same order
    assert [(m["id"], m["message_type"]) for m in messages] == [
        (m["id"], m["message_type"]) for m in turns.chain["messages"]
    ]
    # and what the agent's history shows for that run
    history = await get_json(client, f"/v1/agents/{turns.alice}/messages", order="asc")
    assert [m["id"] for m in history if m["run_id"] == turns.chain_run] == [m["id"] for m in messages]

    newest_first = await get_json(client, f"/v1/runs/{turns.chain_run}/messages", order="desc")
    # newest stored message first; the views of one stored message keep their order
    stored = list(dict.fromkeys(m["id"] for m in messages))
    expected = [(m["id"], m["message_type"]) for i in reversed(stored) for m in messages if m["id"] == i]
    assert [(m["id"], m["message_type"]) for m in newest_first] == expected


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
async def test_run_messages_page_by_whole_stored_messages(
    client: httpx.AsyncClient, turns: Turns, limit: int
) -> None:
    url = f"/v1/runs/{turns.chain_run}/messages"
    everything = await get_json(client, url)
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": limit}
    while page := await get_json(client, url, **params):
        assert len(page) <= limit
        pages.append(page)
        params["after"] = page[-1]["id"]
        assert len(pages) < 20
    seen = [(m["id"], m["message_type"]) for page in pages for m in page]
    if limit == 1:  # one stored message shows as two: a page of one keeps the first of them
        assert len(seen) < len(everything)
    else:
        assert seen == [(m["id"], m["message_type"]) for m in everything]


async def test_run_messages_before_cursor(client: httpx.AsyncClient, turns: Turns) -> None:
    url = f"/v1/runs/{turns.chain_run}/messages"
    everything = await get_json(client, url)
    last_id = everything[-1]["id"]
    earlier = await get_json(client, url, before=last_id)
    assert [m["id"] for m in earlier] == [m["id"] for m in everything if m["id"] != last_id]
    assert_error(await client.get(url, params={"after": "message-nope"}), 404)


async def test_run_messages_follow_the_runs_request_config(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    with app.state.memfold.db.write() as conn:
        conn.execute(
            update(t.runs)
            .where(t.runs.c.id == turns.single_run)
            .values(request={"use_assistant_message": False})
        )
    messages = await get_json(client, f"/v1/runs/{turns.single_run}/messages")
    types = [m["message_type"] for m in messages]
    assert types == ["user_message", "reasoning_message", "tool_call_message", "tool_return_message"]
    assert messages[2]["tool_call"]["name"] == "send_message"
    assert "Hi Bob." in messages[2]["tool_call"]["arguments"]


async def test_run_steps(client: httpx.AsyncClient, turns: Turns) -> None:
    steps = await get_json(client, f"/v1/runs/{turns.chain_run}/steps")
    assert len(steps) == turns.chain["usage"]["step_count"] == 2
    newest, oldest = steps
    assert {s["run_id"] for s in steps} == {turns.chain_run}
    assert {s["agent_id"] for s in steps} == {turns.alice}
    assert (oldest["stop_reason"], newest["stop_reason"]) == (None, "end_turn")
    assert await get_json(client, f"/v1/runs/{turns.chain_run}/steps", order="asc") == [oldest, newest]
    assert await get_json(client, f"/v1/runs/{turns.chain_run}/steps", limit=1) == [newest]
    assert await get_json(client, f"/v1/runs/{turns.chain_run}/steps", after=newest["id"]) == [oldest]
    assert await get_json(client, f"/v1/runs/{turns.chain_run}/steps", before=oldest["id"]) == [newest]
    messages = await get_json(client, f"/v1/runs/{turns.chain_run}/messages")
    assert [m["step_id"] for m in messages] == [oldest["id"]] * 4 + [newest["id"]] * 2


@pytest.mark.parametrize("which", ["chain", "single", "failed"])
async def test_run_usage_is_the_sum_of_its_steps_and_the_turns_usage(
    client: httpx.AsyncClient, turns: Turns, which: str
) -> None:
    turn = getattr(turns, which)
    run_id = turn["usage"]["run_ids"][0]
    usage = await get_json(client, f"/v1/runs/{run_id}/usage")
    expected = turn["usage"]
    for field in ("prompt_tokens", "completion_tokens", "total_tokens", "step_count"):
        assert usage[field] == expected[field], field
    steps = await get_json(client, f"/v1/runs/{run_id}/steps")
    assert usage["prompt_tokens"] == sum(s["prompt_tokens"] for s in steps) > 0
    assert usage["completion_tokens"] == sum(s["completion_tokens"] for s in steps) > 0


async def test_run_usage_of_a_run_without_steps_is_zero(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    usage = await get_json(client, f"/v1/runs/{insert_queued_run(app, turns.bob)}/usage")
    assert (usage["prompt_tokens"], usage["total_tokens"], usage["step_count"]) == (0, 0, 0)


async def test_run_trace_is_empty(client: httpx.AsyncClient, turns: Turns) -> None:
    assert await get_json(client, f"/v1/runs/{turns.chain_run}/trace") == []


def move_to_other_org(app: FastAPI, run_id: str) -> None:
    """Hand a run and its steps to another organization, as if another tenant had made them."""
    other = "org-00000000-0000-4000-8000-0000000000aa"
    with app.state.memfold.db.write() as conn:
        conn.execute(insert(t.organizations).values(id=other, name="other", created_at=datetime.now(UTC)))
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(organization_id=other))
        conn.execute(update(t.steps).where(t.steps.c.run_id == run_id).values(organization_id=other))


async def test_runs_of_other_organizations_are_invisible(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    move_to_other_org(app, turns.single_run)
    assert turns.single_run not in await run_ids(client)
    assert await run_ids(client, agent_id=turns.bob) == []
    for suffix in ("", "/messages", "/steps", "/usage"):
        assert_error(await client.get(f"/v1/runs/{turns.single_run}{suffix}"), 404)
    assert await run_ids(client, agent_id=turns.alice) == [turns.failed_run, turns.chain_run]


# -- the official SDK against a real server --------------------------------------------------


@pytest.mark.timeout(90)
def test_runs_and_steps_through_letta_client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        client = Letta(base_url=server.base_url, max_retries=0, timeout=20.0)
        agent = client.agents.create(
            name="sdk-runs",
            model="openai/gpt-4o-mini",
            memory_blocks=[{"label": "human", "value": "Name: Ada"}],
            tools=["send_message", "core_memory_append"],
            include_base_tools=False,
        )
        fake_openai.queue_tool_call(
            "core_memory_append",
            thinking="Note it.",
            label="human",
            content="Likes tea.",
            request_heartbeat=True,
        )
        fake_openai.queue_tool_call("send_message", thinking="Confirm.", message="Tea, noted.")
        reply = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "I like tea"}])
        [run_id] = reply.usage.run_ids or []
        fake_openai.queue_tool_call("send_message", message="Bye.")
        client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "bye"}])

        runs = client.runs.list(agent_id=agent.id).items
        assert len(runs) == 2 and runs[1].id == run_id
        run = client.runs.retrieve(run_id)
        assert (run.status, run.stop_reason, run.agent_id) == ("completed", "end_turn", agent.id)
        assert run.completed_at is not None and (run.total_duration_ns or 0) >= 0
        assert [r.id for r in client.runs.list(agent_id=agent.id, order="asc", limit=1)] == [
            r.id for r in runs[::-1]
        ]  # auto-pagination follows the `after` cursor

        messages = client.runs.messages.list(run_id).items
        assert [m.message_type for m in messages][-1] == "assistant_message"
        assert messages[-1].content == "Tea, noted."  # type: ignore[union-attr]
        steps = client.runs.steps.list(run_id, order="asc").items
        assert len(steps) == reply.usage.step_count == 2
        usage = client.runs.usage.retrieve(run_id)
        assert usage.total_tokens == reply.usage.total_tokens == sum(s.total_tokens or 0 for s in steps)
        assert usage.prompt_tokens == reply.usage.prompt_tokens

        listed = client.steps.list(agent_id=agent.id, order="asc").items
        assert [s.id for s in listed[:2]] == [s.id for s in steps] and len(listed) == 3
        step = client.steps.retrieve(steps[0].id)
        assert (step.run_id, step.model, step.provider_name) == (run_id, "gpt-4o-mini", "openai")
        assert step.prompt_tokens == steps[0].prompt_tokens and step.completion_tokens
        assert client.steps.list(model="openai/gpt-4o-mini", agent_id=agent.id, limit=1).items[0].id == (
            listed[-1].id
        )
        with pytest.raises(SDKNotFoundError):
            client.runs.retrieve(MISSING_RUN)
