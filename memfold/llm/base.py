"""What a model is: provider-neutral messages in, one response out.

Every adapter (OpenAI-compatible, Anthropic, scripted) speaks these types and nothing
else, so stored state never depends on the provider and a live agent can switch models.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "required", "none"]


@dataclass(slots=True)
class ToolCall:
    """A call the model asked for. `arguments` is the raw JSON text the model produced."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ChatMessage:
    """One message of a request, provider-neutral.

    - system/user: `content`.
    - assistant: `content` (plain text) and/or `tool_calls`; `reasoning` is the model's
      native thinking when the provider returns it (kept, never sent back as content).
    - tool: `content` is the tool's result, `tool_call_id` names the call it answers.
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None


@dataclass(slots=True)
class ToolSpec:
    """A tool offered to the model: name, description and JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ModelRequest:
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    max_tokens: int | None = None
    temperature: float | None = None
    parallel_tool_calls: bool = False


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ModelResponse:
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ModelDelta:
    """A piece of a response as the provider streams it: `text` extends the response's `content`, its
    `reasoning`, or (`tool_call`) the arguments of the call at position `index`. Tool-call pieces carry
    the call's id and name (the same as in the final `ModelResponse`) once the provider has sent them;
    their text is the arguments' JSON as the provider writes it (an adapter may store the same JSON
    value written differently, e.g. Anthropic's arguments are re-serialised)."""

    kind: Literal["content", "reasoning", "tool_call"]
    text: str
    index: int = 0
    tool_call_id: str | None = None
    tool_name: str | None = None


OnDelta = Callable[[ModelDelta], None]
"""Receives each `ModelDelta` of a streamed call, in order. Must not block."""


@dataclass(frozen=True, slots=True)
class ModelHandle:
    """`provider/model`, e.g. `openai/gpt-4o-mini`, `ollama/llama3.1:8b`. Parsed only by `parse`."""

    provider: str
    model: str

    @classmethod
    def parse(cls, handle: str) -> ModelHandle:
        from memfold.errors import InvalidValueError

        provider, sep, model = handle.partition("/")
        if not sep or not provider or not model:
            raise InvalidValueError(
                f"model handle {handle!r} must look like 'provider/model', e.g. 'openai/gpt-4o-mini'"
            )
        return cls(provider=provider.lower(), model=model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class Model(abc.ABC):
    """A chat model. Adapters translate vendor errors into `memfold.errors.ProviderError`."""

    handle: ModelHandle

    @abc.abstractmethod
    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One LLM call. Raises `ProviderError` (or `ContextWindowExceededError`) on failure."""

    async def complete_streaming(self, request: ModelRequest, on_delta: OnDelta) -> ModelResponse:
        """One LLM call, streamed: `on_delta` gets the response's pieces as they arrive, and the
        response returned is the one `complete` returns for the same answer. The default does not
        stream (no pieces), so every model works; adapters whose provider streams override it."""
        return await self.complete(request)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network resources, if any."""
