"""The Anthropic adapter, on the official `anthropic` SDK (an optional extra).

Anthropic's Messages API differs from chat.completions in ways this module absorbs:
the system prompt is a parameter, turns must alternate user/assistant (so consecutive
same-role messages are merged), tool calls are `tool_use` blocks and their results
`tool_result` blocks inside a user turn, and `max_tokens` is mandatory.

Decisions: system messages after the first non-system message (e.g. a system alert)
become user text prefixed `[system]`; when no tools are offered, earlier tool calls and
results are rendered as text (Anthropic rejects tool blocks without tool definitions);
our `reasoning` is never sent back (Anthropic would need the thinking signature).
`complete_streaming` streams through the SDK's `messages.stream` and parses its final message
with the same `_parse`, so both calls return the same response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from memfold.config import get_settings
from memfold.errors import ConfigurationError, ContextWindowExceededError, ProviderError
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

if TYPE_CHECKING:
    from anthropic import AnthropicError, AsyncAnthropic
    from anthropic.lib.streaming import ParsedMessageStreamEvent
    from anthropic.types import (
        AssistantMessageParam,
        ContentBlockParam,
        Message,
        MessageParam,
        ToolChoiceParam,
        ToolParam,
        ToolResultBlockParam,
        UserMessageParam,
    )

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "INSTALL_HINT",
    "AnthropicModel",
    "list_anthropic_models",
    "make_anthropic_client",
    "require_anthropic",
    "to_anthropic",
    "translate_error",
]

DEFAULT_MAX_TOKENS = 4096
INSTALL_HINT = "pip install 'memfold[anthropic]'"
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}
_OVERFLOW_PHRASES = ("prompt is too long", "exceed context limit", "context window")
_START_PLACEHOLDER = "[conversation continues]"

Role = Literal["user", "assistant"]


def require_anthropic() -> None:
    """Raise `ConfigurationError` naming the install command when the SDK is missing."""
    try:
        import anthropic  # noqa: F401
    except ImportError as e:
        raise ConfigurationError(f"the anthropic provider needs the Anthropic SDK: {INSTALL_HINT}") from e


def make_anthropic_client(
    *,
    api_key: str | None,
    base_url: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> AsyncAnthropic:
    """An `AsyncAnthropic` client (no network until first use); retries are the SDK's own."""
    require_anthropic()
    from anthropic import AsyncAnthropic

    settings = get_settings()
    return AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=settings.llm_timeout if timeout is None else timeout,
        max_retries=settings.llm_max_retries if max_retries is None else max_retries,
    )


class AnthropicModel(Model):
    """A Claude model behind the Messages API. Pass `client` to share one per provider."""

    def __init__(
        self,
        handle: ModelHandle | str,
        *,
        client: AsyncAnthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.handle = handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)
        self._owns_client = client is None
        self.client = client or make_anthropic_client(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.default_max_tokens = default_max_tokens

    async def complete(self, request: ModelRequest) -> ModelResponse:
        import anthropic  # present: the client exists

        try:
            message = await self.client.messages.create(**self._params(request))
        except anthropic.AnthropicError as e:
            raise translate_error(e, provider=self.handle.provider) from e
        return _parse(message)

    async def complete_streaming(self, request: ModelRequest, on_delta: OnDelta) -> ModelResponse:
        """The SDK's message stream: text, thinking and tool input pieces reach `on_delta` as they
        come; the final message is parsed exactly as `complete` parses it."""
        import anthropic

        blocks = _StreamedBlocks(on_delta)
        try:
            async with self.client.messages.stream(**self._params(request)) as stream:
                async for event in stream:
                    blocks.add(event)
                message = await stream.get_final_message()
        except anthropic.AnthropicError as e:
            raise translate_error(e, provider=self.handle.provider) from e
        return _parse(message)

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        system, messages = to_anthropic(request.messages, tools_offered=bool(request.tools))
        params: dict[str, Any] = {
            "model": self.handle.model,
            "messages": messages,
            "max_tokens": request.max_tokens or self.default_max_tokens,
        }
        if system:
            params["system"] = system
        if request.tools:
            tools: list[ToolParam] = [
                {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
                for tool in request.tools
            ]
            params["tools"] = tools
            params["tool_choice"] = _tool_choice(request)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()


async def list_anthropic_models(client: AsyncAnthropic, *, time_limit: float) -> list[tuple[str, int | None]]:
    """The Models API, once, without retries: (model id, max input tokens when stated)."""
    page = await client.with_options(timeout=time_limit, max_retries=0).models.list(limit=1000)
    return [(model.id, model.max_input_tokens) for model in page.data]


class _StreamedBlocks:
    """Stream events as `ModelDelta`s. Text blocks after the first are preceded by a newline (and
    thinking blocks likewise), as `_parse` joins blocks; tool calls are numbered in order."""

    def __init__(self, on_delta: OnDelta) -> None:
        self.on_delta = on_delta
        self.seen: set[str] = set()
        self.calls: dict[int, tuple[int, str, str]] = {}
        """Block index -> (tool call position, id, name)."""

    def add(self, event: ParsedMessageStreamEvent[Any]) -> None:
        if event.type == "content_block_start":
            block = event.content_block
            if block.type in ("text", "thinking"):
                if block.type in self.seen:
                    self.on_delta(ModelDelta("content" if block.type == "text" else "reasoning", "\n"))
                self.seen.add(block.type)
            elif block.type == "tool_use":
                self.calls[event.index] = (len(self.calls), block.id, block.name)
                self.on_delta(ModelDelta("tool_call", "", len(self.calls) - 1, block.id, block.name))
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                self.on_delta(ModelDelta("content", delta.text))
            elif delta.type == "thinking_delta":
                self.on_delta(ModelDelta("reasoning", delta.thinking))
            elif delta.type == "input_json_delta" and event.index in self.calls:
                position, call_id, name = self.calls[event.index]
                self.on_delta(ModelDelta("tool_call", delta.partial_json, position, call_id, name))


def _tool_choice(request: ModelRequest) -> ToolChoiceParam:
    single = not request.parallel_tool_calls
    if request.tool_choice == "required":
        return {"type": "any", "disable_parallel_tool_use": single}
    if request.tool_choice == "none":
        return {"type": "none"}
    return {"type": "auto", "disable_parallel_tool_use": single}


def to_anthropic(
    messages: Iterable[ChatMessage], *, tools_offered: bool = True
) -> tuple[str, list[MessageParam]]:
    """Split off the system prompt and build strictly alternating user/assistant turns."""
    system_parts: list[str] = []
    turns: list[tuple[Role, list[ContentBlockParam]]] = []
    leading = True
    for message in messages:
        if message.role == "system" and leading:
            if message.content:
                system_parts.append(message.content)
            continue
        leading = False
        role: Role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, tools_offered)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns or turns[0][0] != "user":
        turns.insert(0, ("user", [{"type": "text", "text": _START_PLACEHOLDER}]))
    converted: list[MessageParam] = []
    for role, blocks in turns:
        turn: UserMessageParam | AssistantMessageParam
        if role == "user":
            turn = {"role": "user", "content": blocks}
        else:
            turn = {"role": "assistant", "content": blocks}
        converted.append(turn)
    return "\n\n".join(system_parts), converted


def _blocks(message: ChatMessage, tools_offered: bool) -> list[ContentBlockParam]:
    """The content blocks of one message; empty text is dropped (Anthropic rejects it)."""
    blocks: list[ContentBlockParam] = []
    if message.role == "tool":
        if not tools_offered:
            return [
                {"type": "text", "text": f"[result of tool {message.name or ''}]: {message.content or ''}"}
            ]
        result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
        if message.content:
            result["content"] = message.content
        return [result]
    text = message.content or ""
    if message.role == "system":
        text = f"[system] {text}"
    if text.strip():
        blocks.append({"type": "text", "text": text})
    for call in message.tool_calls:
        if tools_offered:
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call)})
        else:
            blocks.append({"type": "text", "text": f"[called tool {call.name} with {call.arguments}]"})
    return blocks


def _arguments(call: ToolCall) -> dict[str, object]:
    try:
        value = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return {"raw_arguments": call.arguments}
    return value if isinstance(value, dict) else {"value": value}


def _parse(message: Message) -> ModelResponse:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "thinking":
            thoughts.append(block.thinking)
        elif block.type == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input)))
    usage = message.usage
    prompt_tokens = (
        usage.input_tokens + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    )
    stop = message.stop_reason
    return ModelResponse(
        content="\n".join(texts) or None,
        tool_calls=calls,
        reasoning="\n".join(thoughts) or None,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=usage.output_tokens),
        finish_reason=_FINISH_REASONS.get(stop, stop) if stop else None,
        model=message.model,
    )


def translate_error(error: AnthropicError, *, provider: str) -> ProviderError:
    """The `ProviderError` for an SDK exception (the caller raises it `from` the original)."""
    import anthropic as sdk

    if isinstance(error, sdk.APIStatusError):
        status: int = error.status_code
        message = error.api_message or error.message
        if status in (400, 413) and any(phrase in message.lower() for phrase in _OVERFLOW_PHRASES):
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
    if isinstance(error, sdk.APITimeoutError):
        return ProviderError(f"{provider} timed out", provider=provider, retryable=True)
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error
        return ProviderError(f"cannot reach {provider}: {cause}", provider=provider, retryable=True)
    return ProviderError(f"{provider} request failed: {error}", provider=provider)
