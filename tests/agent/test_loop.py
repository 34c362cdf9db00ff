"""The step loop through the API with the scripted model: replies, heartbeats, memory edits, modes."""

from __future__ import annotations

import json

import httpx

from memfold.llm.base import ModelRequest
from memfold.llm.scripted import (
    ScriptedModel,
    text_response,
    tool_call,
    tool_call_response,
    tool_calls_response,
)
from tests.helpers import create_agent


async def send(client: httpx.AsyncClient, agent_id: str, text: str, **extra: object) -> dict[str, object]:
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}], **extra}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def types(body: dict[str, object]) -> list[str]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return [m["message_type"] for m in messages]


def system_prompt(request: ModelRequest) -> str:
    assert request.messages[0].role == "system"
    return request.messages[0].content or ""


async def test_hi_gets_an_assistant_message(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="Hello!", thinking="Greet them."))
    body = await send(client, agent["id"], "hi")
    assert types(body) == ["user_message", "reasoning_message", "assistant_message"]
    messages = body["messages"]
    assert isinstance(messages, list)
    assert messages[1]["reasoning"] == "Greet them."
    assert messages[2]["content"] == "Hello!"
    assert body["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    usage = body["usage"]
    assert isinstance(usage, dict) and usage["step_count"] == 1 and usage["prompt_tokens"] > 0

    request = scripted.last_request
    assert request.tool_choice == "required"
    assert request.messages[-1].content == "hi"
    send_spec = next(t for t in request.tools if t.name == "send_message")
    assert "request_heartbeat" not in send_spec.parameters["properties"]
    insert_spec = next(t for t in request.tools if t.name == "memory_insert")
    assert insert_spec.parameters["properties"]["request_heartbeat"]["type"] == "boolean"


async def test_heartbeat_chains_and_memory_edit_is_in_the_next_request(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.enqueue(
        tool_call_response(
            "core_memory_append", label="human", content="Likes green tea.", request_heartbeat=True
        ),
        tool_call_response("send_message", message="Noted!"),
    )
    body = await send(client, agent["id"], "I like green tea")
    assert types(body) == ["user_message", "tool_call_message", "tool_return_message", "assistant_message"]
    assert len(scripted.requests) == 2
    assert "Likes green tea." not in system_prompt(scripted.requests[0])
    assert "Likes green tea." in system_prompt(scripted.requests[1])
    # The second request carries the call and its result, in order.
    tail = scripted.requests[1].messages[-2:]
    assert tail[0].role == "assistant" and tail[0].tool_calls[0].name == "core_memory_append"
    assert tail[1].role == "tool" and tail[1].tool_call_id == tail[0].tool_calls[0].id

    human = (await client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")).json()
    assert human["value"] == "Name: unknown\nLikes green tea."

    scripted.enqueue(tool_call_response("send_message", message="You like green tea."))
    await send(client, agent["id"], "what do I like?")
    assert "Likes green tea." in system_prompt(scripted.last_request)


async def test_tool_call_without_heartbeat_ends_the_turn(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.enqueue(
        tool_call_response("core_memory_append", label="human", content="x", request_heartbeat=False)
    )
    body = await send(client, agent["id"], "hello")
    assert len(scripted.requests) == 1
    assert body["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}


async def test_max_steps_bounds_a_heartbeat_loop(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.function = lambda _request: tool_call_response(
        "core_memory_append", label="human", content=".", request_heartbeat=True
    )
    body = await send(client, agent["id"], "loop forever", max_steps=3)
    assert len(scripted.requests) == 3
    assert body["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "max_steps"}


async def test_messages_are_listed_in_order_with_cursors(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    for i in range(3):
        scripted.enqueue(tool_call_response("send_message", message=f"reply {i}"))
        await send(client, agent["id"], f"msg {i}")
    listed = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc"})).json()
    contents = [
        m.get("content") for m in listed if m["message_type"] in ("user_message", "assistant_message")
    ]
    assert contents == ["msg 0", "reply 0", "msg 1", "reply 1", "msg 2", "reply 2"]
    newest = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"limit": 1})).json()
    assert newest[0]["content"] == "reply 2"
    ids = list(dict.fromkeys(m["id"] for m in listed))
    after = (
        await client.get(f"/v1/agents/{agent['id']}/messages", params={"after": ids[1], "order": "asc"})
    ).json()
    assert after[0]["content"] == "msg 1"
    # Cursors are positions in the requested order.
    before = (
        await client.get(f"/v1/agents/{agent['id']}/messages", params={"before": ids[2], "order": "asc"})
    ).json()
    assert list(dict.fromkeys(m["id"] for m in before)) == ids[:2]
    newer = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"before": ids[-2]})).json()
    assert [m["content"] for m in newer] == ["reply 2"]

    raw = (
        await client.get(
            f"/v1/agents/{agent['id']}/messages", params={"use_assistant_message": False, "order": "asc"}
        )
    ).json()
    assert "tool_call_message" in [m["message_type"] for m in raw]
    assert "tool_return_message" in [m["message_type"] for m in raw]


async def test_context_carries_history_and_reset_empties_it(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="one"))
    await send(client, agent["id"], "first")
    scripted.enqueue(tool_call_response("send_message", message="two"))
    await send(client, agent["id"], "second")
    assert [m.content for m in scripted.last_request.messages if m.role == "user"] == ["first", "second"]

    reset = (await client.patch(f"/v1/agents/{agent['id']}/reset-messages", json={})).json()
    assert reset["message_ids"] == []
    scripted.enqueue(tool_call_response("send_message", message="three"))
    await send(client, agent["id"], "third")
    assert [m.content for m in scripted.last_request.messages if m.role == "user"] == ["third"]
    # Reset only empties the window: earlier messages stay listable (recall).
    listed = (await client.get(f"/v1/agents/{agent['id']}/messages")).json()
    assert {"first", "second", "third"} <= {m.get("content") for m in listed}


async def test_native_mode_plain_text_ends_turn_and_tool_call_continues(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="letta_v1_agent")
    assert "send_message" not in {t["name"] for t in agent["tools"]}
    scripted.enqueue(
        tool_call_response("memory_insert", label="human", new_str="Lives in Oslo."),
        text_response("Got it, Oslo.", reasoning="User shared their city."),
    )
    body = await send(client, agent["id"], "I live in Oslo")
    assert types(body) == [
        "user_message",
        "tool_call_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    first = scripted.requests[0]
    assert first.tool_choice == "auto"
    assert all("request_heartbeat" not in t.parameters["properties"] for t in first.tools)
    assert "Lives in Oslo." in system_prompt(scripted.requests[1])


async def test_several_tool_calls_in_one_response_each_get_a_result(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.enqueue(
        tool_calls_response(
            tool_call("core_memory_append", label="human", content="a", request_heartbeat=True),
            tool_call("core_memory_append", label="persona", content="b", request_heartbeat=True),
        ),
        tool_call_response("send_message", message="done"),
    )
    await send(client, agent["id"], "go")
    second = scripted.requests[1].messages
    calls = second[-3].tool_calls
    assert [m.tool_call_id for m in second[-2:]] == [c.id for c in calls]
    blocks = {
        b["label"]: b["value"] for b in (await client.get(f"/v1/agents/{agent['id']}")).json()["blocks"]
    }
    assert blocks["human"].endswith("\na") and blocks["persona"].endswith("\nb")


async def test_step_rows_record_usage(
    client: httpx.AsyncClient, scripted: ScriptedModel, app: object
) -> None:
    from sqlalchemy import select

    from memfold.store import tables as t

    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="hi"))
    body = await send(client, agent["id"], "hello")
    db = app.state.memfold.db  # type: ignore[attr-defined]
    with db.read() as conn:
        rows = conn.execute(select(t.steps).where(t.steps.c.agent_id == agent["id"])).mappings().all()
        run = conn.execute(select(t.runs).where(t.runs.c.agent_id == agent["id"])).mappings().one()
    assert len(rows) == 1
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["provider"] == "scripted"
    assert run["status"] == "completed" and run["stop_reason"] == "end_turn"
    usage = body["usage"]
    assert isinstance(usage, dict) and usage["run_ids"] == [run["id"]]
    assert json.loads(json.dumps(usage))["total_tokens"] == rows[0]["total_tokens"]
