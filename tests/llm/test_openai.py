"""The OpenAI-compatible adapter through the real `openai` SDK against the fake server on loopback."""

import json
from collections.abc import AsyncIterator

import openai
import pytest

from memfold.errors import ContextWindowExceededError, ProviderError
from memfold.llm import ChatMessage, ModelRequest, ToolCall, ToolSpec
from memfold.llm.openai import OpenAIModel, is_context_overflow, make_openai_client
from tests.fakes import FakeOpenAIServer, TextReply, free_port

SEND_MESSAGE = ToolSpec(
    name="send_message",
    description="Send a message to the user.",
    parameters={
        "type": "object",
        "properties": {"message": {"type": "string"}, "request_heartbeat": {"type": "boolean"}},
        "required": ["message", "request_heartbeat"],
    },
)


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    model = OpenAIModel("openai/gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-test", max_retries=2)
    yield model
    await model.aclose()


def conversation() -> list[ChatMessage]:
    return [
        ChatMessage("system", "You are Sam. <persona>likes tea</persona>"),
        ChatMessage("user", "hi"),
        ChatMessage(
            "assistant",
            tool_calls=[ToolCall("call_1", "send_message", '{"message": "hello!"}')],
            reasoning="greet the user",
        ),
        ChatMessage("tool", '{"status": "OK"}', tool_call_id="call_1", name="send_message"),
        ChatMessage("user", "what do I like?", name="alice"),
    ]


async def test_tool_call_round_trip(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.queue_tool_call("send_message", message="You like tea.", request_heartbeat=False)

    response = await model.complete(
        ModelRequest(messages=conversation(), tools=[SEND_MESSAGE], tool_choice="required")
    )

    sent = fake_openai.last_chat_request
    assert sent["model"] == "gpt-4o-mini"
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "send_message",
                "description": "Send a message to the user.",
                "parameters": SEND_MESSAGE.parameters,
            },
        }
    ]
    assert sent["messages"] == [
        {"role": "system", "content": "You are Sam. <persona>likes tea</persona>"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_message", "arguments": '{"message": "hello!"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"status": "OK"}', "tool_call_id": "call_1"},
        {"role": "user", "content": "what do I like?", "name": "alice"},
    ]
    assert "greet the user" not in json.dumps(sent)
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer sk-test"

    (call,) = response.tool_calls
    assert call.name == "send_message"
    assert json.loads(call.arguments) == {"message": "You like tea.", "request_heartbeat": False}
    assert call.id.startswith("call_")
    assert response.finish_reason == "tool_calls"
    assert response.content is None
    assert response.model == "gpt-4o-mini"


async def test_text_reply_with_usage_and_reasoning(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.queue(TextReply("Tea, mostly.", reasoning="they said tea", usage=(123, 45)))

    response = await model.complete(
        ModelRequest(messages=[ChatMessage("user", "hi")], max_tokens=64, temperature=0.2)
    )

    assert response.content == "Tea, mostly."
    assert response.reasoning == "they said tea"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (123, 45)
    assert response.finish_reason == "stop"
    assert response.tool_calls == []
    sent = fake_openai.last_chat_request
    assert "tools" not in sent
    assert "tool_choice" not in sent
    assert "parallel_tool_calls" not in sent
    assert sent["max_tokens"] == 64  # not OpenAI itself: the widely supported parameter
    assert sent["temperature"] == 0.2


async def test_ollama_style_reasoning_field(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    message = {"role": "assistant", "content": "4", "reasoning": "2+2"}
    fake_openai.queue({"id": "x", "object": "chat.completion", "created": 0, "model": "llama3.1",
                       "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})  # fmt: skip

    response = await model.complete(ModelRequest(messages=[ChatMessage("user", "2+2?")]))

    assert (response.content, response.reasoning, response.usage.total_tokens) == ("4", "2+2", 0)


async def test_rate_limit_is_retried_by_the_sdk(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.queue_error(429, "slow down", times=2)
    fake_openai.queue_text("finally")

    response = await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))

    assert response.content == "finally"
    assert len(fake_openai.chat_requests) == 3  # max_retries=2: two retries, bounded


async def test_persistent_server_error_becomes_provider_error(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.queue_error(500, "the server exploded", times=5)

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))

    error = info.value
    assert type(error) is ProviderError
    assert (error.status, error.retryable, error.provider) == (500, True, "openai")
    assert "the server exploded" in error.message
    assert error.body["message"] == "the server exploded"
    assert isinstance(error.__cause__, openai.InternalServerError)
    assert len(fake_openai.chat_requests) == 3
    assert fake_openai.pending == 2


async def test_context_length_exceeded(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.queue_context_overflow()

    with pytest.raises(ContextWindowExceededError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "x" * 1000)]))

    assert info.value.status == 400
    assert info.value.retryable is False
    assert len(fake_openai.chat_requests) == 1  # a 400 is not retried


async def test_overflow_recognised_by_message_without_code(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.queue_error(400, "the request exceeds the available context size, try increasing it")

    with pytest.raises(ContextWindowExceededError):
        await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))


def test_is_context_overflow() -> None:
    assert is_context_overflow(400, "context_length_exceeded", "whatever")
    assert is_context_overflow(400, None, "This model's maximum context length is 8192 tokens.")
    assert not is_context_overflow(400, None, "Invalid value for 'temperature'")
    assert not is_context_overflow(500, None, "maximum context length")


async def test_authentication_error_is_not_retryable(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.queue_error(401, "Incorrect API key provided", code="invalid_api_key")

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))

    assert (info.value.status, info.value.retryable) == (401, False)


async def test_connection_refused_becomes_provider_error() -> None:
    model = OpenAIModel("openai/gpt-4o-mini", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))
    await model.aclose()

    assert info.value.retryable is True
    assert info.value.status is None
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


async def test_timeout_becomes_retryable_provider_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.queue(TextReply("too late", delay=1.0))
    model = OpenAIModel("openai/m", base_url=fake_openai.base_url, timeout=0.2, max_retries=0)

    with pytest.raises(ProviderError, match="timed out") as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))
    await model.aclose()

    assert info.value.retryable is True


async def test_response_without_a_message(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.queue({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
    fake_openai.queue({"error": {"message": "upstream provider failed", "code": 502}})  # a gateway's 200
    req = ModelRequest(messages=[ChatMessage("user", "hi")])

    with pytest.raises(ProviderError, match=r"returned no message$") as empty:
        await model.complete(req)
    with pytest.raises(ProviderError, match="no message: upstream provider failed") as gateway:
        await model.complete(req)

    assert (empty.value.retryable, gateway.value.retryable) == (False, True)


async def test_injected_client_is_shared_and_left_open(fake_openai: FakeOpenAIServer) -> None:
    client = make_openai_client(base_url=fake_openai.base_url, api_key="k", max_retries=0)
    first, second = OpenAIModel("openai/a", client=client), OpenAIModel("openai/b", client=client)

    await first.aclose()
    fake_openai.queue_text("still open")
    response = await second.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))
    await client.close()

    assert response.content == "still open"
    assert first.client is second.client


async def test_openai_itself_gets_max_completion_tokens() -> None:
    model = OpenAIModel("openai/gpt-4o-mini", api_key="sk-never-used")

    assert model._max_tokens_param == "max_completion_tokens"
    await model.aclose()


# -- the fake server itself, through the SDK ------------------------------------------------


async def test_fake_streams_text_tool_calls_and_usage(fake_openai: FakeOpenAIServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="k", max_retries=0)
    fake_openai.queue_tool_call("send_message", message="streamed reply")

    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    arguments, names, usage, finish = "", [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names.append(call.function.name)
                arguments += (call.function.arguments or "") if call.function else ""
    await client.close()

    assert names == ["send_message"]
    assert json.loads(arguments) == {"message": "streamed reply"}
    assert finish == "tool_calls"
    assert usage is not None
    assert usage.prompt_tokens > 0


async def test_fake_echoes_through_send_message_by_default(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    response = await model.complete(
        ModelRequest(messages=[ChatMessage("user", "ping")], tools=[SEND_MESSAGE], tool_choice="required")
    )

    (call,) = response.tool_calls
    assert json.loads(call.arguments) == {"message": "echo: ping", "request_heartbeat": False}
