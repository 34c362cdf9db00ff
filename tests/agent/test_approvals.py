"""Human in the loop: calls that wait for approval, approve / deny, and client-side tools."""

from __future__ import annotations

from typing import Any

import httpx

from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import assert_error, create_agent

TOOLS = ["send_message", "core_memory_append"]
LOCATION_TOOL = {
    "name": "get_location",
    "description": "Where the user is right now.",
    "parameters": {"type": "object", "properties": {}, "required": []},
}


async def approval_agent(client: httpx.AsyncClient) -> str:
    agent = await create_agent(
        client,
        tools=TOOLS,
        include_base_tools=False,
        tool_rules=[{"type": "requires_approval", "tool_name": "core_memory_append"}],
    )
    return str(agent["id"])


async def post(client: httpx.AsyncClient, agent_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/agents/{agent_id}/messages", json=body)


def by_type(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["message_type"] == kind]


async def human(client: httpx.AsyncClient, agent_id: str) -> str:
    block = (await client.get(f"/v1/agents/{agent_id}/core-memory/blocks/human")).json()
    return str(block["value"])


async def ask_to_remember(client: httpx.AsyncClient, scripted: ScriptedModel, agent: str) -> dict[str, Any]:
    scripted.enqueue(
        tool_call_response("core_memory_append", label="human", content="Likes jazz.", request_heartbeat=True)
    )
    response = await post(client, agent, input="I like jazz")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["stop_reason"]["stop_reason"] == "requires_approval"
    return body


async def test_approve_runs_the_call_and_the_turn_goes_on(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await approval_agent(client)
    body = await ask_to_remember(client, scripted, agent)
    [request] = by_type(body, "approval_request_message")
    assert request["tool_call"]["name"] == "core_memory_append"
    assert by_type(body, "tool_return_message") == []
    assert "Likes jazz." not in await human(client, agent)

    blocked = await post(client, agent, input="hello?")
    assert "waiting for approval" in assert_error(blocked, 409)["detail"]

    scripted.enqueue(tool_call_response("send_message", message="Noted: jazz."))
    answer = await post(
        client, agent, messages=[{"type": "approval", "approval_request_id": request["id"], "approve": True}]
    )
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert [m["message_type"] for m in done["messages"]] == [
        "approval_response_message",
        "tool_return_message",
        "assistant_message",
    ]
    assert done["messages"][0]["approve"] is True
    assert done["stop_reason"]["stop_reason"] == "end_turn"
    assert "Likes jazz." in await human(client, agent)
    # The model saw its call answered, in order.
    tail = scripted.last_request.messages[-2:]
    assert (
        tail[0].role == "assistant"
        and tail[1].role == "tool"
        and tail[1].tool_call_id == tail[0].tool_calls[0].id
    )

    history = (await client.get(f"/v1/agents/{agent}/messages", params={"order": "asc"})).json()
    kinds = [m["message_type"] for m in history]
    assert kinds.index("approval_request_message") < kinds.index("approval_response_message")


async def test_deny_with_a_reason_tells_the_model(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await approval_agent(client)
    body = await ask_to_remember(client, scripted, agent)
    [request] = by_type(body, "approval_request_message")
    scripted.enqueue(tool_call_response("send_message", message="Understood, I won't."))
    answer = await post(
        client,
        agent,
        messages=[
            {
                "type": "approval",
                "approvals": [
                    {
                        "type": "approval",
                        "tool_call_id": request["tool_call"]["tool_call_id"],
                        "approve": False,
                        "reason": "not now",
                    }
                ],
            }
        ],
    )
    done = answer.json()
    [denied] = by_type(done, "tool_return_message")
    assert (
        denied["status"] == "error"
        and "denied" in denied["tool_return"]
        and "not now" in denied["tool_return"]
    )
    assert "Likes jazz." not in await human(client, agent)
    assert scripted.last_request.messages[-1].role == "tool"


async def test_client_side_tool_round_trip(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = (await create_agent(client, tools=TOOLS, include_base_tools=False))["id"]
    scripted.enqueue(tool_call_response("get_location", request_heartbeat=True))
    first = await post(client, agent, input="where am I?", client_tools=[LOCATION_TOOL])
    body = first.json()
    assert "get_location" in {t.name for t in scripted.last_request.tools}
    assert body["stop_reason"]["stop_reason"] == "requires_approval"
    [request] = by_type(body, "approval_request_message")
    call_id = request["tool_call"]["tool_call_id"]

    approve_only = await post(client, agent, messages=[{"type": "approval", "approve": True}])
    assert "client-side tool" in assert_error(approve_only, 400)["detail"]

    scripted.enqueue(tool_call_response("send_message", message="You are in Lisbon."))
    returned = await post(
        client,
        agent,
        messages=[
            {
                "type": "tool_return",
                "tool_returns": [{"tool_call_id": call_id, "tool_return": "Lisbon", "status": "success"}],
            }
        ],
        client_tools=[LOCATION_TOOL],
    )
    done = returned.json()
    assert by_type(done, "tool_return_message")[0]["tool_return"] == "Lisbon"
    assert by_type(done, "assistant_message")[0]["content"] == "You are in Lisbon."


async def test_bad_approval_answers_are_4xx_and_change_nothing(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await approval_agent(client)
    nothing = await post(client, agent, messages=[{"type": "approval", "approve": True}])
    assert_error(nothing, 409)
    body = await ask_to_remember(client, scripted, agent)
    [request] = by_type(body, "approval_request_message")
    wrong_request = await post(
        client, agent, messages=[{"type": "approval", "approval_request_id": "message-nope", "approve": True}]
    )
    assert_error(wrong_request, 400)
    unknown_call = await post(
        client,
        agent,
        messages=[
            {
                "type": "approval",
                "approvals": [{"type": "approval", "tool_call_id": "call_x", "approve": True}],
            }
        ],
    )
    assert_error(unknown_call, 400)
    no_decision = await post(client, agent, messages=[{"type": "approval"}])
    assert_error(no_decision, 400)
    mixed = await post(
        client,
        agent,
        messages=[{"type": "approval", "approve": True}, {"role": "user", "content": "and also"}],
    )
    assert_error(mixed, 400)
    # Still waiting, and the answer still works.
    scripted.enqueue(tool_call_response("send_message", message="ok"))
    answer = await post(
        client, agent, messages=[{"type": "approval", "approval_request_id": request["id"], "approve": True}]
    )
    assert answer.status_code == 200
    assert "Likes jazz." in await human(client, agent)


async def test_the_approval_route_switches_a_tool_to_needing_approval(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = (await create_agent(client, tools=TOOLS, include_base_tools=False))["id"]
    response = await client.patch(
        f"/v1/agents/{agent}/tools/approval/core_memory_append", json={"requires_approval": True}
    )
    assert response.status_code == 200, response.text
    body = await ask_to_remember(client, scripted, agent)
    assert by_type(body, "approval_request_message")


async def test_attaching_a_tool_that_asks_for_approval_adds_the_rule(client: httpx.AsyncClient) -> None:
    source = 'def ping() -> str:\n    """Answer pong."""\n    return "pong"\n'
    tool = await client.post("/v1/tools/", json={"source_code": source, "default_requires_approval": True})
    assert tool.status_code == 200, tool.text
    agent = (await create_agent(client, tools=TOOLS, include_base_tools=False))["id"]
    attached = await client.patch(f"/v1/agents/{agent}/tools/attach/{tool.json()['id']}")
    assert attached.status_code == 200, attached.text
    assert {"type": "requires_approval", "tool_name": "ping"}.items() <= attached.json()["tool_rules"][
        0
    ].items()
