"""The OpenAI-compatible adapter, on the official `openai` SDK.

One adapter serves every server that speaks `/v1/chat/completions`: OpenAI itself,
Ollama, vLLM, llama.cpp, LM Studio, Groq, Together, OpenRouter ... only the base URL
and the key differ. Retries (bounded exponential backoff on 429, 5xx, timeouts and
connection errors) are the SDK's own, sized by `Settings.llm_max_retries`; every SDK
exception is translated into `ProviderError` here and never escapes. `complete_streaming`
asks for `stream=True` (with the usage in the last chunk) and adds the chunks up into the
same response `complete` returns.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from memfold.config import get_settings
from memfold.errors import ContextWindowExceededError, ProviderError
from memfold.llm.base import (
    ChatMessage,
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
    "OPENAI_BASE_URL",
    "OpenAIModel",
    "is_context_overflow",
    "list_openai_models",
    "make_openai_client",
    "to_openai_messages",
    "translate_error",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"

# How OpenAI-compatible servers word "your prompt does not fit" (OpenAI, vLLM, llama.cpp,
# LM Studio, Groq, Together, Mistral, ...). Matched against the lower-cased error message.
_OVERFLOW_PATTERNS = re.compile(
    r"maximum context length|context length|context_length_exceeded|context window"
    r"|exceeds the available context|exceed_context_size|prompt is too long|input is too long"
    r"|too many tokens|reduce the length of the messages"
)
_OVERFLOW_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}


def make_openai_client(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> AsyncOpenAI:
    """An `AsyncOpenAI` client for any OpenAI-compatible server; no network until first use.

    Local servers (Ollama, llama.cpp, ...) ignore the key, so a placeholder is sent when
    none is given rather than letting the SDK read `OPENAI_API_KEY` behind our back.
    """
    settings = get_settings()
    return AsyncOpenAI(
        base_url=base_url or OPENAI_BASE_URL,
        api_key=api_key or "no-key",
        timeout=settings.llm_timeout if timeout is None else timeout,
        max_retries=settings.llm_max_retries if max_retries is None else max_retries,
    )


class OpenAIModel(Model):
    """A chat model behind an OpenAI-compatible `/chat/completions` endpoint.

    Pass `client` to share one connection pool between the models of a provider (the
    registry does); otherwise a client is built from `base_url`, `api_key` and Settings,
    and closed by `aclose()`.
    """

    def __init__(
        self,
        handle: ModelHandle | str,
        *,
        client: AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        self.handle = handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)
        self._owns_client = client is None
        self.client = client or make_openai_client(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        # OpenAI's newer models reject `max_tokens`; most compatible servers only know it.
        self._max_tokens_param = (
            "max_completion_tokens" if str(self.client.base_url).startswith(OPENAI_BASE_URL) else "max_tokens"
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            completion = await self.client.chat.completions.create(
                model=self.handle.model,
                messages=to_openai_messages(request.messages),
                stream=False,
                **self._params(request),
            )
        except openai.OpenAIError as e:
            raise translate_error(e, provider=self.handle.provider) from e
        return self._parse(completion)

    async def complete_streaming(self, request: ModelRequest, on_delta: OnDelta) -> ModelResponse:
        """`stream=True`: text, reasoning and tool-call arguments reach `on_delta` as the chunks come;
        they are added up into the same `ModelResponse` that `complete` returns."""
        reply = _StreamedReply(self.handle)
        try:
            stream = await self.client.chat.completions.create(
                model=self.handle.model,
                messages=to_openai_messages(request.messages),
                stream=True,
                stream_options={"include_usage": True},
                **self._params(request),
            )
            async with stream:
                async for chunk in stream:
                    reply.add(chunk, on_delta)
        except openai.OpenAIError as e:
            raise translate_error(e, provider=self.handle.provider) from e
        except ValueError as e:  # a chunk that is not JSON (the SDK's json.loads)
            raise ProviderError(
                f"{self.handle.provider} sent a malformed stream: {e}", provider=self.handle.provider
            ) from e
        return reply.response()

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if request.tools:
            params["tools"] = [
                _tool_param(tool.name, tool.description, tool.parameters) for tool in request.tools
            ]
            params["tool_choice"] = request.tool_choice
            params["parallel_tool_calls"] = request.parallel_tool_calls
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params[self._max_tokens_param] = request.max_tokens
        return params

    def _parse(self, completion: ChatCompletion) -> ModelResponse:
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice is not None else None
        if choice is None or message is None:
            # Some gateways (OpenRouter, LiteLLM) report upstream failures in a 200 body.
            body = completion.model_dump(mode="json")
            error = body.get("error")
            detail = error.get("message") if isinstance(error, dict) else None
            raise ProviderError(
                f"{self.handle.provider} returned no message" + (f": {detail}" if detail else ""),
                provider=self.handle.provider,
                body=body,
                retryable=error is not None,
            )
        usage = Usage()
        if completion.usage is not None:
            usage = Usage(
                prompt_tokens=completion.usage.prompt_tokens or 0,
                completion_tokens=completion.usage.completion_tokens or 0,
            )
        return ModelResponse(
            content=message.content or None,
            tool_calls=[_parse_tool_call(call) for call in message.tool_calls or []],
            reasoning=_reasoning(message.model_extra),
            usage=usage,
            finish_reason=choice.finish_reason,
            model=completion.model or self.handle.model,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()


class _StreamedReply:
    """A streamed completion added up chunk by chunk: the text, the reasoning and the tool calls (by
    index; a call's id and name come with its first chunk, its arguments in pieces)."""

    def __init__(self, handle: ModelHandle) -> None:
        self.handle = handle
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, tuple[str, str, list[str]]] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.model: str | None = None
        self.choices = 0

    def add(self, chunk: ChatCompletionChunk, on_delta: OnDelta) -> None:
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
        for choice in chunk.choices[:1]:
            self.choices += 1
            delta = choice.delta
            self.finish_reason = choice.finish_reason or self.finish_reason
            if thought := _reasoning(delta.model_extra):
                self.reasoning.append(thought)
                on_delta(ModelDelta("reasoning", thought))
            if delta.content:
                self.content.append(delta.content)
                on_delta(ModelDelta("content", delta.content))
            for call in delta.tool_calls or ():
                self._add_call(call, on_delta)

    def _add_call(self, call: ChoiceDeltaToolCall, on_delta: OnDelta) -> None:
        function = call.function
        if call.index not in self.calls:
            call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
            self.calls[call.index] = (call_id, "", [])
        call_id, name, arguments = self.calls[call.index]
        if function is not None and function.name and not name:
            name = function.name
            self.calls[call.index] = (call_id, name, arguments)
        piece = function.arguments if function is not None and function.arguments else ""
        arguments.append(piece)
        on_delta(ModelDelta("tool_call", piece, call.index, call_id, name or None))

    def response(self) -> ModelResponse:
        if not self.choices:
            raise ProviderError(f"{self.handle.provider} streamed no message", provider=self.handle.provider)
        return ModelResponse(
            content="".join(self.content) or None,
            tool_calls=[
                ToolCall(call_id, name, "".join(arguments) or "{}")
                for _, (call_id, name, arguments) in sorted(self.calls.items())
            ],
            reasoning="".join(self.reasoning) or None,
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model or self.handle.model,
        )


async def list_openai_models(client: AsyncOpenAI, *, time_limit: float) -> list[tuple[str, int | None]]:
    """`GET /models`, once, without retries: (model id, context window when the server states it)."""
    page = await client.with_options(timeout=time_limit, max_retries=0).models.list()
    return [(model.id, _stated_window(model.model_extra)) for model in page.data]


def _stated_window(extra: dict[str, Any] | None) -> int | None:
    # OpenRouter says `context_length`, LM Studio `max_context_length`, vLLM `max_model_len`.
    for key in ("context_length", "max_context_length", "max_model_len", "context_window"):
        value = (extra or {}).get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def to_openai_messages(messages: Iterable[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """Our messages in chat.completions shape. `reasoning` is never sent back as content."""
    converted: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "system":
            converted.append({"role": "system", "content": message.content or ""})
        elif message.role == "user":
            if message.name:
                converted.append({"role": "user", "content": message.content or "", "name": message.name})
            else:
                converted.append({"role": "user", "content": message.content or ""})
        elif message.role == "assistant":
            converted.append(_assistant_message(message))
        else:
            converted.append(
                {"role": "tool", "content": message.content or "", "tool_call_id": message.tool_call_id or ""}
            )
    return converted


def _assistant_message(message: ChatMessage) -> ChatCompletionAssistantMessageParam:
    param: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": message.content or None}
    if message.tool_calls:
        calls: list[ChatCompletionMessageFunctionToolCallParam] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
        param["tool_calls"] = calls
    elif param["content"] is None:
        param["content"] = ""
    return param


def _tool_param(name: str, description: str, parameters: dict[str, Any]) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def _parse_tool_call(call: object) -> ToolCall:
    # Function calls carry `.function`; custom-tool calls carry `.custom` with free-form input.
    call_id = getattr(call, "id", None) or f"call_{uuid.uuid4().hex[:24]}"
    function = getattr(call, "function", None)
    if function is not None:
        arguments = function.arguments
        if not isinstance(arguments, str):  # a few servers send an object instead of JSON text
            arguments = json.dumps(arguments)
        return ToolCall(id=call_id, name=function.name, arguments=arguments or "{}")
    custom = getattr(call, "custom", None)
    return ToolCall(id=call_id, name=getattr(custom, "name", ""), arguments=getattr(custom, "input", ""))


def _reasoning(extra: dict[str, Any] | None) -> str | None:
    """Native thinking: `reasoning_content` (DeepSeek, vLLM, llama.cpp), `reasoning` (Ollama, OpenRouter)."""
    if not extra:
        return None
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def is_context_overflow(status: int | None, code: str | None, message: str) -> bool:
    """Whether a provider's rejection means the prompt does not fit in the model's context window."""
    if code in _OVERFLOW_CODES:
        return True
    return status is not None and 400 <= status < 500 and bool(_OVERFLOW_PATTERNS.search(message.lower()))


def translate_error(error: openai.OpenAIError, *, provider: str) -> ProviderError:
    """The `ProviderError` for an SDK exception (the caller raises it `from` the original)."""
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message = _error_message(error)
        if is_context_overflow(status, error.code, message):
            return ContextWindowExceededError(
                f"{provider} rejected the prompt as too long: {message}",
                provider=provider,
                status=status,
                body=error.body,
            )
        return ProviderError(
            f"{provider} returned HTTP {status}: {message}",
            provider=provider,
            status=status,
            body=error.body,
            retryable=status in (408, 409, 429) or status >= 500,
        )
    if isinstance(error, openai.APITimeoutError):
        return ProviderError(f"{provider} timed out", provider=provider, retryable=True)
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return ProviderError(f"cannot reach {provider}: {cause}", provider=provider, retryable=True)
    return ProviderError(f"{provider} request failed: {error}", provider=provider)


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body
    return error.message
