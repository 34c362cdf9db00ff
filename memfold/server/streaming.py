"""A turn as Server-Sent Events, in the shape `letta-client` parses.

Each event is `data: <json>`: the turn's messages as they are made (the same views, in the same
order, as the non-streaming response), keep-alive pings while a step is slow, then the stop reason
and the usage, then `data: [DONE]`. A failure is an `event: error` carrying the one error shape.

With `stream_tokens`, an assistant message is also sent in pieces while the model writes it: chunks
with the message's id whose `content` (assistant_message), `reasoning` (reasoning_message) or
`tool_call.arguments` (tool_call_message) is the next piece of that view. The complete message then
sends only what its pieces have not shown: nothing for a view they showed exactly, the rest of a view
they showed the start of, and the views they did not show (tool returns, approval requests) whole.

The turn runs in its own task, not in the response: a client that disconnects stops only the
sending; the turn completes its steps (each committed atomically) as if it had stayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from memfold.agent.deltas import MESSAGE_ARG
from memfold.agent.loop import TurnResult
from memfold.agent.stream import DeltaEvent, ErrorEvent, FinishEvent, MessageEvent, TurnStream
from memfold.agent.views import SEND_MESSAGE, letta_messages
from memfold.ids import new_id
from memfold.schemas.base import utcnow
from memfold.schemas.messages import (
    AssistantMessage,
    LettaMessage,
    LettaRequest,
    Message,
    Ping,
    ReasoningMessage,
    StopReason,
    ToolCallMessage,
    ToolCallView,
    UsageStatistics,
)

log = logging.getLogger("memfold.server")

_turns: set[asyncio.Task[TurnResult]] = set()


def start_turn(turn: Coroutine[Any, Any, TurnResult]) -> asyncio.Task[TurnResult]:
    """Run a turn as a task that outlives the request that started it."""
    task = asyncio.create_task(turn)
    _turns.add(task)
    task.add_done_callback(_settle)
    return task


def _settle(task: asyncio.Task[TurnResult]) -> None:
    _turns.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("streamed turn ended with %s", type(error).__name__)  # the stream reported it


def _data(payload: BaseModel | dict[str, Any]) -> str:
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


def usage(result: TurnResult) -> UsageStatistics:
    return UsageStatistics(
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        total_tokens=result.prompt_tokens + result.completion_tokens,
        step_count=result.steps,
        run_ids=[result.run_id],
    )


async def sse(stream: TurnStream, body: LettaRequest, *, ping_every: float) -> AsyncIterator[str]:
    wanted = set(body.include_return_message_types or ())
    pieces = PieceViews(use_assistant_message=body.use_assistant_message)
    async for event in stream.events(ping_every=ping_every if body.include_pings else None):
        if event is None:
            yield _data(Ping(id=new_id("message"), date=utcnow()))
        elif isinstance(event, MessageEvent):
            if event.message.role == "summary" and not body.include_compaction_messages:
                continue
            for view in pieces.complete(event.message):
                if not wanted or view.message_type in wanted:
                    yield _data(view)
        elif isinstance(event, DeltaEvent):
            chunk = pieces.piece(event)
            if chunk is not None and (not wanted or chunk.message_type in wanted):
                yield _data(chunk)
        elif isinstance(event, FinishEvent):
            yield _data(StopReason(stop_reason=event.result.stop_reason))
            yield _data(usage(event.result))
            yield "data: [DONE]\n\n"
        elif isinstance(event, ErrorEvent):
            error = event.error
            body_json = {"detail": error.message, "code": error.code, "errors": None}
            yield f"event: error\ndata: {json.dumps(body_json)}\n\n"


ViewKey = tuple[str, str | None]
"""A view of a message: its message_type and the tool call it shows (None for reasoning and text)."""


class PieceViews:
    """Token deltas as LettaMessage chunks, and per message id the text each view has shown in pieces,
    so that the complete message sends only the rest."""

    def __init__(self, *, use_assistant_message: bool) -> None:
        self.use_assistant_message = use_assistant_message
        self.shown: dict[str, dict[ViewKey, list[str]]] = {}
        self.dates: dict[str, datetime] = {}

    def piece(self, delta: DeltaEvent) -> LettaMessage | None:
        """The chunk for `delta`, or None when the view it extends is not shown this way."""
        text, kind = delta.text, delta.kind
        if delta.tool_name == SEND_MESSAGE and kind == "tool_call":
            return None  # send_message's pieces are its words (kind `assistant`)
        shown = self.shown.setdefault(delta.message_id, {})
        if kind == "assistant" and delta.tool_call_id is not None and not self.use_assistant_message:
            # send_message as a tool call: its arguments as the view writes them, {"message": "..."};
            # the closing `"}` comes with the complete message.
            kind, opened = "tool_call", ("tool_call_message", delta.tool_call_id) in shown
            text = ("" if opened else '{"' + MESSAGE_ARG + '": "') + json.dumps(text)[1:-1]
        date = self.dates.setdefault(delta.message_id, utcnow())
        chunk: LettaMessage
        if kind == "reasoning":
            chunk = ReasoningMessage(id=delta.message_id, date=date, reasoning=text)
        elif kind == "assistant":
            chunk = AssistantMessage(id=delta.message_id, date=date, content=text)
        else:
            call = ToolCallView(
                name=delta.tool_name or "", arguments=text, tool_call_id=delta.tool_call_id or ""
            )
            chunk = ToolCallMessage(id=delta.message_id, date=date, tool_call=call, tool_calls=[call])
        key = (chunk.message_type, None if kind == "reasoning" else delta.tool_call_id)
        shown.setdefault(key, []).append(text)
        return chunk

    def complete(self, message: Message) -> list[LettaMessage]:
        """The views of `message` that its pieces have not shown (all of them when it had none)."""
        views = letta_messages([message], use_assistant_message=self.use_assistant_message)
        shown = self.shown.pop(message.id, None)
        self.dates.pop(message.id, None)
        keys = _view_keys(message, views) if shown else None
        if shown is None or keys is None:
            return views
        rest: list[LettaMessage] = []
        for key, view in zip(keys, views, strict=True):
            pieces = shown.get(key)
            text = _text(view)
            sent = "".join(pieces) if pieces is not None else None
            if sent is None or text is None:
                rest.append(view)
            elif text != sent:
                if text.startswith(sent):
                    rest.append(_with_text(view, text[len(sent) :]))
                else:  # the pieces went astray (e.g. arguments that were not JSON): the whole view
                    log.debug("streamed pieces of %s differ from its final %s", message.id, key[0])
                    rest.append(view)
        return rest


def _view_keys(message: Message, views: list[LettaMessage]) -> list[ViewKey] | None:
    """The key of each of an assistant message's views: reasoning, one per tool call, the text."""
    calls = message.tool_calls or []
    shows: list[str | None] = [c.id for c in calls]
    if message.reasoning:
        shows.insert(0, None)
    if message.content and not calls:
        shows.append(None)
    if message.role != "assistant" or len(shows) != len(views):
        return None
    return [(view.message_type, call_id) for view, call_id in zip(views, shows, strict=True)]


def _text(view: LettaMessage) -> str | None:
    if isinstance(view, AssistantMessage):
        return view.content
    if isinstance(view, ReasoningMessage):
        return view.reasoning
    if isinstance(view, ToolCallMessage):
        return view.tool_call.arguments
    return None


def _with_text(view: LettaMessage, text: str) -> LettaMessage:
    if isinstance(view, AssistantMessage):
        return view.model_copy(update={"content": text})
    if isinstance(view, ReasoningMessage):
        return view.model_copy(update={"reasoning": text})
    assert isinstance(view, ToolCallMessage)
    call = view.tool_call.model_copy(update={"arguments": text})
    return view.model_copy(update={"tool_call": call, "tool_calls": [call]})
