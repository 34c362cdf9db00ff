"""A turn as Server-Sent Events, in the shape `letta-client` parses.

Each event is `data: <json>`: the turn's messages as they are made (the same views, in the same
order, as the non-streaming response), keep-alive pings while a step is slow, then the stop reason
and the usage, then `data: [DONE]`. A failure is an `event: error` carrying the one error shape.

The turn runs in its own task, not in the response: a client that disconnects stops only the
sending; the turn completes its steps (each committed atomically) as if it had stayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from pydantic import BaseModel

from memfold.agent.loop import TurnResult
from memfold.agent.stream import DeltaEvent, ErrorEvent, FinishEvent, MessageEvent, TurnStream
from memfold.agent.views import letta_messages
from memfold.ids import new_id
from memfold.schemas.base import utcnow
from memfold.schemas.messages import LettaRequest, Ping, StopReason, UsageStatistics

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
    async for event in stream.events(ping_every=ping_every if body.include_pings else None):
        if event is None:
            yield _data(Ping(id=new_id("message"), date=utcnow()))
        elif isinstance(event, MessageEvent):
            if event.message.role == "summary" and not body.include_compaction_messages:
                continue
            for view in letta_messages([event.message], use_assistant_message=body.use_assistant_message):
                if not wanted or view.message_type in wanted:
                    yield _data(view)
        elif isinstance(event, DeltaEvent):
            continue  # token deltas: rendered once the providers stream (see TurnStream.deltas)
        elif isinstance(event, FinishEvent):
            yield _data(StopReason(stop_reason=event.result.stop_reason))
            yield _data(usage(event.result))
            yield "data: [DONE]\n\n"
        elif isinstance(event, ErrorEvent):
            error = event.error
            body_json = {"detail": error.message, "code": error.code, "errors": None}
            yield f"event: error\ndata: {json.dumps(body_json)}\n\n"
