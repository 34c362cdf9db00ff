import json
import time

import pytest

from memfold.errors import ProviderError
from memfold.llm import (
    ChatMessage,
    ModelRequest,
    ModelResponse,
    ScriptedModel,
    ToolSpec,
    Usage,
    text_response,
    tool_call,
    tool_call_response,
    tool_calls_response,
)


def request(text: str = "hello") -> ModelRequest:
    return ModelRequest(messages=[ChatMessage("system", "be brief"), ChatMessage("user", text)])


async def test_queued_responses_are_served_in_order_and_requests_recorded() -> None:
    model = ScriptedModel(name="helper").enqueue(text_response("one"), text_response("two"))

    first = await model.complete(request("a"))
    second = await model.complete(request("b"))

    assert (first.content, second.content) == ("one", "two")
    assert [r.messages[-1].content for r in model.requests] == ["a", "b"]
    assert model.pending == 0
    assert str(model.handle) == "scripted/helper"


async def test_empty_queue_without_function_is_a_provider_error() -> None:
    model = ScriptedModel(name="mute")

    with pytest.raises(ProviderError, match="no queued response and no function") as info:
        await model.complete(request())

    assert info.value.provider == "scripted"


async def test_function_decides_from_the_request() -> None:
    def shout(req: ModelRequest) -> ModelResponse:
        return text_response((req.messages[-1].content or "").upper())

    model = ScriptedModel(shout)

    assert (await model.complete(request("hey"))).content == "HEY"


async def test_async_function_and_queue_first() -> None:
    async def answer(req: ModelRequest) -> ModelResponse:
        return text_response(f"fn saw {len(req.messages)} messages")

    model = ScriptedModel(answer).enqueue(text_response("queued"))

    assert (await model.complete(request())).content == "queued"
    assert (await model.complete(request())).content == "fn saw 2 messages"


async def test_queued_exception_is_raised() -> None:
    model = ScriptedModel().enqueue(ProviderError("rate limited", provider="scripted", status=429))

    with pytest.raises(ProviderError, match="rate limited"):
        await model.complete(request())


async def test_recorded_request_is_a_copy_of_the_message_list() -> None:
    model = ScriptedModel().enqueue(text_response("ok"))
    req = request()

    await model.complete(req)
    req.messages.append(ChatMessage("user", "added later"))

    assert len(model.last_request.messages) == 2


def test_tool_call_response_serialises_arguments_and_ids_differ() -> None:
    response = tool_call_response("send_message", message="hi", request_heartbeat=False)
    other = tool_call_response("send_message", message="hi")

    (call,) = response.tool_calls
    assert call.name == "send_message"
    assert json.loads(call.arguments) == {"message": "hi", "request_heartbeat": False}
    assert call.id.startswith("call_")
    assert call.id != other.tool_calls[0].id
    assert response.finish_reason == "tool_calls"


def test_parallel_tool_calls_response() -> None:
    response = tool_calls_response(tool_call("a", x=1), tool_call("b"))

    assert [c.name for c in response.tool_calls] == ["a", "b"]
    assert json.loads(response.tool_calls[1].arguments) == {}


async def test_usage_is_estimated_when_missing_and_kept_when_given() -> None:
    tools = [ToolSpec("send_message", "Send a message to the user.", {"type": "object", "properties": {}})]
    model = ScriptedModel().enqueue(
        text_response("x" * 400),
        ModelResponse(content="y", usage=Usage(prompt_tokens=7, completion_tokens=3)),
    )
    long_request = ModelRequest(messages=[ChatMessage("user", "z" * 4000)], tools=tools)

    estimated = await model.complete(long_request)
    given = await model.complete(long_request)

    assert estimated.usage.prompt_tokens >= 1000
    assert estimated.usage.completion_tokens >= 100
    assert (given.usage.prompt_tokens, given.usage.completion_tokens) == (7, 3)
    assert estimated.model == given.model == "scripted/default"


async def test_usage_estimation_can_be_turned_off() -> None:
    model = ScriptedModel(estimate_usage=False).enqueue(text_response("x"))

    assert (await model.complete(request())).usage.total_tokens == 0


async def test_latency_is_awaited() -> None:
    model = ScriptedModel(latency=0.05).enqueue(text_response("slow"))

    started = time.perf_counter()
    await model.complete(request())

    assert time.perf_counter() - started >= 0.045


async def test_zero_latency_path_is_cheap() -> None:
    model = ScriptedModel(lambda req: tool_call_response("send_message", message="hi"))
    req = request()

    started = time.perf_counter()
    for _ in range(2000):
        await model.complete(req)
    per_call = (time.perf_counter() - started) / 2000

    assert per_call < 0.0005  # well under the 5 ms budget of a whole agent step
