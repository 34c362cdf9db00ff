"""The Anthropic adapter's streamed call through the real SDK, against the fake Messages API taught (here)
to answer `stream: true` with Anthropic's events, cut from the message it would have answered whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from memfold.errors import ProviderError
from memfold.llm.anthropic import AnthropicModel
from memfold.llm.base import ChatMessage, ModelDelta, ModelRequest, ToolSpec
from tests.fakes import FakeAnthropicServer, HTTPReply
from tests.fakes.openai_server import FakeToolCall, TextReply, ToolCallsReply

TOOLS = [ToolSpec("send_message", "Talk.", {"type": "object", "properties": {"message": {"type": "string"}}})]
REQUEST = ModelRequest(messages=[ChatMessage("user", "hi")], tools=TOOLS, tool_choice="required")


class StreamingAnthropic(FakeAnthropicServer):
    def _message(self, body: dict[str, Any]) -> HTTPReply:
        reply = super()._message(body)
        if not body.get("stream") or reply.status != 200:
            return reply
        return HTTPReply(200, events=_events(reply.body))


def _event(kind: str, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _cut(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _events(message: dict[str, Any]) -> Iterator[bytes]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield _event("message_start", message=start)
    opening: dict[str, Any]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield _event("content_block_start", index=index, content_block={"type": "text", "text": ""})
            for piece in _cut(block["text"]):
                yield _event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            yield _event("content_block_start", index=index, content_block=opening)
            for piece in _cut(block["thinking"]):
                delta = {"type": "thinking_delta", "thinking": piece}
                yield _event("content_block_delta", index=index, delta=delta)
            signature = {"type": "signature_delta", "signature": block["signature"]}
            yield _event("content_block_delta", index=index, delta=signature)
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield _event("content_block_start", index=index, content_block=opening)
            for piece in _cut(json.dumps(block["input"], separators=(",", ":"))):  # not how it is stored
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield _event("content_block_delta", index=index, delta=delta)
        yield _event("content_block_stop", index=index)
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield _event("message_delta", delta=stop, usage={"output_tokens": usage["output_tokens"]})
    yield _event("message_stop")


@pytest.fixture
def fake() -> Iterator[StreamingAnthropic]:
    with StreamingAnthropic() as server:
        yield server


@pytest.fixture
async def model(fake: StreamingAnthropic) -> AsyncIterator[AnthropicModel]:
    model = AnthropicModel("anthropic/claude-sonnet-4-6", base_url=fake.base_url, api_key="k", max_retries=0)
    yield model
    await model.aclose()


def joined(deltas: list[ModelDelta], kind: str, index: int | None = None) -> str:
    return "".join(d.text for d in deltas if d.kind == kind and (index is None or d.index == index))


async def test_stream_adds_up_to_the_plain_answer(fake: StreamingAnthropic, model: AnthropicModel) -> None:
    def reply() -> ToolCallsReply:
        calls = [
            FakeToolCall("send_message", {"message": "Hi \U0001f600 there"}, id="toolu_a"),
            FakeToolCall("send_message", {"message": "Second."}, id="toolu_b"),
        ]
        return ToolCallsReply(calls, text="Let me answer.", reasoning="Thinking it over.", usage=(50, 9))

    fake.queue(reply(), reply())
    plain = await model.complete(REQUEST)
    deltas: list[ModelDelta] = []
    response = await model.complete_streaming(REQUEST, deltas.append)

    assert fake.last_message_request["stream"] is True
    assert response == plain
    assert response.usage.prompt_tokens == 50 and response.usage.completion_tokens == 9
    assert response.finish_reason == "tool_calls"
    assert joined(deltas, "content") == "Let me answer."
    assert joined(deltas, "reasoning") == "Thinking it over."
    for index, call in enumerate(response.tool_calls):
        pieces = [d for d in deltas if d.kind == "tool_call" and d.index == index]
        assert {(d.tool_call_id, d.tool_name) for d in pieces} == {(call.id, call.name)}
        # The pieces are Anthropic's JSON; the stored arguments are the same value, re-serialised.
        assert json.loads(joined(deltas, "tool_call", index)) == json.loads(call.arguments)
    assert len([d for d in deltas if d.kind == "content"]) == 3


async def test_several_text_blocks_are_joined_by_newlines_in_pieces_too(
    fake: StreamingAnthropic, model: AnthropicModel
) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "First block."}, {"type": "text", "text": "Second block."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    fake.queue(message, message)
    plain = await model.complete(REQUEST)
    deltas: list[ModelDelta] = []
    response = await model.complete_streaming(REQUEST, deltas.append)

    assert response == plain
    assert response.content == "First block.\nSecond block."
    assert joined(deltas, "content") == response.content


async def test_stream_errors_are_provider_errors(fake: StreamingAnthropic, model: AnthropicModel) -> None:
    fake.queue_error(529, "overloaded")
    with pytest.raises(ProviderError, match="overloaded") as refused:
        await model.complete_streaming(REQUEST, lambda _: None)
    assert refused.value.status == 529

    fake.queue(TextReply("fine"))
    deltas: list[ModelDelta] = []
    response = await model.complete_streaming(
        ModelRequest(messages=[ChatMessage("user", "hi")]), deltas.append
    )
    assert response.content == joined(deltas, "content") == "fine"
