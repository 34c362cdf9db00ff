"""Background runs through the API: queued, executed once each in order, cancellable."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.agent.test_faults import provider_down
from tests.helpers import create_agent


async def wait_for_run(
    client: httpx.AsyncClient, run_id: str, statuses: tuple[str, ...] = ("completed", "failed", "cancelled")
) -> dict[str, Any]:
    """The run once its status is one of `statuses` (polled; the test's timeout bounds the wait)."""
    while True:
        run: dict[str, Any] = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] in statuses:
            return run
        await asyncio.sleep(0.02)


async def send_async(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/messages/async", json={"input": text})
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def echo(request: ModelRequest) -> ModelResponse:
    last_user = next(m.content for m in reversed(request.messages) if m.role == "user")
    return tool_call_response("send_message", message=f"re: {last_user}")


def well_formed(messages: list[dict[str, Any]]) -> bool:
    """Every tool call is directly followed by its result."""
    for index, m in enumerate(messages):
        if m["message_type"] == "tool_call_message":
            nxt = messages[index + 1] if index + 1 < len(messages) else None
            if nxt is None or nxt.get("tool_call_id") != m["tool_call"]["tool_call_id"]:
                return False
    return True


async def test_async_message_returns_a_run_at_once_and_completes(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.latency = 0.2
    scripted.enqueue(tool_call_response("send_message", message="Done in the background"))
    run = await send_async(client, agent["id"], "hello")
    assert run["id"].startswith("run-") and run["agent_id"] == agent["id"]
    assert run["status"] in ("created", "running") and run["background"] is True
    assert scripted.requests == []  # returned before the model was called
    finished = await wait_for_run(client, run["id"])
    assert finished["status"] == "completed" and finished["stop_reason"] == "end_turn"
    messages = (await client.get(f"/v1/runs/{run['id']}/messages")).json()
    assert [m["message_type"] for m in messages][-1] == "assistant_message"
    assert messages[-1]["content"] == "Done in the background"


async def test_runs_of_one_agent_execute_once_each_in_queue_order(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.function = echo
    runs = [await send_async(client, agent["id"], f"message {i}") for i in range(12)]
    for run in runs:
        assert (await wait_for_run(client, run["id"]))["status"] == "completed"
    listed = await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc", "limit": 1000})
    history = listed.json()
    users = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert users == [f"message {i}" for i in range(12)]
    replies = [m["content"] for m in history if m["message_type"] == "assistant_message"]
    assert replies == [f"re: message {i}" for i in range(12)]


async def test_cancel_a_queued_run_and_a_running_one(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.latency = 0.15
    # The first run chains heartbeats for many steps; the second waits behind it.
    scripted.function = lambda _: tool_call_response(
        "core_memory_append", label="human", content="x", request_heartbeat=True
    )
    first = await send_async(client, agent["id"], "long job")
    second = await send_async(client, agent["id"], "queued job")
    await wait_for_run(client, first["id"], statuses=("running",))
    response = await client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={})
    assert response.status_code == 200
    assert response.json() == {first["id"]: "cancelling", second["id"]: "cancelled"}
    cancelled_first = await wait_for_run(client, first["id"])
    assert cancelled_first["status"] == "cancelled" and cancelled_first["stop_reason"] == "cancelled"
    assert (await client.get(f"/v1/runs/{second['id']}")).json()["status"] == "cancelled"
    assert len(scripted.requests) < 10  # stopped early, at a step boundary
    history = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc"})).json()
    assert well_formed(history)
    assert "queued job" not in [m.get("content") for m in history]

    scripted.function = None
    scripted.latency = 0
    scripted.enqueue(tool_call_response("send_message", message="still here"))
    again = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    assert again.json()["messages"][-1]["content"] == "still here"


async def test_a_provider_fault_fails_the_run_with_its_reason(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(provider_down())
    run = await wait_for_run(client, (await send_async(client, agent["id"], "hi"))["id"])
    assert run["status"] == "failed" and run["stop_reason"] == "llm_api_error"
    scripted.enqueue(tool_call_response("send_message", message="ok"))
    assert (await wait_for_run(client, (await send_async(client, agent["id"], "hi"))["id"]))["status"] == (
        "completed"
    )


async def test_async_errors(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/agents/agent-nope/messages/async", json={"input": "hi"})
    assert missing.status_code == 404
    agent = await create_agent(client)
    empty = await client.post(f"/v1/agents/{agent['id']}/messages/async", json={})
    assert empty.status_code == 400
    assert (await client.post("/v1/agents/agent-nope/messages/cancel", json={})).status_code == 404
