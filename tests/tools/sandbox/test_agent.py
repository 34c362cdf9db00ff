"""Custom tools called by an agent (scripted model, through the API): the sandbox's answers reach the
model as tool results, and a tool that misbehaves leaves the server and the agent usable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.ids import new_id
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.store import tools as tool_rows
from memfold.store.orgs import DEFAULT_ORG_ID
from memfold.tools.schema import generate_tool_schema
from tests.helpers import create_agent

WEATHER = '''
import os

def get_weather(city: str) -> str:
    """Report the weather.

    Args:
        city: The city.
    """
    print(f"looking up {city}")
    key = os.environ.get("WEATHER_API_KEY")
    leaked = [name for name in ("MEMFOLD_TEST_SECRET", "OPENAI_API_KEY") if name in os.environ]
    return f"sunny in {city} (key={key}, leaked={leaked})"
'''

SPIN = '''
def spin() -> str:
    """Never finishes."""
    while True:
        pass
'''


def add_tool(app: FastAPI, source: str) -> str:
    """Store a custom tool the way the tools API does and return its name."""
    schema = generate_tool_schema(source)
    values: dict[str, Any] = {
        "name": schema["name"],
        "description": schema["description"],
        "tool_type": "custom",
        "source_type": "python",
        "source_code": source,
        "json_schema": schema,
        "tags": [],
        "return_char_limit": 6000,
    }
    with app.state.memfold.db.write() as conn:
        tool_rows.upsert_tool(conn, DEFAULT_ORG_ID, new_id("tool"), values)
    return str(schema["name"])


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tool_returns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["message_type"] == "tool_return_message"]


async def test_an_agent_calls_a_custom_tool_with_its_own_environment_only(
    app: FastAPI, client: httpx.AsyncClient, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFOLD_TEST_SECRET", "server-only-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-key")
    name = add_tool(app, WEATHER)
    env = {"WEATHER_API_KEY": "k-1"}
    agent = await create_agent(client, tools=[name], tool_exec_environment_variables=env)
    scripted.enqueue(
        tool_call_response(name, city="Oslo", request_heartbeat=True),
        tool_call_response("send_message", message="It is sunny."),
    )
    body = await send(client, agent["id"], "Weather in Oslo?")
    [result] = tool_returns(body)
    assert result["status"] == "success"
    assert result["tool_return"] == "sunny in Oslo (key=k-1, leaked=[])"
    # The model read the tool's answer as the result of its call.
    assert scripted.requests[1].messages[-1].content == "sunny in Oslo (key=k-1, leaked=[])"
    assert body["messages"][-1]["content"] == "It is sunny."


async def test_a_tool_killed_at_the_time_limit_leaves_the_agent_usable(
    app: FastAPI, client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    name = add_tool(app, SPIN)
    agent = await create_agent(client, tools=[name])
    scripted.enqueue(
        tool_call_response(name),
        tool_call_response("send_message", message="That tool hung; sorry."),
        tool_call_response("send_message", message="Still here."),
    )
    body = await send(client, agent["id"], "Spin, please.")
    [result] = tool_returns(body)
    assert result["status"] == "error"
    assert "did not finish within 2 seconds" in result["tool_return"]
    assert scripted.requests[1].messages[-1].content == result["tool_return"]
    assert body["messages"][-1]["content"] == "That tool hung; sorry."

    follow_up = await send(client, agent["id"], "Are you there?")
    assert follow_up["messages"][-1]["content"] == "Still here."
    assert (await client.get("/v1/health/")).status_code == 200
