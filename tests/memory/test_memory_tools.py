"""The agent uses archival_memory_insert/search and conversation_search through the scripted model."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.store import steps as step_rows
from tests.helpers import create_agent


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tool_returns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["message_type"] == "tool_return_message"]


async def test_insert_then_search_archival_memory(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await create_agent(client, timezone="Europe/Lisbon")
    scripted.enqueue(
        tool_call_response(
            "archival_memory_insert",
            content="Ada's daughter Mia starts school in September.",
            tags=["family"],
            request_heartbeat=True,
        ),
        tool_call_response("send_message", message="Noted."),
    )
    body = await send(client, agent["id"], "Mia starts school in September")
    assert tool_returns(body)[0]["tool_return"] == "Stored in archival memory."
    assert tool_returns(body)[0]["status"] == "success"

    listed = (await client.get(f"/v1/agents/{agent['id']}/archival-memory")).json()
    assert [(p["text"], p["tags"]) for p in listed] == [
        ("Ada's daughter Mia starts school in September.", ["family"])
    ]
    assert listed[0]["embedding_config"]["handle"] == "local/hash-384"

    scripted.enqueue(
        tool_call_response(
            "archival_memory_search", query="when does Mia start school", request_heartbeat=True
        ),
        tool_call_response("archival_memory_search", query="school", tags=["work"], request_heartbeat=True),
        tool_call_response("send_message", message="In September."),
    )
    body = await send(client, agent["id"], "When does Mia start school?")
    found, filtered = tool_returns(body)
    results = json.loads(found["tool_return"])
    assert results[0]["content"] == "Ada's daughter Mia starts school in September."
    assert results[0]["tags"] == ["family"]
    assert results[0]["timestamp"][-6:] in ("+00:00", "+01:00")  # shown in the agent's time zone
    assert filtered["tool_return"] == "No results found."


async def test_archival_insert_lands_with_its_step_or_not_at_all(
    client: httpx.AsyncClient, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await create_agent(client)

    def failing_step_row(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(step_rows, "insert_step", failing_step_row)
    scripted.enqueue(tool_call_response("archival_memory_insert", content="lost with its step"))
    response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "remember this"})
    assert response.status_code == 500
    assert (await client.get(f"/v1/agents/{agent['id']}/archival-memory")).json() == []
    assert (await client.get("/v1/archives/", params={"agent_id": agent["id"]})).json() == []


async def test_tool_mistakes_come_back_to_the_model(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(
        tool_call_response(
            "archival_memory_search", query="x", start_datetime="last tuesday", request_heartbeat=True
        ),
        tool_call_response("archival_memory_search", query="x", top_k=0, request_heartbeat=True),
        tool_call_response("archival_memory_insert", content="   ", request_heartbeat=True),
        tool_call_response("conversation_search", query="x", roles=["wizard"], request_heartbeat=True),
        tool_call_response("send_message", message="ok"),
    )
    body = await send(client, agent["id"], "go")
    returns = tool_returns(body)
    assert [r["status"] for r in returns] == ["error"] * 4
    assert "ISO 8601" in returns[0]["tool_return"]
    assert "top_k must be at least 1" in returns[1]["tool_return"]
    assert "content is empty" in returns[2]["tool_return"]
    assert "roles" in returns[3]["tool_return"]


async def test_conversation_search_finds_an_evicted_message(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    turns = [
        "My bike was stolen from the station on Tuesday.",
        "I am thinking about learning the cello.",
        "The weather has been awful all week.",
        "Lunch today was a bowl of ramen.",
    ]
    for i, text in enumerate(turns):
        scripted.enqueue(tool_call_response("send_message", message=f"reply {i}"))
        await send(client, agent["id"], text)
    state = (await client.get(f"/v1/agents/{agent['id']}")).json()
    kept = state["message_ids"][-4:]  # only the last two turns stay in context
    response = await client.patch(f"/v1/agents/{agent['id']}", json={"message_ids": kept})
    assert response.status_code == 200, response.text

    scripted.enqueue(
        tool_call_response(
            "conversation_search", query="what happened to my bicycle bike", request_heartbeat=True
        ),
        tool_call_response(
            "conversation_search", query="reply", roles=["assistant"], limit=2, request_heartbeat=True
        ),
        tool_call_response(
            "conversation_search", query="bike", start_date="2999-01-01", request_heartbeat=True
        ),
        tool_call_response("send_message", message="It was stolen."),
    )
    body = await send(client, agent["id"], "Do you remember what happened to my bike?")
    shown = [m.content for m in scripted.requests[-4].messages]
    assert not any(turns[0] in (content or "") for content in shown)  # evicted from the context window

    by_text, by_role, by_date = (r["tool_return"] for r in tool_returns(body))
    hits = json.loads(by_text)
    assert hits[0]["content"] == turns[0] and hits[0]["role"] == "user"
    assert all(h["role"] == "assistant" for h in json.loads(by_role))
    assert len(json.loads(by_role)) == 2
    assert by_date == "No results found."


async def test_conversation_search_sees_send_message_replies(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="Your locker combination is 2719."))
    await send(client, agent["id"], "what's my locker combination again?")
    scripted.enqueue(
        tool_call_response(
            "conversation_search", query="locker combination", roles=["assistant"], request_heartbeat=True
        ),
        tool_call_response("send_message", message="2719"),
    )
    body = await send(client, agent["id"], "and the locker?")
    hits = json.loads(tool_returns(body)[0]["tool_return"])
    assert hits[0]["content"] == "Your locker combination is 2719."
