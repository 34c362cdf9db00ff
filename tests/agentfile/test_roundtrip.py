"""Export -> import keeps an agent whole: blocks, tools, every message and the in-context order,
archival passages (memfold's extension), and the agent's configuration."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from memfold.llm.scripted import (
    ScriptedModel,
    text_response,
    tool_call,
    tool_call_response,
    tool_calls_response,
)
from memfold.schemas.messages import Message
from memfold.store import agents as agent_rows
from memfold.store import messages as message_rows
from memfold.store.orgs import DEFAULT_ORG_ID
from memfold.store.passages import as_utc
from tests.agentfile.helpers import CURRENT, export_json, fixture_bytes, import_ok
from tests.helpers import create_agent

Row = tuple[Any, ...]


def _shape(m: Message) -> Row:
    """What a message is, without its id, agent and bookkeeping (step, run, seq)."""
    calls = [(c.id, c.name, c.arguments) for c in m.tool_calls or []]
    return (
        m.role,
        m.content,
        m.reasoning,
        calls,
        m.tool_call_id,
        m.tool_status,
        m.name,
        as_utc(m.created_at),
    )


def history(app: FastAPI, agent_id: str) -> list[Row]:
    with app.state.memfold.db.read() as conn:
        return [_shape(m) for m in message_rows.list_messages(conn, agent_id, limit=None, order="asc")]


def in_context(app: FastAPI, agent_id: str) -> list[Row]:
    with app.state.memfold.db.read() as conn:
        ids = agent_rows.get_agent(conn, DEFAULT_ORG_ID, agent_id).message_ids
        return [_shape(m) for m in message_rows.get_messages(conn, ids)]


async def passages(client: httpx.AsyncClient, agent_id: str) -> list[Row]:
    response = await client.get(f"/v1/agents/{agent_id}/archival-memory", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [(p["text"], sorted(p["tags"] or []), p["created_at"]) for p in response.json()]


async def state(client: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/agents/{agent_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def configuration(agent: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": agent["name"],
        "agent_type": agent["agent_type"],
        "system": agent["system"],
        "description": agent["description"],
        "tags": sorted(agent["tags"]),
        "metadata": agent["metadata"],
        "tool_rules": agent["tool_rules"],
        "model": agent["model"],
        "context_window": agent["llm_config"]["context_window"],
        "embedding": agent["embedding_config"]["handle"],
        "env_keys": [v["key"] for v in agent["tool_exec_environment_variables"]],
        "blocks": sorted(
            (b["label"], b["value"], b["limit"], b["description"], b["read_only"]) for b in agent["blocks"]
        ),
        "tools": sorted(
            (t["name"], t["tool_type"], t["source_code"], json.dumps(t["json_schema"], sort_keys=True))
            for t in agent["tools"]
        ),
    }


async def round_trip(client: httpx.AsyncClient, agent_id: str) -> str:
    response = await client.get(f"/v1/agents/{agent_id}/export")
    assert response.status_code == 200, response.text
    [copy_id] = (await import_ok(client, response.text))["agent_ids"]
    assert isinstance(copy_id, str) and copy_id != agent_id
    return copy_id


async def test_a_lived_in_agent_round_trips(
    client: httpx.AsyncClient, app: FastAPI, scripted: ScriptedModel
) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(CURRENT)))["agent_ids"]
    patch = {"tool_exec_environment_variables": {"WEATHER_KEY": "secret"}, "description": "A data analyst."}
    assert (await client.patch(f"/v1/agents/{agent_id}", json=patch)).status_code == 200
    # A turn with a memory edit, a heartbeat and a reply; then a reply with two tool calls at once.
    scripted.enqueue(
        tool_call_response(
            "memory_insert", label="human", new_str="Likes tea.", thinking="Note it.", request_heartbeat=True
        ),
        tool_call_response("send_message", message="Noted!", thinking="Confirm."),
        tool_calls_response(
            tool_call("conversation_search", query="tea", thinking="Look.", request_heartbeat=True),
            tool_call("send_message", message="You like tea.", thinking="Answer."),
        ),
        tool_call_response("send_message", message="Done.", thinking="Wrap up."),
    )
    for text in ("I like tea.", "What do I like?"):
        response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
        assert response.status_code == 200, response.text
    for text, tags, when in (
        ("Sarah's favourite tea is oolong.", ["tea", "sarah"], "2024-03-01T10:00:00Z"),
        ("The Q3 model uses a Fibonacci trend filter.", ["work"], "2024-05-02T12:30:00Z"),
    ):
        body = {"text": text, "tags": tags, "created_at": when}
        response = await client.post(f"/v1/agents/{agent_id}/archival-memory", json=body)
        assert response.status_code == 200, response.text

    copy_id = await round_trip(client, agent_id)

    original, copy = await state(client, agent_id), await state(client, copy_id)
    assert configuration(copy) == configuration(original)
    assert {b["id"] for b in copy["blocks"]}.isdisjoint({b["id"] for b in original["blocks"]})
    assert history(app, copy_id) == history(app, agent_id)
    assert len(history(app, copy_id)) > 10
    assert in_context(app, copy_id) == in_context(app, agent_id)
    assert await passages(client, copy_id) == await passages(client, agent_id)
    assert len(await passages(client, copy_id)) == 2

    # The copy's passages are embedded and searchable (re-embedded with the copy's embedding).
    search = await client.get(f"/v1/agents/{copy_id}/archival-memory/search", params={"query": "oolong tea"})
    assert search.status_code == 200, search.text
    assert search.json()["results"][0]["content"] == "Sarah's favourite tea is oolong."


async def test_a_native_agent_round_trips(
    client: httpx.AsyncClient, app: FastAPI, scripted: ScriptedModel
) -> None:
    """letta_v1_agent: replies in plain text, with reasoning; text beside tool calls is content."""
    agent = await create_agent(client, agent_type="letta_v1_agent")
    scripted.enqueue(
        text_response("Hello there.", reasoning="They greeted me."),
        tool_calls_response(
            tool_call("memory_insert", label="human", new_str="Is called Ada."), content="Let me note that."
        ),
        text_response("Noted, Ada."),
    )
    for text in ("Hi!", "I am Ada."):
        response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": text})
        assert response.status_code == 200, response.text
    shapes = history(app, agent["id"])
    assert any(role == "assistant" and content and reasoning for role, content, reasoning, *_ in shapes)
    assert any(role == "assistant" and content and calls for role, content, _, calls, *_ in shapes)

    copy_id = await round_trip(client, agent["id"])
    assert history(app, copy_id) == shapes
    assert in_context(app, copy_id) == in_context(app, agent["id"])
    assert configuration(await state(client, copy_id)) == configuration(await state(client, agent["id"]))


async def test_the_summary_stays_first(
    client: httpx.AsyncClient, app: FastAPI, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(
        tool_call_response("send_message", message="One.", thinking="a"),
        text_response("They said hello twice."),  # the summarizer's answer
    )
    assert (
        await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hello"})
    ).status_code == 200
    compacted = await client.post(
        f"/v1/agents/{agent['id']}/summarize", json={"compaction_settings": {"mode": "all"}}
    )
    assert compacted.status_code == 200, compacted.text
    context = in_context(app, agent["id"])
    assert context and context[0][0] == "summary"

    copy_id = await round_trip(client, agent["id"])
    assert in_context(app, copy_id) == context
    document = await export_json(client, copy_id)
    [entry] = document["agents"]
    roles = {m["id"]: m["role"] for m in entry["messages"]}
    assert [roles[i] for i in entry["in_context_message_ids"][:2]] == ["system", "summary"]
