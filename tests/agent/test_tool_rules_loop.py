"""Tool rules enforced by the agent loop, one test per rule type (scripted model, through the API)."""

from __future__ import annotations

from typing import Any

import httpx

from memfold.llm.base import ModelRequest
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import create_agent

TOOLS = ["send_message", "core_memory_append", "archival_memory_insert", "archival_memory_search"]


async def rules_agent(client: httpx.AsyncClient, *rules: dict[str, Any]) -> str:
    agent = await create_agent(client, tools=TOOLS, include_base_tools=False, tool_rules=list(rules))
    return str(agent["id"])


async def send(client: httpx.AsyncClient, agent_id: str, text: str = "go") -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def offered(request: ModelRequest) -> set[str]:
    return {tool.name for tool in request.tools}


def returns(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (m["status"], m["tool_return"])
        for m in body["messages"]
        if m["message_type"] == "tool_return_message"
    ]


def append(**extra: Any) -> Any:
    return tool_call_response("core_memory_append", label="human", content="x", **extra)


async def test_init_rule_offers_only_its_tool_first(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await rules_agent(client, {"type": "run_first", "tool_name": "archival_memory_search"})
    scripted.enqueue(
        tool_call_response("archival_memory_search", query="anything", request_heartbeat=True),
        tool_call_response("send_message", message="done"),
    )
    await send(client, agent)
    first, second = scripted.requests
    assert offered(first) == {"archival_memory_search"}
    assert offered(second) == set(TOOLS)


async def test_terminal_rule_ends_the_turn(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await rules_agent(client, {"type": "exit_loop", "tool_name": "core_memory_append"})
    scripted.enqueue(append(request_heartbeat=True))  # asks for more, but the rule ends the turn
    body = await send(client, agent)
    assert body["stop_reason"]["stop_reason"] == "tool_rule"
    assert len(scripted.requests) == 1


async def test_continue_rule_forces_another_step(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await rules_agent(client, {"type": "continue_loop", "tool_name": "core_memory_append"})
    scripted.enqueue(append(request_heartbeat=False), tool_call_response("send_message", message="ok"))
    body = await send(client, agent)
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    assert len(scripted.requests) == 2


async def test_child_rule_constrains_the_next_call(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await rules_agent(
        client,
        {"type": "constrain_child_tools", "tool_name": "core_memory_append", "children": ["send_message"]},
    )
    scripted.enqueue(
        append(request_heartbeat=True),
        # The model breaks the rule anyway: the call does not run and the model is told why.
        tool_call_response("archival_memory_insert", content="nope", request_heartbeat=True),
        tool_call_response("send_message", message="ok"),
    )
    body = await send(client, agent)
    assert offered(scripted.requests[1]) == {"send_message"}
    [(_, _), (status, refusal)] = returns(body)  # (send_message's own return is not shown)
    assert status == "error" and "archival_memory_insert may not be called now" in refusal
    passages = (await client.get(f"/v1/agents/{agent}/archival-memory")).json()
    assert passages == []


async def test_parent_rule_gates_its_children(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await rules_agent(
        client,
        {
            "type": "parent_last_tool",
            "tool_name": "archival_memory_search",
            "children": ["archival_memory_insert"],
        },
    )
    scripted.enqueue(
        tool_call_response("archival_memory_search", query="x", request_heartbeat=True),
        tool_call_response("send_message", message="ok"),
    )
    await send(client, agent)
    first, second = scripted.requests
    assert "archival_memory_insert" not in offered(first)
    assert "archival_memory_insert" in offered(second)


async def test_conditional_rule_routes_on_the_output(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await rules_agent(
        client,
        {
            "type": "conditional",
            "tool_name": "archival_memory_search",
            "child_output_mapping": {"No results found.": "archival_memory_insert"},
            "default_child": "send_message",
        },
    )
    scripted.enqueue(
        tool_call_response("archival_memory_search", query="cats", request_heartbeat=True),
        tool_call_response("archival_memory_insert", content="Cats are great.", request_heartbeat=True),
        tool_call_response("archival_memory_search", query="cats", request_heartbeat=True),
        tool_call_response("send_message", message="found it"),
    )
    await send(client, agent)
    assert offered(scripted.requests[1]) == {"archival_memory_insert"}  # nothing found -> insert
    assert offered(scripted.requests[3]) == {"send_message"}  # found -> the default child


async def test_max_count_rule_caps_calls_in_a_turn(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await rules_agent(
        client, {"type": "max_count_per_step", "tool_name": "core_memory_append", "max_count_limit": 1}
    )
    scripted.enqueue(
        append(request_heartbeat=True),
        append(request_heartbeat=True),
        tool_call_response("send_message", message="ok"),
    )
    body = await send(client, agent)
    assert "core_memory_append" not in offered(scripted.requests[1])
    [(first, _), (second, refusal)] = returns(body)
    assert first == "success" and second == "error" and "core_memory_append" in refusal
    human = (await client.get(f"/v1/agents/{agent}/core-memory/blocks/human")).json()
    assert human["value"].count("x") == 1
    # A new turn counts afresh.
    scripted.enqueue(append(request_heartbeat=False))
    await send(client, agent)
    assert "core_memory_append" in offered(scripted.requests[-1])


async def test_required_before_exit_keeps_the_turn_going(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await rules_agent(client, {"type": "required_before_exit", "tool_name": "archival_memory_insert"})
    scripted.enqueue(
        tool_call_response("send_message", message="bye"),
        tool_call_response("archival_memory_insert", content="Talked today.", request_heartbeat=False),
    )
    body = await send(client, agent)
    assert len(scripted.requests) == 2
    reminder = scripted.requests[1].messages[-1]
    assert reminder.role == "tool" and "archival_memory_insert" in (reminder.content or "")
    assert body["stop_reason"]["stop_reason"] == "end_turn"
