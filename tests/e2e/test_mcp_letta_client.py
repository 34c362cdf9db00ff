"""MCP servers through the official `letta-client` SDK against a real `memfold serve` subprocess:
register a stdio server, list and run its tools, and an agent (its model a fake OpenAI server)
calls one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta, NotFoundError

from tests.e2e.server_process import ServerProcess
from tests.fakes.openai_server import FakeOpenAIServer
from tests.tools.mcp_server_fixture import FIXTURE, TOOL_NAMES

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def server(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "home", env=fake_openai.env())
    with process:
        yield process
    print("\n".join(process.output().splitlines()[-60:]))  # shown when the test fails


def test_register_list_run_and_use_an_mcp_server(
    server: ServerProcess, fake_openai: FakeOpenAIServer
) -> None:
    client = Letta(base_url=server.base_url, max_retries=0, timeout=60.0)

    created = client.mcp_servers.create(
        server_name="fixture",
        config={
            "mcp_server_type": "stdio",
            "command": sys.executable,
            "args": [str(FIXTURE)],
            "env": {"FIXTURE_TOKEN": "not-for-your-eyes"},
        },
    )
    assert created.id is not None and created.id.startswith("mcp_server-")
    assert created.mcp_server_type == "stdio"
    assert created.env == {"FIXTURE_TOKEN": ""}

    [listed] = client.mcp_servers.list()
    assert (listed.id, listed.server_name, type(listed).__name__) == (created.id, "fixture", "StdioMcpServer")

    tools = {str(tool.name): tool for tool in client.mcp_servers.tools.list(created.id)}
    assert sorted(tools) == TOOL_NAMES
    add = tools["add"]
    assert add.tool_type == "external_mcp"
    parameters: Any = (add.json_schema or {}).get("parameters")
    assert parameters["required"] == ["a", "b"]
    assert client.mcp_servers.tools.retrieve(add.id, mcp_server_id=created.id).name == "add"

    ran = client.mcp_servers.tools.run(
        tools["env_value"].id, mcp_server_id=created.id, args={"name": "FIXTURE_TOKEN"}
    )
    assert (ran.status, ran.func_return) == ("success", "not-for-your-eyes")

    renamed = client.mcp_servers.update(
        created.id,
        server_name="calculator",
        config={"mcp_server_type": "stdio", "command": None, "args": None},  # None: unchanged
    )
    assert renamed.server_name == "calculator"
    summary = client.mcp_servers.refresh(created.id)
    assert isinstance(summary, dict) and sorted(summary["unchanged"]) == TOOL_NAMES

    # An agent with the MCP tool: the model (a fake OpenAI server) calls it, then answers.
    agent = client.agents.create(
        model="openai/gpt-4o-mini",
        memory_blocks=[
            {"label": "human", "value": "Name: Ada"},
            {"label": "persona", "value": "A calculator."},
        ],
        tools=["send_message"],
        include_base_tools=False,
    )
    client.agents.tools.attach(add.id, agent_id=agent.id)
    fake_openai.queue_tool_call("add", thinking="Sum it.", a=19, b=23, request_heartbeat=True)
    fake_openai.queue_tool_call("send_message", thinking="Answer.", message="It is 42.")
    response = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "19 + 23?"}])
    [result] = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert (result.status, result.tool_return) == ("success", "42")
    assert [m.content for m in response.messages if m.message_type == "assistant_message"] == ["It is 42."]
    offered = {tool["function"]["name"] for tool in fake_openai.chat_requests[0]["tools"]}
    assert offered == {"send_message", "add"}

    client.mcp_servers.delete(created.id)
    assert client.mcp_servers.list() == []
    with pytest.raises(NotFoundError):
        client.mcp_servers.retrieve(created.id)
