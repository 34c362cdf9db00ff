"""Streamed LLM calls: the pieces add up, and the response is the one `complete` gives, per adapter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from memfold.errors import ContextWindowExceededError, ProviderError
from memfold.llm.base import (
    ChatMessage,
    Model,
    ModelDelta,
    ModelHandle,
    ModelRequest,
    ModelResponse,
    ToolSpec,
)
from memfold.llm.openai import OpenAIModel
from memfold.llm.scripted import STREAM_PIECES, ScriptedModel, tool_call, tool_calls_response
from tests.fakes import FakeOpenAIServer, TextReply
from tests.fakes.openai_server import FakeToolCall, ToolCallsReply

TOOLS = [
    ToolSpec("send_message", "Talk.", {"type": "object", "properties": {"message": {"type": "string"}}}),
    ToolSpec("remember", "Note.", {"type": "object", "properties": {"fact": {"type": "string"}}}),
]
REQUEST = ModelRequest(messages=[ChatMessage("user", "hi")], tools=TOOLS, tool_choice="auto")


async def streamed(model: Model, request: ModelRequest = REQUEST) -> tuple[ModelResponse, list[ModelDelta]]:
    deltas: list[ModelDelta] = []
    response = await model.complete_streaming(request, deltas.append)
    return response, deltas


def joined(deltas: list[ModelDelta], kind: str, index: int | None = None) -> str:
    return "".join(d.text for d in deltas if d.kind == kind and (index is None or d.index == index))


def assert_adds_up(response: ModelResponse, deltas: list[ModelDelta]) -> None:
    assert joined(deltas, "content") == (response.content or "")
    assert joined(deltas, "reasoning") == (response.reasoning or "")
    for index, call in enumerate(response.tool_calls):
        pieces = [d for d in deltas if d.kind == "tool_call" and d.index == index]
        assert pieces, f"no pieces for call {index}"
        assert {(d.tool_call_id, d.tool_name) for d in pieces} == {(call.id, call.name)}
        assert json.loads(joined(deltas, "tool_call", index)) == json.loads(call.arguments)


# -- the default: every model works ----------------------------------------------------------------


class PlainModel(Model):
    def __init__(self) -> None:
        self.handle = ModelHandle("plain", "one")

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(content=f"{len(request.messages)} message(s)", finish_reason="stop")


async def test_a_model_that_does_not_stream_answers_whole_without_pieces() -> None:
    response, deltas = await streamed(PlainModel())
    assert deltas == []
    assert response == await PlainModel().complete(REQUEST)


# -- the scripted model ----------------------------------------------------------------------------


def rich_response() -> ModelResponse:
    return tool_calls_response(
        tool_call(
            "send_message", thinking='Say "hi" \\ politely. \u00e9\U0001f600', message="Hello \U0001f600!\n"
        ),
        tool_call("remember", fact="likes \u201ctea\u201d"),
        content="Some text first.",
    )


async def test_scripted_model_streams_small_pieces_that_add_up() -> None:
    answer = rich_response()
    answer.reasoning = "native thoughts"
    model = ScriptedModel(name="s")
    model.enqueue(answer, answer)

    plain = await model.complete(REQUEST)
    response, deltas = await streamed(model)

    assert response == plain
    assert len(model.requests) == 2  # the streamed call is recorded like any other
    assert_adds_up(response, deltas)
    # Arguments arrive exactly as they will be stored, in pieces no longer than the longest size.
    for index, call in enumerate(response.tool_calls):
        assert joined(deltas, "tool_call", index) == call.arguments
    assert len(deltas) > 30
    assert max(len(d.text) for d in deltas) <= max(STREAM_PIECES)
    kinds = [d.kind for d in deltas]
    assert kinds.index("reasoning") < kinds.index("content") < kinds.index("tool_call")


async def test_scripted_model_failure_is_raised_before_any_piece() -> None:
    model = ScriptedModel(name="s").enqueue(ProviderError("down", provider="scripted"))
    deltas: list[ModelDelta] = []
    with pytest.raises(ProviderError, match="down"):
        await model.complete_streaming(REQUEST, deltas.append)
    assert deltas == []


# -- the OpenAI-compatible adapter, through the SDK against the fake ------------------------------


@pytest.fixture
async def openai_model(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    model = OpenAIModel("openai/gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
    yield model
    await model.aclose()


def calls_reply() -> ToolCallsReply:
    return ToolCallsReply(
        [
            FakeToolCall(
                "send_message", {"thinking": "Greet.", "message": 'Hi \u00e9 \U0001f600 "there"'}, id="c1"
            ),
            FakeToolCall("remember", '{"fact":  "two\\nlines"}', id="c2"),
        ],
        text="Before the calls.",
        reasoning="Native reasoning.",
        usage=(120, 34),
    )


async def test_openai_stream_adds_up_to_the_plain_answer(
    fake_openai: FakeOpenAIServer, openai_model: OpenAIModel
) -> None:
    fake_openai.queue(calls_reply(), calls_reply())

    plain = await openai_model.complete(REQUEST)
    response, deltas = await streamed(openai_model)

    sent = fake_openai.last_chat_request
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tools"][0]["function"]["name"] == "send_message"
    assert response == plain
    assert response.usage.prompt_tokens == 120 and response.usage.completion_tokens == 34
    assert response.finish_reason == "tool_calls"
    assert [c.id for c in response.tool_calls] == ["c1", "c2"]
    assert response.tool_calls[1].arguments == '{"fact":  "two\\nlines"}'  # as the provider wrote it
    assert_adds_up(response, deltas)
    assert joined(deltas, "tool_call", 1) == response.tool_calls[1].arguments
    assert len([d for d in deltas if d.kind == "tool_call"]) > 4  # the fake sends 8 characters a chunk


async def test_openai_stream_of_plain_text(fake_openai: FakeOpenAIServer, openai_model: OpenAIModel) -> None:
    fake_openai.queue(TextReply("A reply long enough for several chunks.", reasoning="Think first."))
    response, deltas = await streamed(openai_model, ModelRequest(messages=[ChatMessage("user", "hi")]))

    assert response.content == "A reply long enough for several chunks."
    assert response.reasoning == "Think first."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage.prompt_tokens > 0
    assert len([d for d in deltas if d.kind == "content"]) == 5
    assert_adds_up(response, deltas)


async def test_openai_stream_errors_are_provider_errors(
    fake_openai: FakeOpenAIServer, openai_model: OpenAIModel
) -> None:
    fake_openai.queue_error(503, "overloaded")
    with pytest.raises(ProviderError, match="overloaded") as refused:
        await streamed(openai_model)
    assert refused.value.status == 503

    fake_openai.queue_context_overflow()
    with pytest.raises(ContextWindowExceededError):
        await streamed(openai_model)

    # A provider that fails mid-stream: the pieces already sent were delivered, then the error.
    fake_openai.queue(TextReply("Partial answer that breaks", stream_error="upstream went away"))
    deltas: list[ModelDelta] = []
    with pytest.raises(ProviderError, match="upstream went away"):
        await openai_model.complete_streaming(REQUEST, deltas.append)
    assert joined(deltas, "content") == "Partial answer that breaks"

    # A 200 that is not a stream at all.
    fake_openai.queue({"unexpected": True})
    with pytest.raises(ProviderError, match="streamed no message"):
        await streamed(openai_model)
