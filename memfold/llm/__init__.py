"""Language models: the provider-neutral interface, the adapters, and the registry of handles.

    model = get_registry().get("openai/gpt-4o-mini")
    response = await model.complete(ModelRequest(messages=[ChatMessage("user", "hi")]))

Vendor adapters live in `memfold.llm.openai` and `memfold.llm.anthropic` (an optional
extra) and are imported by the registry only when a provider needs them.
"""

from memfold.llm.base import (
    ChatMessage,
    Model,
    ModelHandle,
    ModelRequest,
    ModelResponse,
    Role,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
)
from memfold.llm.providers import (
    ModelInfo,
    ModelRegistry,
    ProviderConfig,
    get_registry,
    reset_registry,
)
from memfold.llm.scripted import (
    ScriptedModel,
    ScriptFunction,
    text_response,
    tool_call,
    tool_call_response,
    tool_calls_response,
)

__all__ = [
    "ChatMessage",
    "Model",
    "ModelHandle",
    "ModelInfo",
    "ModelRegistry",
    "ModelRequest",
    "ModelResponse",
    "ProviderConfig",
    "Role",
    "ScriptFunction",
    "ScriptedModel",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
    "Usage",
    "get_registry",
    "reset_registry",
    "text_response",
    "tool_call",
    "tool_call_response",
    "tool_calls_response",
]
