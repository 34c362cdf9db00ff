"""One agent, one step at a time: 50 concurrent sends (plain, streamed and queued) are all answered,
none lost, and no turn's tool calls interleave with another's."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import create_agent
from tests.runs.test_async_runs import wait_for_run

SENDS = 50


def two_steps(request: ModelRequest) -> ModelResponse:
    """A user message -> a memory edit with a heartbeat; its result -> a reply quoting the message."""
    last_user = next(m.content for m in reversed(request.messages) if m.role == "user")
    if request.messages[-1].role == "user":
        return tool_call_response("core_memory_append", label="human", content="+", request_heartbeat=True)
    return tool_call_response("send_message", message=f"re: {last_user}")


async def send(client: httpx.AsyncClient, agent_id: str, index: int) -> str | None:
    """Send message `index` by one of three routes; returns the run id of a queued one."""
    text = f"message {index}"
    route = index % 3
    if route == 0:
        response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
        assert response.status_code == 200, response.text
        assert response.json()["messages"][-1]["content"] == f"re: {text}"
        return None
    if route == 1:
        response = await client.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": text})
        assert response.status_code == 200 and f"re: {text}" in response.text
        return None
    response = await client.post(f"/v1/agents/{agent_id}/messages/async", json={"input": text})
    assert response.status_code == 200, response.text
    run_id: str = response.json()["id"]
    return run_id


async def test_fifty_concurrent_sends_to_one_agent(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.function = two_steps
    scripted.latency = 0.002
    run_ids = await asyncio.gather(*(send(client, agent["id"], i) for i in range(SENDS)))
    for run_id in filter(None, run_ids):
        assert (await wait_for_run(client, run_id))["status"] == "completed"

    listed = await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc", "limit": 1000})
    history: list[dict[str, Any]] = listed.json()
    users = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert sorted(users) == sorted(f"message {i}" for i in range(SENDS))  # each once
    # Turns never interleave: after a user message come exactly its call, its result and its reply.
    turns = [
        m
        for m in history
        if m["message_type"]
        in ("user_message", "tool_call_message", "tool_return_message", "assistant_message")
    ]
    assert len(turns) == 4 * SENDS
    for start in range(0, len(turns), 4):
        user, call, result, reply = turns[start : start + 4]
        assert (
            user["message_type"],
            call["message_type"],
            result["message_type"],
            reply["message_type"],
        ) == (
            "user_message",
            "tool_call_message",
            "tool_return_message",
            "assistant_message",
        )
        assert result["tool_call_id"] == call["tool_call"]["tool_call_id"]
        assert reply["content"] == f"re: {user['content']}"
    human = (await client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")).json()
    assert human["value"].count("+") == SENDS  # no edit lost
