"""Token streaming through the API (`stream_tokens: true`) with the scripted model: the pieces of each
view, put together, are what the plain call returns, and what is stored is the same."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from memfold.agent.stream import DeltaEvent
from memfold.errors import ProviderError
from memfold.llm.base import ModelDelta, ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, text_response, tool_call_response
from memfold.schemas.messages import Message, StoredToolCall
from memfold.server.streaming import PieceViews
from tests.api.test_streaming import parse_sse
from tests.helpers import create_agent

TOOLS = ["send_message", "core_memory_append"]
WORDS = 'Noted: you play chess \u265f and say "check" \U0001f600.\nBye \\o/'


def memgpt_turn() -> list[ModelResponse]:
    return [
        tool_call_response(
            "core_memory_append",
            thinking='Store it \u2014 \u00e9 "quoted".',
            label="human",
            content="Plays chess \u265f.",
            request_heartbeat=True,
        ),
        tool_call_response("send_message", thinking="Now answer.", message=WORDS),
    ]


def native_turn() -> list[ModelResponse]:
    search = tool_call_response("conversation_search", query="chess \u265f")
    search.reasoning = "Have we talked about chess?"
    return [search, text_response("No, but now I know: you play \U0001f600.", reasoning="Answer warmly.")]


def text_of(view: dict[str, Any]) -> str:
    kind = view["message_type"]
    if kind == "tool_call_message":
        return str(view["tool_call"]["arguments"])
    if kind == "reasoning_message":
        return str(view["reasoning"])
    if kind == "tool_return_message":
        return str(view["tool_return"])
    return str(view.get("content") or "")


def reassemble(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chunks with the same id and message_type, put together, in the order they first came."""
    views: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in chunks:
        key = (chunk["id"], chunk["message_type"])
        if key not in views:
            views[key] = {**chunk, "text": text_of(chunk)}
        else:
            views[key]["text"] += text_of(chunk)
    return list(views.values())


def shape(views: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(v["message_type"], v.get("text", text_of(v))) for v in views]


async def plain_and_streamed(
    client: httpx.AsyncClient, scripted: ScriptedModel, turn: list[ModelResponse], **body: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    agent_body: dict[str, Any] = {"tools": TOOLS, "include_base_tools": False}
    if body.pop("native", False):
        agent_body = {"agent_type": "letta_v1_agent"}
    plain_agent = await create_agent(client, **agent_body)
    scripted.enqueue(*turn)
    plain = await client.post(
        f"/v1/agents/{plain_agent['id']}/messages", json={"input": "I play chess", **body}
    )
    assert plain.status_code == 200, plain.text

    agent = await create_agent(client, **agent_body)
    scripted.enqueue(*turn)
    request = {"input": "I play chess", "stream_tokens": True, **body}
    streamed = await client.post(f"/v1/agents/{agent['id']}/messages/stream", json=request)
    assert streamed.status_code == 200
    payloads, events = parse_sse(streamed.text)
    assert events == []
    return plain.json(), payloads, agent["id"]


@pytest.mark.parametrize("native", [False, True], ids=["memgpt", "letta_v1_agent"])
async def test_pieces_put_together_are_the_plain_calls_messages(
    client: httpx.AsyncClient, scripted: ScriptedModel, native: bool
) -> None:
    turn = native_turn() if native else memgpt_turn()
    plain, payloads, agent_id = await plain_and_streamed(client, scripted, turn, native=native)

    assert payloads[-1] == {"done": True}
    stop, usage = payloads[-3], payloads[-2]
    assert stop == plain["stop_reason"]
    assert usage["step_count"] == plain["usage"]["step_count"] == 2
    same = {k: v for k, v in usage.items() if k != "run_ids"}
    assert same == {k: v for k, v in plain["usage"].items() if k != "run_ids"}
    chunks = [p for p in payloads[:-3] if p["message_type"] != "ping"]
    # Really in pieces: many more chunks than messages, several per assistant and reasoning view.
    assert len(chunks) > 3 * len(plain["messages"])
    views = reassemble(chunks)
    assert shape(views) == shape(plain["messages"])

    # Stored exactly as streamed: the same ids (chosen before the LLM call), the same texts.
    listed = (await client.get(f"/v1/agents/{agent_id}/messages", params={"order": "asc"})).json()
    assert [(v["id"], v["message_type"], v["text"]) for v in views] == [
        (m["id"], m["message_type"], text_of(m)) for m in listed
    ]


async def test_send_message_streams_as_a_tool_call_without_use_assistant_message(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    plain, payloads, _ = await plain_and_streamed(
        client, scripted, memgpt_turn(), use_assistant_message=False
    )
    chunks = [p for p in payloads[:-3] if p["message_type"] != "ping"]
    views = reassemble(chunks)
    assert shape(views) == shape(plain["messages"])
    said = [
        v
        for v in views
        if v["message_type"] == "tool_call_message" and v["tool_call"]["name"] == "send_message"
    ]
    assert json.loads(said[0]["text"]) == {"message": WORDS}
    assert not any(p["message_type"] == "assistant_message" for p in chunks)
    pieces = [c for c in chunks if c["message_type"] == "tool_call_message" and c["id"] == said[0]["id"]]
    assert len(pieces) > 5 and {c["tool_call"]["tool_call_id"] for c in pieces} == {
        said[0]["tool_call"]["tool_call_id"]
    }


async def test_only_the_wanted_kinds_are_streamed(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    plain, payloads, _ = await plain_and_streamed(
        client, scripted, memgpt_turn(), include_return_message_types=["assistant_message"]
    )
    chunks = payloads[:-3]
    assert {c["message_type"] for c in chunks} == {"assistant_message"}
    assert "".join(c["content"] for c in chunks) == WORDS == plain["messages"][0]["content"]


@pytest.mark.parametrize("tokens", [True, False], ids=["tokens", "messages"])
async def test_approval_requests_come_whole_and_the_answer_streams_once(
    client: httpx.AsyncClient, scripted: ScriptedModel, tokens: bool
) -> None:
    agent = await create_agent(
        client,
        tools=TOOLS,
        include_base_tools=False,
        tool_rules=[{"type": "requires_approval", "tool_name": "core_memory_append"}],
    )
    url = f"/v1/agents/{agent['id']}/messages/stream"
    scripted.enqueue(memgpt_turn()[0])
    first = await client.post(url, json={"input": "I play chess", "stream_tokens": tokens})
    payloads, _ = parse_sse(first.text)
    kinds = [p.get("message_type") for p in payloads]
    assert kinds.count("approval_request_message") == 1
    assert "tool_call_message" not in kinds
    assert (kinds.count("reasoning_message") > 3) is tokens  # the call's thinking streams in pieces
    request = next(p for p in payloads if p.get("message_type") == "approval_request_message")
    assert json.loads(request["tool_call"]["arguments"]) == {
        "label": "human",
        "content": "Plays chess \u265f.",
    }

    scripted.enqueue(memgpt_turn()[1])
    answer = {"type": "approval", "approval_request_id": request["id"], "approve": True}
    second = await client.post(url, json={"messages": [answer], "stream_tokens": tokens})
    payloads, _ = parse_sse(second.text)
    kinds = [p.get("message_type") for p in payloads]
    assert kinds.count("approval_response_message") == kinds.count("tool_return_message") == 1
    views = reassemble([p for p in payloads[:-3] if p["message_type"] != "ping"])
    assert [v["message_type"] for v in views] == [
        "approval_response_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert views[-1]["text"] == WORDS


async def test_a_provider_failing_mid_stream_is_an_error_event_and_nothing_is_stored(
    client: httpx.AsyncClient, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def breaks_midway(request: ModelRequest, on_delta: Any) -> ModelResponse:
        on_delta(ModelDelta("tool_call", '{"thinking": "Half a tho', 0, "call_1", "send_message"))
        await asyncio.sleep(0)
        raise ProviderError("connection lost mid-stream", provider="scripted")

    agent = await create_agent(client)
    monkeypatch.setattr(scripted, "complete_streaming", breaks_midway)
    response = await client.post(
        f"/v1/agents/{agent['id']}/messages/stream", json={"input": "hi", "stream_tokens": True}
    )
    payloads, events = parse_sse(response.text)
    assert events == ["error"]
    assert [p.get("message_type") for p in payloads[:-1]] == ["user_message", "reasoning_message"]
    assert payloads[1]["reasoning"] == "Half a tho"
    assert payloads[-1]["code"] == "provider_error" and "mid-stream" in payloads[-1]["detail"]
    assert (await client.get(f"/v1/agents/{agent['id']}/messages")).json() == []

    monkeypatch.undo()
    scripted.enqueue(tool_call_response("send_message", message="back"))
    again = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    assert again.json()["messages"][-1]["content"] == "back"


async def test_a_client_that_leaves_mid_stream_does_not_cut_the_turn(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, tools=TOOLS, include_base_tools=False)
    scripted.latency = 0.05
    scripted.enqueue(*memgpt_turn())
    body = {"input": "hi", "stream_tokens": True}
    async with client.stream("POST", f"/v1/agents/{agent['id']}/messages/stream", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                break  # one chunk read, then gone
    for _ in range(100):
        listed = (await client.get(f"/v1/agents/{agent['id']}/messages", params={"order": "asc"})).json()
        if any(m["message_type"] == "assistant_message" for m in listed):
            break
        await asyncio.sleep(0.05)
    assert [m["message_type"] for m in listed][-1] == "assistant_message"
    assert listed[-1]["content"] == WORDS


async def test_without_stream_tokens_nothing_comes_in_pieces(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    plain, payloads, _ = await plain_and_streamed(client, scripted, memgpt_turn(), stream_tokens=False)
    chunks = [p for p in payloads[:-3] if p["message_type"] != "ping"]
    assert [(c["message_type"], text_of(c)) for c in chunks] == shape(plain["messages"])
    assert len(scripted.requests) == 4


# -- the server's side: what the complete message still sends ---------------------------------------


def assistant(
    reasoning: str | None = None, arguments: str | None = None, content: str | None = None
) -> Message:
    calls = [StoredToolCall(id="c1", name="remember", arguments=arguments)] if arguments is not None else None
    return Message(
        id="message-1",
        agent_id="agent-1",
        role="assistant",
        reasoning=reasoning,
        content=content,
        tool_calls=calls,
        created_at=datetime.now(UTC),
    )


def test_the_complete_message_sends_only_what_its_pieces_did_not_show() -> None:
    views = PieceViews(use_assistant_message=True)
    for text in ["Thinking", " it over"]:
        views.piece(DeltaEvent("message-1", "reasoning", text))
    views.piece(DeltaEvent("message-1", "tool_call", '{"fact": "te', "c1", "remember"))
    rest = views.complete(assistant("Thinking it over", '{"fact": "tea"}'))
    # The reasoning was shown whole: not again. The arguments were shown in part: the rest follows.
    assert [(v.message_type, v.tool_call.arguments) for v in rest] == [("tool_call_message", 'a"}')]  # type: ignore[union-attr]
    assert rest[0].id == "message-1"


def test_pieces_that_went_astray_are_followed_by_the_whole_view() -> None:
    views = PieceViews(use_assistant_message=True)
    views.piece(DeltaEvent("message-1", "reasoning", "From the call"))
    rest = views.complete(assistant("Native reasoning won", '{"fact": "tea"}'))
    assert [v.message_type for v in rest] == ["reasoning_message", "tool_call_message"]
    assert rest[0].reasoning == "Native reasoning won"  # type: ignore[union-attr]
    # A message without pieces shows whole, and the state of a finished message is dropped.
    assert views.shown == {}
    assert len(views.complete(assistant("R", content=None, arguments='{"a": 1}'))) == 2


def test_send_message_words_show_as_its_arguments_without_use_assistant_message() -> None:
    views = PieceViews(use_assistant_message=False)
    words = ['Hi "you"', " \U0001f600\n", "bye"]
    chunks = [views.piece(DeltaEvent("message-1", "assistant", w, "c1", "send_message")) for w in words]
    assert {c.message_type for c in chunks if c is not None} == {"tool_call_message"}
    sent = "".join(c.tool_call.arguments for c in chunks)  # type: ignore[union-attr]
    stored = json.dumps({"thinking": "T", "message": "".join(words), "request_heartbeat": False})
    final = Message(
        id="message-1",
        agent_id="agent-1",
        role="assistant",
        reasoning="T",
        tool_calls=[StoredToolCall(id="c1", name="send_message", arguments=stored)],
        created_at=datetime.now(UTC),
    )
    rest = views.complete(final)
    # The reasoning had no pieces: whole. The arguments get their closing `"}`, and add up exactly.
    assert [v.message_type for v in rest] == ["reasoning_message", "tool_call_message"]
    assert rest[1].tool_call.arguments == '"}'  # type: ignore[union-attr]
    assert sent + '"}' == json.dumps({"message": "".join(words)})
