"""An agent calls MCP tools end to end: scripted model -> executor -> MCP session -> the test's own
MCP server -> tool return. A server that went away is a tool error, and the agent goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.tools.mcp import McpClients
from tests.api.test_mcp_servers import register, server_tools
from tests.helpers import create_agent
from tests.tools.mcp_server_fixture import HttpFixture, stdio_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def mcp_clients(app: FastAPI) -> Iterator[McpClients]:
    clients: McpClients = app.state.memfold.loop.runtime.mcp
    yield clients
    clients.close()


async def agent_with(client: httpx.AsyncClient, *tool_ids: str) -> dict[str, Any]:
    agent = await create_agent(client, include_base_tools=False, tools=["send_message"])
    for tool_id in tool_ids:
        attached = await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{tool_id}")
        assert attached.status_code == 200, attached.text
    return agent


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> list[dict[str, Any]]:
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def returns(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (m["name"], m["status"], m["tool_return"])
        for m in messages
        if m["message_type"] == "tool_return_message"
    ]


def said(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["message_type"] == "assistant_message"]


async def test_agent_calls_an_mcp_tool_over_stdio(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    server = await register(client, "calc", stdio_config())
    tools = await server_tools(client, server["id"])
    agent = await agent_with(client, tools["add"]["id"], tools["fail"]["id"])

    scripted.enqueue(
        tool_call_response("add", a=20, b=22, request_heartbeat=True),
        tool_call_response("fail", reason="just checking", request_heartbeat=True),
        tool_call_response("send_message", message="The sum is 42."),
    )
    messages = await send(client, agent["id"], "What is 20 + 22?")
    assert returns(messages) == [
        ("add", "success", "42"),
        ("fail", "error", "Error executing tool fail: fixture failure: just checking"),
    ]
    assert said(messages) == ["The sum is 42."]

    # The model was offered the MCP tool with the server's own input schema.
    offered = {spec.name: spec for spec in scripted.requests[0].tools}
    assert offered["add"].description == "Add two integers."
    assert offered["add"].parameters["properties"]["a"]["type"] == "integer"
    assert {"a", "b"} <= set(offered["add"].parameters["required"])
    # What the model saw as the result of its call, in the next request.
    tool_messages = [m for m in scripted.requests[1].messages if m.role == "tool"]
    assert tool_messages[-1].content == "42"


async def test_a_server_that_went_away_is_a_tool_error_and_the_agent_goes_on(
    client: httpx.AsyncClient, scripted: ScriptedModel, tmp_path: Path
) -> None:
    fixture = HttpFixture(tmp_path / "mcp.log").start()
    try:
        server = await register(
            client, "remote", {"mcp_server_type": "streamable_http", "server_url": fixture.url}
        )
        tools = await server_tools(client, server["id"])
        agent = await agent_with(client, tools["echo"]["id"])

        fixture.stop()
        scripted.enqueue(
            tool_call_response("echo", text="anyone there?", request_heartbeat=True),
            tool_call_response("send_message", message="The echo server is down."),
        )
        messages = await send(client, agent["id"], "Echo something.")
        [(name, status, text)] = returns(messages)
        assert (name, status) == ("echo", "error")
        assert text.startswith("Error: ") and "MCP server 'remote'" in text
        assert said(messages) == ["The echo server is down."]

        # Back on the same port: the next call reconnects by itself.
        fixture.start()
        scripted.enqueue(
            tool_call_response("echo", text="back again", request_heartbeat=True),
            tool_call_response("send_message", message="It works again."),
        )
        messages = await send(client, agent["id"], "Try again.")
        assert returns(messages) == [("echo", "success", "back again")]
        assert said(messages) == ["It works again."]
    finally:
        fixture.stop()


async def test_a_deleted_server_leaves_no_tool_behind(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    server = await register(client, "calc", stdio_config())
    tools = await server_tools(client, server["id"])
    agent = await agent_with(client, tools["add"]["id"])
    assert (await client.delete(f"/v1/mcp-servers/{server['id']}")).status_code == 204

    scripted.enqueue(
        tool_call_response("add", a=1, b=2, request_heartbeat=True),
        tool_call_response("send_message", message="No adding today."),
    )
    messages = await send(client, agent["id"], "Add 1 and 2.")
    [(name, status, text)] = returns(messages)
    assert (name, status) == ("add", "error") and "no tool named 'add'" in text
    assert "add" not in {spec.name for spec in scripted.requests[0].tools}
    assert said(messages) == ["No adding today."]
