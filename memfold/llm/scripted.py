"""A model whose answers are written by the test: the test double shipped in the package.

Two ways to script it, usable together (queued responses are served first):

- a function `(ModelRequest) -> ModelResponse` (sync or async) that decides each answer
  from what the model was asked, like pydantic-ai's `FunctionModel`;
- `enqueue(*responses)` for canned answers in order, like llm's `MockModel`.

    model = ScriptedModel(name="helper")
    model.enqueue(tool_call_response("send_message", message="hi"))
    get_registry().register_model(model)      # now `scripted/helper` resolves to it

Every request is kept in `.requests` so a test can assert what the model was shown.
`complete_streaming` serves the same answers in small pieces of irregular size (reasoning, then
text, then each tool call's arguments), so a test sees many deltas and escapes split between them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from memfold.errors import ProviderError
from memfold.llm.base import (
    Model,
    ModelDelta,
    ModelHandle,
    ModelRequest,
    ModelResponse,
    OnDelta,
    ToolCall,
    Usage,
)

__all__ = [
    "ScriptFunction",
    "ScriptedModel",
    "stream_pieces",
    "text_response",
    "tool_call",
    "tool_call_response",
    "tool_calls_response",
]

ScriptFunction = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]
"""Decides the answer to one request; may be a plain or an `async` function, and may raise."""

PROVIDER = "scripted"
STREAM_PIECES = (3, 1, 4, 1, 5, 9, 2, 6)
"""The sizes, in characters, of the pieces `complete_streaming` cuts text into (cycled)."""


class ScriptedModel(Model):
    """A `Model` answering from a queue of canned responses, then from a function.

    `latency` (seconds) is awaited before each answer, to simulate a slow provider.
    When a response carries no token usage, a crude estimate (characters / 4) is
    filled in, so context accounting that reads usage behaves as with a real model.
    """

    def __init__(
        self,
        function: ScriptFunction | None = None,
        *,
        name: str = "default",
        latency: float = 0.0,
        context_window: int | None = None,
        estimate_usage: bool = True,
    ) -> None:
        self.handle = ModelHandle(PROVIDER, name)
        self.function = function
        self.latency = latency
        self.context_window = context_window
        self.estimate_usage = estimate_usage
        self.requests: list[ModelRequest] = []
        self._queue: deque[ModelResponse | BaseException] = deque()

    def enqueue(self, *responses: ModelResponse | BaseException) -> ScriptedModel:
        """Queue answers (or exceptions to raise) for the next calls, in order. Returns self."""
        self._queue.extend(responses)
        return self

    @property
    def pending(self) -> int:
        """How many queued answers have not been served yet."""
        return len(self._queue)

    @property
    def last_request(self) -> ModelRequest:
        if not self.requests:
            raise AssertionError(f"{self.handle} has not been called")
        return self.requests[-1]

    async def complete_streaming(self, request: ModelRequest, on_delta: OnDelta) -> ModelResponse:
        """The answer `complete` gives, also handed to `on_delta` in pieces of `STREAM_PIECES` sizes."""
        response = await self.complete(request)
        for piece in stream_pieces(response.reasoning or ""):
            on_delta(ModelDelta("reasoning", piece))
        for piece in stream_pieces(response.content or ""):
            on_delta(ModelDelta("content", piece))
        for index, call in enumerate(response.tool_calls):
            on_delta(ModelDelta("tool_call", "", index, call.id, call.name))  # the call opens
            for piece in stream_pieces(call.arguments):
                on_delta(ModelDelta("tool_call", piece, index, call.id, call.name))
        return response

    async def complete(self, request: ModelRequest) -> ModelResponse:
        # Copy the lists so a caller reusing its list cannot rewrite what was recorded.
        recorded = ModelRequest(
            messages=list(request.messages),
            tools=list(request.tools),
            tool_choice=request.tool_choice,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            parallel_tool_calls=request.parallel_tool_calls,
        )
        self.requests.append(recorded)
        if self.latency > 0:
            await asyncio.sleep(self.latency)

        if self._queue:
            item = self._queue.popleft()
            if isinstance(item, BaseException):
                raise item
            response = item
        elif self.function is not None:
            result = self.function(recorded)
            response = await result if inspect.isawaitable(result) else result
        else:
            raise ProviderError(
                f"scripted model {self.handle.model!r} has no queued response and no function: "
                "call .enqueue(...) or pass a function",
                provider=PROVIDER,
            )

        if response.model is None or (self.estimate_usage and response.usage.total_tokens == 0):
            response = _completed(response, recorded, self)
        return response


def stream_pieces(text: str) -> list[str]:
    """`text` cut into consecutive pieces of the `STREAM_PIECES` sizes, in turn."""
    cut: list[str] = []
    start, turn = 0, 0
    while start < len(text):
        size = STREAM_PIECES[turn % len(STREAM_PIECES)]
        cut.append(text[start : start + size])
        start, turn = start + size, turn + 1
    return cut


def _completed(response: ModelResponse, request: ModelRequest, model: ScriptedModel) -> ModelResponse:
    """A copy of `response` with the model name and (when missing) estimated usage filled in."""
    usage = response.usage
    if model.estimate_usage and usage.total_tokens == 0:
        usage = Usage(prompt_tokens=_estimate_prompt_tokens(request), completion_tokens=_estimate(response))
    return ModelResponse(
        content=response.content,
        tool_calls=list(response.tool_calls),
        reasoning=response.reasoning,
        usage=usage,
        finish_reason=response.finish_reason,
        model=response.model or str(model.handle),
    )


def _estimate_prompt_tokens(request: ModelRequest) -> int:
    chars = 0
    for message in request.messages:
        chars += len(message.content or "") + 4
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + 64
    return chars // 4 + 1


def _estimate(response: ModelResponse) -> int:
    chars = len(response.content or "") + len(response.reasoning or "")
    chars += sum(len(call.name) + len(call.arguments) for call in response.tool_calls)
    return chars // 4 + 1


def tool_call(name: str, /, **arguments: Any) -> ToolCall:
    """A `ToolCall` with a generated id and `arguments` serialised to JSON."""
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=json.dumps(arguments))


def tool_call_response(name: str, /, **arguments: Any) -> ModelResponse:
    """A response that calls one tool: `tool_call_response("send_message", message="hi")`."""
    return ModelResponse(tool_calls=[tool_call(name, **arguments)], finish_reason="tool_calls")


def tool_calls_response(*calls: ToolCall, content: str | None = None) -> ModelResponse:
    """A response that calls several tools at once (parallel tool calls)."""
    return ModelResponse(content=content, tool_calls=list(calls), finish_reason="tool_calls")


def text_response(text: str, *, reasoning: str | None = None) -> ModelResponse:
    """A plain-text response, as a model gives when it answers without calling a tool."""
    return ModelResponse(content=text, reasoning=reasoning, finish_reason="stop")
