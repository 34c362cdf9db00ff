"""GET /v1/agents/{agent_id}/export: the current format, file-local ids, and no secrets."""

from __future__ import annotations

import json

import httpx

from memfold.agentfile import PASSAGES_KEY
from memfold.agentfile.exporter import scrub_config
from tests.agentfile.helpers import CURRENT, export_json, fixture_bytes, import_ok
from tests.helpers import assert_error, create_agent

SECRET = "sk-very-secret-value-123"


async def test_export_is_the_current_format_with_file_local_ids(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, name="exported", tags=["a", "b"], metadata={"team": "x"})
    document = await export_json(client, agent["id"])
    assert set(document) >= {
        "agents",
        "groups",
        "blocks",
        "files",
        "sources",
        "tools",
        "mcp_servers",
        "metadata",
    }
    assert PASSAGES_KEY in document
    [entry] = document["agents"]
    assert entry["id"] == "agent-0" and entry["name"] == "exported"
    assert entry["tags"] == ["a", "b"] and entry["metadata"] == {"team": "x"}
    assert entry["agent_type"] == agent["agent_type"] and entry["system"] == agent["system"]
    assert (
        entry["model"] == agent["model"]
        and entry["context_window_limit"] == agent["llm_config"]["context_window"]
    )
    assert entry["block_ids"] == [f"block-{i}" for i in range(len(agent["blocks"]))]
    assert [b["id"] for b in document["blocks"]] == entry["block_ids"]
    assert {b["label"]: b["value"] for b in document["blocks"]} == {
        b["label"]: b["value"] for b in agent["blocks"]
    }
    assert entry["tool_ids"] == [t["id"] for t in document["tools"]]
    assert {t["name"] for t in document["tools"]} == {t["name"] for t in agent["tools"]}
    # Built-ins travel by name: their source is memfold's own code.
    assert all(t["source_code"] is None for t in document["tools"])
    # Letta expects the in-context list to open with the compiled system prompt.
    [system] = entry["messages"]
    assert entry["in_context_message_ids"] == [system["id"]] == ["message-0"]
    assert system["role"] == "system" and agent["system"] in system["content"][0]["text"]
    assert "Name: unknown" in system["content"][0]["text"]  # the blocks, compiled in


async def test_secrets_are_blank(client: httpx.AsyncClient) -> None:
    agent = await create_agent(
        client,
        tool_exec_environment_variables={"WEATHER_API_KEY": SECRET},
        secrets={"DB_PASSWORD": SECRET},
    )
    response = await client.get(f"/v1/agents/{agent['id']}/export")
    assert response.status_code == 200
    assert SECRET not in response.text
    [entry] = json.loads(response.text)["agents"]
    assert entry["tool_exec_environment_variables"] == {"DB_PASSWORD": "", "WEATHER_API_KEY": ""}


def test_credentials_are_removed_from_model_configs() -> None:
    config = {"handle": "openai/x", "api_key": SECRET, "auth_token": SECRET, "temperature": 0.5}
    assert scrub_config(config) == {"handle": "openai/x", "temperature": 0.5}
    assert scrub_config(None) is None


async def test_custom_tools_keep_their_source(client: httpx.AsyncClient) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(CURRENT)))["agent_ids"]
    document = await export_json(client, agent_id)
    tools = {t["name"]: t for t in document["tools"]}
    assert "def calculate_fibonacci(n: int) -> int:" in tools["calculate_fibonacci"]["source_code"]
    assert tools["calculate_fibonacci"]["tool_type"] == "custom"
    assert tools["send_message"]["source_code"] is None


async def test_scrub_messages(client: httpx.AsyncClient) -> None:
    [agent_id] = (await import_ok(client, fixture_bytes(CURRENT)))["agent_ids"]
    full = (await export_json(client, agent_id))["agents"][0]
    assert len(full["messages"]) == 7 and len(full["in_context_message_ids"]) == 7
    scrubbed = (await export_json(client, agent_id, scrub_messages="true"))["agents"][0]
    assert scrubbed["messages"] == [] and scrubbed["in_context_message_ids"] == []


async def test_export_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/export"), 404)
    agent = await create_agent(client)
    url = f"/v1/agents/{agent['id']}/export"
    assert_error(await client.get(url, params={"use_legacy_format": "true"}), 400)
    assert_error(await client.get(url, params={"conversation_id": "conv-1"}), 404)
    assert (await client.get(url, params={"max_steps": 5})).status_code == 200  # accepted, ignored
