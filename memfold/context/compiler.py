"""Compiles one LLM request from an agent's state.

system prompt + core memory blocks (re-rendered on every call, so an edit shows in the very
next request) + the agent's files with their open windows + memory metadata + the running
summary + in-context messages, with the agent's tools (which messages are in, evicted or
clipped: `memfold.agent.window`). In MemGPT mode each tool gets a `thinking` argument (the
model's private reasoning) and every tool but `send_message` a `request_heartbeat` argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memfold.llm.base import ChatMessage, ModelRequest, ToolCall, ToolSpec
from memfold.memory.core import CoreMemory
from memfold.schemas.messages import Message
from memfold.schemas.tools import Tool
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

_THINKING = {
    "type": "string",
    "description": "Private reasoning (unseen by the user).",
}
_HEARTBEAT = {
    "type": "boolean",
    "description": "true to act again after this tool returns.",
}


def tool_specs(tools: list[Tool], *, memgpt_mode: bool) -> list[ToolSpec]:
    specs = []
    for tool in tools:
        schema = tool.json_schema
        parameters: dict[str, Any] = json.loads(json.dumps(schema.get("parameters") or {"type": "object"}))
        parameters.setdefault("type", "object")
        properties: dict[str, Any] = parameters.setdefault("properties", {})
        required: list[str] = parameters.setdefault("required", [])
        if memgpt_mode:
            parameters["properties"] = {THINKING_PARAM: _THINKING, **properties}
            required.insert(0, THINKING_PARAM)
            if tool.name != "send_message":
                parameters["properties"][HEARTBEAT_PARAM] = _HEARTBEAT
                required.append(HEARTBEAT_PARAM)
        specs.append(
            ToolSpec(
                name=tool.name,
                description=schema.get("description") or tool.description or "",
                parameters=parameters,
            )
        )
    return specs


@dataclass(frozen=True, slots=True)
class MemoryMetadata:
    """What the agent is told about its memory beyond the blocks, after them in the system prompt.

    Each value changes only when memory changes (a block edit, an archival insert, a
    compaction), never merely because a turn passed, so the prompt prefix stays cacheable.
    """

    memory_edited_at: datetime | None = None
    recall_outside: int | None = None
    """Messages kept in recall memory that are outside the context window."""
    archival_passages: int | None = None
    """Passages in archival memory; None while the agent has no archive."""

    def render(self) -> str:
        lines = []
        if self.memory_edited_at is not None:
            lines.append(f"- memory blocks last edited {self.memory_edited_at:%Y-%m-%d %H:%M} UTC")
        if self.recall_outside:
            lines.append(
                f"- recall memory holds {_count(self.recall_outside, 'earlier message')} outside this window"
            )
        if self.archival_passages is not None:
            lines.append(f"- archival memory holds {_count(self.archival_passages, 'passage')}")
        return "<memory_metadata>\n" + "\n".join(lines) + "\n</memory_metadata>" if lines else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


SUMMARY_HEADER = (
    "[Summary of the earlier conversation, which no longer fits in your context window; "
    "every message is kept in recall memory.]"
)


def system_text(
    system: str, memory: CoreMemory, metadata: MemoryMetadata | None = None, files: str = ""
) -> str:
    """The system prompt: instructions, memory blocks, the agent's files (`<files>`: attached folders,
    open windows; memfold.folders.views) and the memory metadata."""
    extra = metadata.render() if metadata is not None else ""
    text = f"{system}\n\n{memory.render()}"
    if files:
        text += f"\n{files}"
    return text + (f"\n{extra}" if extra else "")


def to_chat(message: Message) -> ChatMessage:
    if message.role == "summary":  # sent as a user message: every provider accepts it anywhere
        return ChatMessage(role="user", content=f"{SUMMARY_HEADER}\n{message.content or ''}")
    calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls or []]
    content = message.content
    if message.role == "user" and message.sender_id:
        content = f"[message from {message.name or message.sender_id}]\n{content or ''}"
    return ChatMessage(
        role="user" if message.role == "approval" else message.role,  # (approvals stay out of context)
        content=content,
        tool_calls=calls,
        tool_call_id=message.tool_call_id,
        name=message.name if message.role == "tool" else None,
    )


def compile_request(
    *,
    system: str,
    memory: CoreMemory,
    messages: list[Message],
    tools: list[ToolSpec],
    memgpt_mode: bool,
    metadata: MemoryMetadata | None = None,
    files: str = "",
) -> ModelRequest:
    chat = [ChatMessage(role="system", content=system_text(system, memory, metadata, files))]
    chat.extend(to_chat(m) for m in messages)
    return ModelRequest(
        messages=chat,
        tools=tools,
        tool_choice="required" if memgpt_mode and tools else "auto",
    )
