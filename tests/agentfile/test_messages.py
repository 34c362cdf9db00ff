"""Letta message shapes the fixtures do not cover, mapped onto memfold's stored `Message`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from memfold.agentfile.format import MessageEntry
from memfold.agentfile.messages import export_message, import_message, tool_call_names
from memfold.schemas.messages import Message, StoredToolCall

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def imported(
    raw: dict[str, Any], *, memgpt: bool = True, names: dict[str, str] | None = None
) -> list[Message]:
    counter = itertools.count()
    return import_message(
        MessageEntry.model_validate(raw),
        agent_id="agent-new",
        memgpt=memgpt,
        new_id=lambda: f"message-{next(counter)}",
        call_names=names or {},
        sender=lambda s: {"agent-1": "agent-new-1"}.get(s or "", s),
        now=NOW,
    )


def test_parallel_tool_returns_become_one_message_each() -> None:
    raw = {
        "id": "message-3",
        "role": "tool",
        "content": None,
        "tool_returns": [
            {"tool_call_id": "call-a", "status": "success", "func_response": "sunny"},
            {"tool_call_id": "call-b", "status": "error", "func_response": "Error: no such city"},
        ],
    }
    a, b = imported(raw, names={"call-a": "weather", "call-b": "weather"})
    assert (a.tool_call_id, a.content, a.tool_status, a.name) == ("call-a", "sunny", "success", "weather")
    assert (b.tool_call_id, b.content, b.tool_status) == ("call-b", "Error: no such city", "error")
    assert a.id != b.id


def test_content_parts_reasoning_and_tool_calls() -> None:
    raw = {
        "id": "message-1",
        "role": "assistant",
        "content": [
            {"type": "reasoning", "reasoning": "Check the weather first.", "is_native": True},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_call", "id": "call-a", "name": "weather", "input": {"city": "Paris"}},
        ],
    }
    [native] = imported(raw, memgpt=False)
    assert native.reasoning == "Check the weather first." and native.content == "Let me look."
    assert native.tool_calls and (native.tool_calls[0].name, native.tool_calls[0].arguments) == (
        "weather",
        '{"city": "Paris"}',
    )
    assert tool_call_names([MessageEntry.model_validate(raw)]) == {"call-a": "weather"}
    # In MemGPT mode text beside a reasoning part is still the reply: only bare text is the monologue.
    [memgpt] = imported(raw, memgpt=True)
    assert memgpt.content == "Let me look."


def test_oldest_text_field_user_wrapping_and_senders() -> None:
    [user] = imported(
        {
            "id": "message-0",
            "role": "user",
            "text": '{"type": "user_message", "message": "hi there", "time": "now"}',
            "sender_id": "agent-1",
            "created_at": "2024-02-03T04:05:06",
        }
    )
    assert user.content == "hi there"
    assert user.sender_id == "agent-new-1"
    assert user.created_at == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert imported({"id": "m", "role": "approval", "content": "approve?"}) == []


def test_export_then_import_is_exact_for_each_mode() -> None:
    stored = [
        Message(id="a", agent_id="x", role="assistant", reasoning="think", created_at=NOW),
        Message(
            id="e",
            agent_id="x",
            role="assistant",
            reasoning="call it",
            tool_calls=[StoredToolCall(id="call-1", name="f", arguments="{}")],
            created_at=NOW,
        ),
        Message(id="b", agent_id="x", role="assistant", content="hello", reasoning="why", created_at=NOW),
        Message(
            id="c",
            agent_id="x",
            role="tool",
            content="ok",
            tool_call_id="call-1",
            tool_status="error",
            name="f",
            created_at=NOW,
        ),
        Message(id="d", agent_id="x", role="summary", content="they met", created_at=NOW),
    ]
    for memgpt in (True, False):
        for message in stored:
            entry = export_message(
                message, file_id="message-9", agent_file_id="agent-0", memgpt=memgpt, model="m"
            )
            [back] = imported(entry, memgpt=memgpt, names={"call-1": "f"})
            fields = ("role", "content", "reasoning", "tool_call_id", "tool_status", "name", "created_at")
            assert {f: getattr(back, f) for f in fields} == {f: getattr(message, f) for f in fields}, message
