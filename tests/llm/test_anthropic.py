"""The Anthropic adapter through the real `anthropic` SDK against a fake Messages API on loopback."""

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from memfold.errors import ConfigurationError, ContextWindowExceededError, ProviderError
from memfold.llm import ChatMessage, ModelRequest, ToolCall, ToolSpec
from memfold.llm.anthropic import AnthropicModel, make_anthropic_client, to_anthropic
from memfold.llm.providers import ModelRegistry
from tests.fakes import FakeAnthropicServer, TextReply, free_port

SEND_MESSAGE = ToolSpec(
    name="send_message",
    description="Send a message to the user.",
    parameters={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
)


@pytest.fixture
async def model(fake_anthropic: FakeAnthropicServer) -> AsyncIterator[AnthropicModel]:
    model = AnthropicModel(
        "anthropic/claude-sonnet-4-6", base_url=fake_anthropic.base_url, api_key="sk-ant-test", max_retries=1
    )
    yield model
    await model.aclose()


def conversation() -> list[ChatMessage]:
    return [
        ChatMessage("system", "You are Sam."),
        ChatMessage("system", "<persona>likes tea</persona>"),
        ChatMessage("user", "hi"),
        ChatMessage(
            "assistant",
            "Let me greet them.",
            tool_calls=[ToolCall("toolu_1", "send_message", '{"message": "hello!"}')],
            reasoning="private thoughts",
        ),
        ChatMessage("tool", '{"status": "OK"}', tool_call_id="toolu_1", name="send_message"),
        ChatMessage("user", "what do I like?"),
    ]


async def test_tool_call_round_trip(fake_anthropic: FakeAnthropicServer, model: AnthropicModel) -> None:
    fake_anthropic.queue_tool_call("send_message", message="You like tea.")

    response = await model.complete(
        ModelRequest(messages=conversation(), tools=[SEND_MESSAGE], tool_choice="required")
    )

    sent = fake_anthropic.last_message_request
    assert sent["model"] == "claude-sonnet-4-6"
    assert sent["max_tokens"] == 4096
    assert sent["system"] == "You are Sam.\n\n<persona>likes tea</persona>"
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["tools"] == [
        {
            "name": "send_message",
            "description": "Send a message to the user.",
            "input_schema": SEND_MESSAGE.parameters,
        }
    ]
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me greet them."},
                {"type": "tool_use", "id": "toolu_1", "name": "send_message", "input": {"message": "hello!"}},
            ],
        },
        {
            "role": "user",  # the tool result and the next user message merged into one turn
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"status": "OK"}'},
                {"type": "text", "text": "what do I like?"},
            ],
        },
    ]
    assert "private thoughts" not in json.dumps(sent)
    headers = fake_anthropic.requests[-1].headers
    assert "sk-ant-test" in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )

    (call,) = response.tool_calls
    assert call.id.startswith("toolu_")
    assert (call.name, json.loads(call.arguments)) == ("send_message", {"message": "You like tea."})
    assert response.finish_reason == "tool_calls"


async def test_text_thinking_and_usage(fake_anthropic: FakeAnthropicServer, model: AnthropicModel) -> None:
    fake_anthropic.queue(TextReply("Tea.", reasoning="they said tea", usage=(321, 12)))

    response = await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")], max_tokens=100))

    assert (response.content, response.reasoning) == ("Tea.", "they said tea")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (321, 12)
    assert response.finish_reason == "stop"
    sent = fake_anthropic.last_message_request
    assert sent["max_tokens"] == 100
    assert "tools" not in sent
    assert "tool_choice" not in sent
    assert "system" not in sent


async def test_prompt_too_long(fake_anthropic: FakeAnthropicServer, model: AnthropicModel) -> None:
    fake_anthropic.queue_context_overflow()

    with pytest.raises(ContextWindowExceededError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "x")]))

    assert info.value.status == 400
    assert info.value.provider == "anthropic"


async def test_overloaded_is_retried_then_reported(
    fake_anthropic: FakeAnthropicServer, model: AnthropicModel
) -> None:
    fake_anthropic.queue_error(529, "Overloaded", times=3)

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "x")]))

    assert (info.value.status, info.value.retryable) == (529, True)
    assert "Overloaded" in info.value.message
    assert isinstance(info.value.__cause__, anthropic.APIStatusError)
    assert len(fake_anthropic.message_requests) == 2  # max_retries=1


async def test_other_bad_request_is_a_plain_provider_error(
    fake_anthropic: FakeAnthropicServer, model: AnthropicModel
) -> None:
    fake_anthropic.queue_error(400, "messages: roles must alternate")

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "x")]))

    assert type(info.value) is ProviderError
    assert info.value.retryable is False


async def test_connection_refused() -> None:
    model = AnthropicModel(
        "anthropic/c", base_url=f"http://127.0.0.1:{free_port()}", api_key="k", max_retries=0
    )

    with pytest.raises(ProviderError) as info:
        await model.complete(ModelRequest(messages=[ChatMessage("user", "x")]))
    await model.aclose()

    assert info.value.retryable is True
    assert isinstance(info.value.__cause__, anthropic.APIConnectionError)


def test_without_tools_tool_history_becomes_text() -> None:
    system, messages = to_anthropic(conversation(), tools_offered=False)

    assert system.startswith("You are Sam.")
    turns: list[dict[str, Any]] = json.loads(json.dumps(messages))
    blocks = [block for turn in turns for block in turn["content"]]
    assert {block["type"] for block in blocks} == {"text"}
    texts = " ".join(block["text"] for block in blocks)
    assert "[called tool send_message with" in texts
    assert '[result of tool send_message]: {"status": "OK"}' in texts


def test_turns_start_with_user_and_late_system_messages_become_user_text() -> None:
    system, messages = to_anthropic(
        [
            ChatMessage("system", "core"),
            ChatMessage("assistant", "Hello, I am Sam."),
            ChatMessage("system", "memory pressure: 80% used"),
            ChatMessage("user", ""),
            ChatMessage("user", "hi"),
        ]
    )

    assert system == "core"
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[2]["content"] == [
        {"type": "text", "text": "[system] memory pressure: 80% used"},
        {"type": "text", "text": "hi"},
    ]


def test_missing_sdk_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)

    with pytest.raises(ConfigurationError, match=r"pip install 'memfold\[anthropic\]'"):
        make_anthropic_client(api_key="k")
    with pytest.raises(ConfigurationError, match="memfold"):
        ModelRegistry(environ={"ANTHROPIC_API_KEY": "k"}).get("anthropic/claude-sonnet-4-6")
