"""Stored messages as the typed messages the API returns (`message_type` union)."""

from __future__ import annotations

import json
from typing import Any

from memfold.schemas.messages import (
    ApprovalDecision,
    ApprovalRequestMessage,
    ApprovalResponseMessage,
    AssistantMessage,
    LettaMessage,
    Message,
    ReasoningMessage,
    SummaryMessage,
    SystemMessage,
    ToolCallMessage,
    ToolCallView,
    ToolReturnMessage,
    UserMessage,
)
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

SEND_MESSAGE = "send_message"


def _common(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "date": m.created_at,
        "otid": m.otid,
        "sender_id": m.sender_id,
        "step_id": m.step_id,
        "run_id": m.run_id,
        "seq_id": m.seq,
        "is_err": m.is_err,
    }


def _arguments(raw: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _assistant_views(m: Message, use_assistant_message: bool) -> list[LettaMessage]:
    common = _common(m)
    views: list[LettaMessage] = []
    if m.reasoning:
        views.append(ReasoningMessage(reasoning=m.reasoning, **common))
    waiting = set((m.approval or {}).get("pending", ()))
    for call in m.tool_calls or []:
        args = _arguments(call.arguments)
        if call.id in waiting:
            view = ToolCallView(name=call.name, arguments=_shown(call.arguments, args), tool_call_id=call.id)
            views.append(ApprovalRequestMessage(tool_call=view, tool_calls=[view], **common))
            continue
        if use_assistant_message and call.name == SEND_MESSAGE and args is not None and "message" in args:
            views.append(AssistantMessage(content=str(args["message"]), **common))
            continue
        view = ToolCallView(name=call.name, arguments=_shown(call.arguments, args), tool_call_id=call.id)
        views.append(ToolCallMessage(tool_call=view, tool_calls=[view], **common))
    if m.content and not m.tool_calls:
        views.append(AssistantMessage(content=m.content, **common))
    return views


def _shown(raw: str, args: dict[str, Any] | None) -> str:
    """A call's arguments as shown: without the loop's own `thinking` and `request_heartbeat`."""
    if args is None:
        return raw
    return json.dumps({k: v for k, v in args.items() if k not in (THINKING_PARAM, HEARTBEAT_PARAM)})


def _approval_view(m: Message) -> ApprovalResponseMessage:
    answer = m.approval or {}
    decisions = [ApprovalDecision.model_validate(d) for d in answer.get("decisions", ())]
    approvals = [d.approve for d in decisions if d.type == "approval"]
    return ApprovalResponseMessage(
        approval_request_id=answer.get("request_id"),
        approvals=decisions,
        approve=approvals[0] if approvals and len(set(approvals)) == 1 else None,
        reason=answer.get("reason"),
        **_common(m),
    )


def letta_messages(messages: list[Message], *, use_assistant_message: bool = True) -> list[LettaMessage]:
    """Views of `messages`, in order. The result of a `send_message` call is hidden when the call
    shows as an assistant message."""
    views: list[LettaMessage] = []
    for m in messages:
        if m.role == "user":
            views.append(UserMessage(content=m.content or "", name=m.name, **_common(m)))
        elif m.role == "system":
            views.append(SystemMessage(content=m.content or "", **_common(m)))
        elif m.role == "summary":
            views.append(SummaryMessage(summary=m.content or "", **_common(m)))
        elif m.role == "assistant":
            views.extend(_assistant_views(m, use_assistant_message))
        elif m.role == "approval":
            views.append(_approval_view(m))
        elif not (use_assistant_message and m.name == SEND_MESSAGE):
            views.append(
                ToolReturnMessage(
                    tool_return=m.content or "",
                    status=m.tool_status or "success",
                    tool_call_id=m.tool_call_id or "",
                    name=m.name,
                    **_common(m),
                )
            )
    return views
