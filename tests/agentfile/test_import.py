"""POST /v1/agents/import with the real `.af` fixtures Letta wrote, in both generations of the format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.llm.base import ModelRequest
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.schemas.messages import Message
from memfold.store import agents as agent_rows
from memfold.store import messages as message_rows
from memfold.store.orgs import DEFAULT_ORG_ID
from memfold.store.passages import as_utc
from tests.agentfile.helpers import (
    ALL_FIXTURES,
    CURRENT,
    LEGACY_CONVERSATION,
    LEGACY_CUSTOMER_SERVICE,
    WITH_FILES,
    fixture_bytes,
    fixture_json,
    import_ok,
)


def stored_in_context(app: FastAPI, agent_id: str) -> list[Message]:
    with app.state.memfold.db.read() as conn:
        record = agent_rows.get_agent(conn, DEFAULT_ORG_ID, agent_id)
        return message_rows.get_messages(conn, record.message_ids)


def stored_history(app: FastAPI, agent_id: str) -> list[Message]:
    with app.state.memfold.db.read() as conn:
        return message_rows.list_messages(conn, agent_id, limit=None, order="asc")


def rules(tool_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool rules without their unset fields (the API may show them as null)."""
    return [{k: v for k, v in rule.items() if v is not None} for rule in tool_rules]


async def agent_state(client: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/agents/{agent_id}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def test_the_fixtures_are_there() -> None:
    assert len(ALL_FIXTURES) == 4, "expected the four Letta agent files in shared/fixtures/agentfiles"


@pytest.mark.parametrize("name", ALL_FIXTURES)
async def test_every_fixture_imports(client: httpx.AsyncClient, app: FastAPI, name: str) -> None:
    document = fixture_json(name)
    body = await import_ok(client, fixture_bytes(name))
    [agent_id] = body["agent_ids"]
    assert agent_id.startswith("agent-")
    agent = await agent_state(client, agent_id)

    entry = document["agents"][0] if "agents" in document else document
    blocks = document["blocks"] if "agents" in document else document["core_memory"]
    assert agent["name"] == entry["name"]
    assert agent["system"] == entry["system"]
    assert {b["label"]: b["value"] for b in agent["blocks"]} == {b["label"]: b["value"] for b in blocks}
    skipped_tools = {s["name"] for s in body["skipped"] if s["kind"] == "tool"}
    assert {t["name"] for t in agent["tools"]} == {t["name"] for t in document["tools"]} - skipped_tools
    assert agent["message_ids"], "the in-context messages are imported"
    assert len(stored_in_context(app, agent_id)) == len(agent["message_ids"])
    assert all(m.role != "system" for m in stored_history(app, agent_id)), "compiled prompts are not stored"


async def test_current_format_blocks_tools_and_messages(client: httpx.AsyncClient, app: FastAPI) -> None:
    document = fixture_json(CURRENT)
    entry = document["agents"][0]
    body = await import_ok(client, fixture_bytes(CURRENT))
    [agent_id] = body["agent_ids"]
    agent = await agent_state(client, agent_id)

    assert agent["agent_type"] == "memgpt_v2_agent"
    assert sorted(agent["tags"]) == sorted(entry["tags"])
    assert rules(agent["tool_rules"]) == rules(entry["tool_rules"])
    by_label = {b["label"]: b for b in agent["blocks"]}
    for block in document["blocks"]:
        mine = by_label[block["label"]]
        assert (mine["value"], mine["limit"], mine["description"]) == (
            block["value"],
            block["limit"],
            block["description"],
        )
        assert mine["id"] != block["id"] and mine["id"].startswith("block-")
    tools = {t["name"]: t for t in agent["tools"]}
    for tool in document["tools"]:
        if tool["tool_type"] == "custom":
            assert tools[tool["name"]]["source_code"] == tool["source_code"]
            assert tools[tool["name"]]["json_schema"] == tool["json_schema"]
            assert tools[tool["name"]]["tags"] == tool["tags"]
        assert tools[tool["name"]]["id"] != tool["id"]

    # The in-context list, in order: the compiled system prompt (message-0) is not stored.
    context = stored_in_context(app, agent_id)
    assert [m.role for m in context] == ["assistant", "tool", "user", "user", "assistant", "tool"]
    boot, boot_result, login, user, reply, reply_result = context
    assert boot.reasoning == "Bootup sequence complete. Persona activated. Testing messaging functionality."
    assert boot.content is None and boot.tool_calls and boot.tool_calls[0].name == "send_message"
    assert boot_result.tool_call_id == boot.tool_calls[0].id and boot_result.name == "send_message"
    assert json.loads(login.content or "")["type"] == "login"
    assert user.content == "Test message for export"
    assert as_utc(user.created_at) == datetime(2025, 10, 10, 7, 14, 31, 639749, tzinfo=UTC)
    assert reply.tool_calls and json.loads(reply.tool_calls[0].arguments)["message"].startswith(
        "Test message received"
    )
    assert reply_result.tool_call_id == reply.tool_calls[0].id and reply_result.tool_status == "success"
    assert all(m.id.startswith("message-") and m.agent_id == agent_id for m in context)


async def test_older_format_conversation(client: httpx.AsyncClient, app: FastAPI) -> None:
    document = fixture_json(LEGACY_CONVERSATION)
    body = await import_ok(client, fixture_bytes(LEGACY_CONVERSATION))
    [agent_id] = body["agent_ids"]
    agent = await agent_state(client, agent_id)
    assert agent["agent_type"] == "memgpt_agent"
    assert rules(agent["tool_rules"]) == rules(document["tool_rules"])
    assert {b["label"]: b["limit"] for b in agent["blocks"]} == {
        b["label"]: b["limit"] for b in document["core_memory"]
    }

    history = stored_history(app, agent_id)
    assert len(history) == sum(m["role"] != "system" for m in document["messages"])
    context = stored_in_context(app, agent_id)
    # indices [89 (system), 81, 80, 82, ...]: the compiled prompt goes, the old summary alert leads.
    assert len(context) == len(document["in_context_message_indices"]) - 1
    assert context[0].role == "summary"
    assert context[0].content and context[0].content.startswith(
        "Note: prior messages (69 of 80 total messages)"
    )
    assert context[1].role == "user" and context[1].content == "am I your friend? "  # unwrapped from JSON
    tool_results = [m for m in history if m.role == "tool"]
    calls = {c.id: c.name for m in history for c in m.tool_calls or []}
    assert tool_results and all(m.name == calls[m.tool_call_id or ""] for m in tool_results)
    assert as_utc(history[0].created_at) == datetime(2025, 4, 1, 3, 47, 27, 492966, tzinfo=UTC)  # naive: UTC


async def test_files_and_sources_are_skipped_and_reported(client: httpx.AsyncClient) -> None:
    body = await import_ok(client, fixture_bytes(WITH_FILES))
    skipped = {(s["kind"], s["name"]) for s in body["skipped"]}
    assert {("source", "test_disk_export_source"), ("file", "test.txt"), ("file", "test.md")} <= skipped
    assert {("tool", "grep_files"), ("tool", "open_files"), ("tool", "semantic_search_files")} <= skipped
    agent = await agent_state(client, body["agent_ids"][0])
    assert {t["name"] for t in agent["tools"]} == {
        "conversation_search",
        "memory_insert",
        "memory_replace",
        "send_message",
    }


def _check_pairing(request: ModelRequest) -> None:
    """Every tool result the model is shown follows the call it answers (providers reject anything else)."""
    open_calls: set[str] = set()
    for message in request.messages:
        if message.role == "assistant":
            open_calls = {c.id for c in message.tool_calls}
        elif message.role == "tool":
            assert message.tool_call_id in open_calls


@pytest.mark.parametrize("name", ALL_FIXTURES)
async def test_an_imported_agent_answers(
    client: httpx.AsyncClient, scripted: ScriptedModel, name: str
) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(name)))["agent_ids"]
    agent = await agent_state(client, agent_id)
    assert agent["model"] == "scripted/test"  # the file's OpenAI model is not configured here: the default
    scripted.enqueue(tool_call_response("send_message", message="Welcome back.", thinking="Greet them."))
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "Do you remember me?"})
    assert response.status_code == 200, response.text
    messages = response.json()["messages"]
    assert [m["content"] for m in messages if m["message_type"] == "assistant_message"] == ["Welcome back."]

    request = scripted.last_request
    _check_pairing(request)
    system = request.messages[0].content or ""
    assert all(block["value"] in system for block in agent["blocks"])
    assert request.messages[-1].content == "Do you remember me?"
    assert len(request.messages) == len(agent["message_ids"]) + 2  # system prompt + history + the new input


async def test_the_imported_history_reaches_the_model(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(LEGACY_CONVERSATION)))["agent_ids"]
    scripted.enqueue(tool_call_response("send_message", message="Yes.", thinking="Answer."))
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "Still friends?"})
    assert response.status_code == 200, response.text
    shown = [m.content or "" for m in scripted.last_request.messages]
    assert any("Note: prior messages (69 of 80 total messages)" in text for text in shown)
    assert "am I your friend? " in shown


async def test_a_model_this_server_serves_is_kept(
    client: httpx.AsyncClient, app: FastAPI, scripted: ScriptedModel
) -> None:
    other = ScriptedModel(name="other")
    app.state.memfold.models.register_model(other)
    document = fixture_json(CURRENT)
    document["agents"][0]["llm_config"]["handle"] = "scripted/other"
    body = await import_ok(client, document)
    agent = await agent_state(client, body["agent_ids"][0])
    assert agent["model"] == "scripted/other"
    assert agent["llm_config"]["temperature"] == document["agents"][0]["llm_config"]["temperature"]
    assert agent["llm_config"]["context_window"] == 128_000  # the file's
    assert "model" not in {s["kind"] for s in body["skipped"]}

    body = await import_ok(client, fixture_bytes(CURRENT))
    replaced = await agent_state(client, body["agent_ids"][0])
    assert replaced["model"] == "scripted/test"
    # 128k was the file model's window; the replacement gets at most the default window.
    assert replaced["llm_config"]["context_window"] == app.state.memfold.settings.default_context_window
    [note] = [s for s in body["skipped"] if s["kind"] == "model"]
    assert note["name"] == "openai/gpt-4.1-mini" and "scripted/test" in note["reason"]


async def test_options(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.memfold.models.register_model(ScriptedModel(name="other"))
    body = await import_ok(
        client,
        fixture_bytes(CURRENT),
        name="renamed",
        append_copy_suffix=True,
        model="scripted/other",
        strip_messages=True,
        secrets=json.dumps({"WEATHER_KEY": "k-123"}),
        project_id="ignored",
    )
    agent = await agent_state(client, body["agent_ids"][0])
    assert agent["name"] == "renamed_copy"
    assert agent["model"] == "scripted/other"
    assert agent["message_ids"] == [] and stored_history(app, agent["id"]) == []
    assert agent["tool_exec_environment_variables"] == [
        {"key": "WEATHER_KEY", "value": "", "description": None}
    ]
    with app.state.memfold.db.read() as conn:
        record = agent_rows.get_agent(conn, DEFAULT_ORG_ID, agent["id"])
    assert record.tool_exec_environment_variables == {"WEATHER_KEY": "k-123"}

    # The deprecated spellings work too.
    body = await import_ok(
        client, fixture_bytes(CURRENT), override_name="old-style", env_vars_json='{"A": "1"}'
    )
    agent = await agent_state(client, body["agent_ids"][0])
    assert agent["name"] == "old-style" and [v["key"] for v in agent["tool_exec_environment_variables"]] == [
        "A"
    ]


async def test_existing_tools_are_replaced_unless_told_not_to(client: httpx.AsyncClient) -> None:
    await import_ok(client, fixture_bytes(CURRENT))
    document = fixture_json(CURRENT)
    tool = next(t for t in document["tools"] if t["name"] == "calculate_fibonacci")
    original = tool["source_code"]
    tool["source_code"] = original.replace("return 0", "return -1")

    await import_ok(client, document, override_existing_tools=False)
    [listed] = (await client.get("/v1/tools/", params={"name": "calculate_fibonacci"})).json()
    assert listed["source_code"] == original

    body = await import_ok(client, document)
    [listed_again] = (await client.get("/v1/tools/", params={"name": "calculate_fibonacci"})).json()
    assert listed_again["source_code"] == tool["source_code"] and listed_again["id"] == listed["id"]
    agent = await agent_state(client, body["agent_ids"][0])
    assert listed["id"] in {t["id"] for t in agent["tools"]}


async def test_older_heartbeat_parameter_is_left_to_memfold(client: httpx.AsyncClient) -> None:
    document = fixture_json(LEGACY_CUSTOMER_SERVICE)
    original = next(t for t in document["tools"] if t["name"] == "check_order_status")
    assert "request_heartbeat" in original["json_schema"]["parameters"]["properties"]
    body = await import_ok(client, fixture_bytes(LEGACY_CUSTOMER_SERVICE))
    tools = {t["name"]: t for t in (await agent_state(client, body["agent_ids"][0]))["tools"]}
    schema = tools["check_order_status"]["json_schema"]
    assert "request_heartbeat" not in schema["parameters"]["properties"]
    assert schema["parameters"]["required"] == ["order_number"]
    assert tools["check_order_status"]["source_code"] == original["source_code"]


async def test_a_block_shared_by_two_agents_stays_shared(client: httpx.AsyncClient) -> None:
    document = fixture_json(CURRENT)
    first = document["agents"][0]
    second = {**first, "id": "agent-1", "name": "second", "messages": [], "in_context_message_ids": []}
    document["agents"].append(second)
    body = await import_ok(client, document)
    assert len(body["agent_ids"]) == 2 and len(set(body["agent_ids"])) == 2
    a, b = [await agent_state(client, i) for i in body["agent_ids"]]
    assert {x["id"] for x in a["blocks"]} == {x["id"] for x in b["blocks"]}
    assert b["name"] == "second" and b["message_ids"] == []


async def test_an_imported_custom_tool_runs(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(CURRENT)))["agent_ids"]
    scripted.enqueue(
        tool_call_response("calculate_fibonacci", n=10, thinking="Compute it.", request_heartbeat=True),
        tool_call_response("send_message", message="It is 55.", thinking="Report."),
    )
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "Fibonacci of 10?"})
    assert response.status_code == 200, response.text
    [result] = [m for m in response.json()["messages"] if m["message_type"] == "tool_return_message"]
    assert result["status"] == "success", result
    assert "55" in result["tool_return"]
