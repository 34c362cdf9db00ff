"""Letta's stored messages <-> memfold's `Message`, both ways.

Letta keeps a message's text as a list of content parts (`text`, `reasoning`, ...), tool calls
in OpenAI's shape, and tool results both as text and as `tool_returns`. memfold keeps one
`content` string, a separate `reasoning`, `tool_calls` and one tool result per message.

- **Assistant text.** In MemGPT mode (`memgpt_agent`, `memgpt_v2_agent`) the text of an
  assistant message that calls tools is its inner monologue: memfold's `reasoning`. Otherwise
  text parts are the reply (`content`) and `reasoning` parts the reasoning. Export writes the
  same convention, so a round trip is exact.
- **Tool results.** One memfold message per result: a Letta tool message with several
  `tool_returns` (parallel calls) becomes several. The result's name is the called tool's
  (older files put the agent's name there).
- **User text.** Older files wrap user input as JSON (`{"type": "user_message", "message":
  ...}`); the message is unwrapped. Heartbeats, login events and alerts stay as written.
- **System messages** are compiled prompts in Letta; memfold compiles the prompt on every call
  and stores none, so they are dropped (see `importer`), except a system message sent into
  the conversation mid-way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from memfold.agentfile.format import MessageEntry, as_utc
from memfold.schemas.messages import Message, StoredToolCall

__all__ = ["export_message", "import_message", "system_alert_text", "tool_call_names", "unwrap_user_text"]


def _parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


def _texts(entry: MessageEntry, kind: str, key: str) -> list[str]:
    return [str(p[key]) for p in _parts(entry.content) if p.get("type") == kind and p.get(key) is not None]


def _joined(parts: list[str]) -> str | None:
    return "\n".join(parts) if parts else None


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def unwrap_user_text(text: str) -> str:
    """The user's words from Letta's older JSON wrapping; any other text unchanged."""
    packed = _json_object(text)
    if packed and packed.get("type") == "user_message" and isinstance(packed.get("message"), str):
        return str(packed["message"])
    return text


def system_alert_text(text: str) -> str | None:
    """The message of an older file's `system_alert` (how Letta stored its summary), else None."""
    packed = _json_object(text)
    if packed and packed.get("type") == "system_alert" and isinstance(packed.get("message"), str):
        return str(packed["message"])
    return None


def _tool_calls(entry: MessageEntry) -> list[StoredToolCall]:
    calls = [
        StoredToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in entry.tool_calls or []
    ]
    if not calls:  # newer files may carry calls as `tool_call` content parts
        for part in _parts(entry.content):
            if part.get("type") == "tool_call" and part.get("id") and part.get("name"):
                arguments = part.get("input") or {}
                calls.append(
                    StoredToolCall(
                        id=str(part["id"]), name=str(part["name"]), arguments=json.dumps(arguments)
                    )
                )
    return calls


def import_message(
    entry: MessageEntry,
    *,
    agent_id: str,
    memgpt: bool,
    new_id: Callable[[], str],
    call_names: dict[str, str],
    sender: Callable[[str | None], str | None],
    now: datetime,
) -> list[Message]:
    """memfold messages for one Letta message (none for roles memfold does not store)."""
    common: dict[str, Any] = {
        "agent_id": agent_id,
        "otid": entry.otid,
        "sender_id": sender(entry.sender_id),
        "created_at": as_utc(entry.created_at) or now,
    }
    if entry.role in ("user", "system", "summary"):
        text = _joined(_texts(entry, "text", "text")) or ""
        if entry.role == "user":
            text = unwrap_user_text(text)
        return [Message(id=new_id(), role=entry.role, content=text, name=entry.name, **common)]
    if entry.role == "assistant":
        calls = _tool_calls(entry)
        texts, reasoning = _texts(entry, "text", "text"), _texts(entry, "reasoning", "reasoning")
        if memgpt and calls and not reasoning:
            reasoning, texts = texts, []
        message = Message(
            id=new_id(),
            role="assistant",
            content=_joined(texts),
            reasoning=_joined(reasoning),
            tool_calls=calls or None,
            name=entry.name,
            **common,
        )
        return [message]
    if entry.role in ("tool", "function"):
        return _tool_results(entry, common, new_id, call_names)
    return []  # approval requests/responses: memfold keeps approvals differently


def _tool_results(
    entry: MessageEntry, common: dict[str, Any], new_id: Callable[[], str], call_names: dict[str, str]
) -> list[Message]:
    returns = [r for r in entry.tool_returns or [] if r.tool_call_id]
    parts = [p for p in _parts(entry.content) if p.get("type") == "tool_return" and p.get("tool_call_id")]
    results: list[tuple[str | None, str, bool]] = []  # (tool_call_id, text, is_error)
    if len(returns) > 1:
        results = [(r.tool_call_id, r.func_response or "", r.status == "error") for r in returns]
    elif len(parts) > 1:
        results = [
            (str(p["tool_call_id"]), str(p.get("content") or ""), bool(p.get("is_error"))) for p in parts
        ]
    else:
        first = entry.tool_returns[0] if entry.tool_returns else None
        part = parts[0] if parts else {}
        text = _joined(_texts(entry, "text", "text"))
        if text is None:
            text = first.func_response if first is not None else part.get("content")
        call_id = entry.tool_call_id or (first.tool_call_id if first else None) or part.get("tool_call_id")
        error = first.status == "error" if first is not None else bool(part.get("is_error"))
        results = [(call_id, str(text or ""), error)]
    return [
        Message(
            id=new_id(),
            role="tool",
            content=text,
            tool_call_id=call_id,
            tool_status="error" if error else "success",
            name=call_names.get(call_id or "", entry.name),
            **common,
        )
        for call_id, text, error in results
    ]


# --- export -------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Stored timestamps are UTC (SQLite hands them back naive); the file says so explicitly."""
    return as_utc(value) or value


def _text_parts(*texts: str | None) -> list[dict[str, Any]]:
    return [{"type": "text", "text": t} for t in texts if t]


def export_message(
    message: Message, *, file_id: str, agent_file_id: str, memgpt: bool, model: str
) -> dict[str, Any]:
    """One memfold message as a Letta `MessageSchema` entry."""
    content: list[dict[str, Any]]
    tool_returns: list[dict[str, Any]] = []
    role = message.role
    if role == "assistant":
        inner_monologue = memgpt and bool(message.tool_calls) and not message.content
        if inner_monologue:
            content = _text_parts(message.reasoning)
        else:
            reasoning = message.reasoning
            content = (
                [{"type": "reasoning", "reasoning": reasoning, "is_native": False, "signature": None}]
                if reasoning
                else []
            )
            content += _text_parts(message.content)
    elif role == "tool":
        content = _text_parts(message.content) or [{"type": "text", "text": ""}]
        tool_returns = [
            {
                "tool_call_id": message.tool_call_id,
                "status": message.tool_status or "success",
                "func_response": message.content,
                "stdout": None,
                "stderr": None,
            }
        ]
    else:
        content = [{"type": "text", "text": message.content or ""}]
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in message.tool_calls or []
    ]
    return {
        "type": "message",
        "id": file_id,
        "role": role,
        "content": content,
        "name": message.name,
        "otid": message.otid,
        "sender_id": message.sender_id,
        "agent_id": agent_file_id,
        "model": model if role in ("assistant", "tool") else None,
        "tool_calls": calls or None,
        "tool_call_id": message.tool_call_id if role == "tool" else None,
        "tool_returns": tool_returns,
        "created_at": _utc(message.created_at).isoformat(),
    }


def tool_call_names(entries: list[MessageEntry]) -> dict[str, str]:
    """Which tool each call id of these messages called."""
    names: dict[str, str] = {}
    for entry in entries:
        for call in entry.tool_calls or []:
            names[call.id] = call.function.name
        for part in _parts(entry.content):
            if part.get("type") == "tool_call" and part.get("id") and part.get("name"):
                names[str(part["id"])] = str(part["name"])
    return names
