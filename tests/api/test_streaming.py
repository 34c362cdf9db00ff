"""Streaming a turn as Server-Sent Events: the same messages, in the same order, as the plain call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.agent.test_faults import provider_down
from tests.helpers import create_agent


def parse_sse(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The `data:` payloads of a stream (up to `[DONE]`) and the names of `event:` lines."""
    payloads: list[dict[str, Any]] = []
    events: list[str] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
                payloads.append({"done": True} if data == "[DONE]" else json.loads(data))
    return payloads, events


def script_turn(scripted: ScriptedModel) -> None:
    scripted.enqueue(
        tool_call_response(
            "core_memory_append",
            label="human",
            content="Plays chess.",
            request_heartbeat=True,
            thinking="Note it.",
        ),
        tool_call_response("send_message", message="Noted, you play chess.", thinking="Tell them."),
    )


def comparable(message: dict[str, Any]) -> tuple[Any, ...]:
    return (
        message["message_type"],
        message["id"],
        message.get("content") or message.get("reasoning") or message.get("tool_return"),
        (message.get("tool_call") or {}).get("name"),
    )


async def test_stream_yields_the_messages_of_the_plain_call_in_order(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    script_turn(scripted)
    plain = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "I play chess"})
    assert plain.status_code == 200

    other = await create_agent(client)
    script_turn(scripted)
    streamed = await client.post(f"/v1/agents/{other['id']}/messages/stream", json={"input": "I play chess"})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    payloads, events = parse_sse(streamed.text)
    assert events == []
    assert payloads[-1] == {"done": True}
    stop, usage = payloads[-3], payloads[-2]
    assert stop == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    assert usage["message_type"] == "usage_statistics" and usage["step_count"] == 2
    streamed_messages = [p for p in payloads[:-3] if p["message_type"] != "ping"]
    expected = plain.json()["messages"]
    assert [m["message_type"] for m in streamed_messages] == [m["message_type"] for m in expected]
    assert [m.get("content") for m in streamed_messages] == [m.get("content") for m in expected]

    # What was streamed is exactly what was stored.
    listed = await client.get(f"/v1/agents/{other['id']}/messages", params={"order": "asc"})
    assert [comparable(m) for m in listed.json()] == [comparable(m) for m in streamed_messages]


async def test_streaming_flag_on_the_plain_route_streams(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="Hi there"))
    response = await client.post(
        f"/v1/agents/{agent['id']}/messages",
        json={"input": "hi", "streaming": True, "include_return_message_types": ["assistant_message"]},
    )
    payloads, _ = parse_sse(response.text)
    assert [p.get("message_type") for p in payloads] == [
        "assistant_message",
        "stop_reason",
        "usage_statistics",
        None,
    ]
    assert payloads[0]["content"] == "Hi there"


async def test_slow_step_sends_pings(app: Any, client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    app.state.memfold.settings.stream_ping_seconds = 0.05
    agent = await create_agent(client)
    scripted.latency = 0.3
    scripted.enqueue(tool_call_response("send_message", message="Slow hello"))
    response = await client.post(f"/v1/agents/{agent['id']}/messages/stream", json={"input": "hi"})
    payloads, _ = parse_sse(response.text)
    kinds = [p.get("message_type") for p in payloads]
    assert kinds.count("ping") >= 2
    assert kinds.index("ping") < kinds.index("assistant_message")


async def test_provider_fault_is_an_error_event_and_the_agent_stays_usable(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(provider_down())
    response = await client.post(f"/v1/agents/{agent['id']}/messages/stream", json={"input": "hi"})
    assert response.status_code == 200
    payloads, events = parse_sse(response.text)
    assert events == ["error"]
    assert payloads[-1]["code"] == "provider_error"
    scripted.enqueue(tool_call_response("send_message", message="back"))
    again = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    assert again.json()["messages"][-1]["content"] == "back"


async def test_unknown_agent_is_a_404_before_streaming(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/agents/agent-nope/messages/stream", json={"input": "hi"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_a_client_that_goes_away_does_not_stop_the_turn(
    app: Any, client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.latency = 0.05
    script_turn(scripted)
    async with client.stream("POST", f"/v1/agents/{agent['id']}/messages/stream", json={"input": "hi"}) as r:
        assert r.status_code == 200
    # The response was dropped unread; the turn still completes and commits both steps.
    for _ in range(100):
        listed = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc"})).json()
        if any(m["message_type"] == "assistant_message" for m in listed):
            break
        await asyncio.sleep(0.05)
    kinds = [m["message_type"] for m in listed]
    assert kinds[-1] == "assistant_message"
    assert kinds.count("tool_return_message") == 1
