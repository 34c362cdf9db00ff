"""Compiles one LLM request from an agent's state.

system prompt + core memory blocks (re-rendered on every call, so an edit shows in the very
next request) + in-context messages, with the agent's tools. In MemGPT mode each tool gets a
`thinking` argument (the model's private reasoning) and every tool but `send_message` a
`request_heartbeat` argument.
"""

from __future__ import annotations

import json
from typing import Any

from memfold.llm.base import ChatMessage, ModelRequest, ToolCall, ToolSpec
from memfold.memory.core import CoreMemory
from memfold.schemas.messages import Message
from memfold.schemas.tools import Tool
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

_THINKING = {
    "type": "string",
    "description": "Your private reasoning for this call (never shown to the user).",
}
_HEARTBEAT = {
    "type": "boolean",
    "description": "true to get another step after this tool returns; false ends your turn.",
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


def system_text(system: str, memory: CoreMemory) -> str:
    return f"{system}\n\n{memory.render()}"


def to_chat(message: Message) -> ChatMessage:
    calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls or []]
    content = message.content
    if message.role == "user" and message.sender_id:
        content = f"[message from {message.name or message.sender_id}]\n{content or ''}"
    return ChatMessage(
        role=message.role,
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
) -> ModelRequest:
    chat = [ChatMessage(role="system", content=system_text(system, memory))]
    chat.extend(to_chat(m) for m in messages)
    return ModelRequest(
        messages=chat,
        tools=tools,
        tool_choice="required" if memgpt_mode and tools else "auto",
    )
