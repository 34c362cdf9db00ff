"""/v1/agents/{id}/messages: send (the agent takes its turn), list, and reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from memfold.agent import lifecycle
from memfold.agent.stream import TurnStream
from memfold.agent.views import letta_messages
from memfold.errors import BadRequestError
from memfold.runs import queue as run_queue
from memfold.schemas.agents import AgentState
from memfold.schemas.base import RequestModel
from memfold.schemas.messages import (
    ApprovalCreate,
    LettaMessage,
    LettaRequest,
    LettaResponse,
    MessageCreate,
    ResetMessagesRequest,
    StopReason,
)
from memfold.schemas.runs import ACTIVE_STATUSES, Run
from memfold.server.deps import Context, OrgId, ServerContext
from memfold.server.routers.runs import run_view
from memfold.server.streaming import sse, start_turn, usage
from memfold.store import agents as agent_rows
from memfold.store import messages as message_rows
from memfold.store import runs as run_rows
from memfold.store.paging import Order

router = APIRouter(prefix="/v1/agents/{agent_id}", tags=["messages"])


_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


@router.post(
    "/messages",
    response_model=LettaResponse,
    responses={200: {"content": _SSE, "description": "Server-Sent Events when `streaming` is true"}},
)
async def send_message(
    agent_id: str, body: LettaRequest, ctx: Context, org: OrgId
) -> LettaResponse | StreamingResponse:
    inputs = _inputs(body)
    if body.streaming:
        return _stream(ctx, org, agent_id, inputs, body)
    result = await ctx.loop.send(
        org, agent_id, inputs, max_steps=body.max_steps, client_tools=body.client_tools
    )
    shown = result.messages
    if not body.include_compaction_messages:
        shown = [m for m in shown if m.role != "summary"]
    views = letta_messages(shown, use_assistant_message=body.use_assistant_message)
    if body.include_return_message_types:
        views = [v for v in views if v.message_type in body.include_return_message_types]
    return LettaResponse(
        messages=views, stop_reason=StopReason(stop_reason=result.stop_reason), usage=usage(result)
    )


@router.post(
    "/messages/stream",
    response_class=StreamingResponse,
    responses={200: {"content": _SSE, "description": "The turn as Server-Sent Events"}},
)
async def stream_messages(agent_id: str, body: LettaRequest, ctx: Context, org: OrgId) -> StreamingResponse:
    return _stream(ctx, org, agent_id, _inputs(body), body)


class AsyncRequest(LettaRequest):
    callback_url: str | None = None


@router.post("/messages/async", response_model=Run)
def send_message_async(agent_id: str, body: AsyncRequest, ctx: Context, org: OrgId) -> Run:
    """Queue the turn as a background run and return the run at once. The run is durable: a server
    that stops mid-way resumes it after its last committed step."""
    _inputs(body)
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
    request = LettaRequest.model_validate(body.model_dump(exclude={"callback_url"}))
    run_id = ctx.workers.submit(org, agent_id, request, callback_url=body.callback_url)
    with ctx.db.read() as conn:
        return run_view(run_rows.get_run(conn, org, run_id))


class CancelRequest(RequestModel):
    run_ids: list[str] | None = None


@router.post("/messages/cancel", response_model=dict[str, str])
def cancel_runs(agent_id: str, ctx: Context, org: OrgId, body: CancelRequest | None = None) -> dict[str, str]:
    """Cancel the agent's active runs (or those of `run_ids`). A queued run never starts; a running
    one stops at its next step boundary (the step under way completes). Returns run id -> status."""
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        active = run_rows.list_runs(
            conn, org, run_rows.RunFilter(agent_ids=[agent_id], statuses=list(ACTIVE_STATUSES)), limit=None
        )
    targets = [r.id for r in active if body is None or body.run_ids is None or r.id in body.run_ids]
    with ctx.db.write() as conn:
        cancelled = set(run_queue.cancel_queued(conn, targets))
        # Running ones may be held by another process (several on one PostgreSQL): it reads this.
        cancelled |= set(run_queue.request_cancel(conn, [r for r in targets if r not in cancelled]))
    for run_id in targets:
        if run_id not in cancelled:
            ctx.loop.cancel(run_id)
    return {run_id: "cancelled" if run_id in cancelled else "cancelling" for run_id in targets}


def _inputs(body: LettaRequest) -> list[MessageCreate | ApprovalCreate]:
    inputs = body.new_messages()
    if not inputs:
        raise BadRequestError("send at least one message: `messages` (or `input`) is empty")
    return inputs


def _stream(
    ctx: ServerContext,
    org: str,
    agent_id: str,
    inputs: list[MessageCreate | ApprovalCreate],
    body: LettaRequest,
) -> StreamingResponse:
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)  # an unknown agent is a 404, not an error event
    stream = TurnStream(deltas=body.stream_tokens)
    start_turn(
        ctx.loop.send(
            org, agent_id, inputs, max_steps=body.max_steps, stream=stream, client_tools=body.client_tools
        )
    )
    return StreamingResponse(
        sse(stream, body, ping_every=ctx.settings.stream_ping_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/messages", response_model=list[LettaMessage])
def list_messages(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 100,
    order: Order = "desc",
    use_assistant_message: bool = True,
    include_err: bool | None = None,
) -> list[LettaMessage]:
    wanted = limit or 100
    views: list[LettaMessage] = []
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        # `limit` counts returned messages; a stored row shows as zero or more of them, so page on.
        while len(views) < wanted:
            rows = message_rows.list_messages(
                conn, agent_id, before=before, after=after, limit=wanted, order=order
            )
            batch = letta_messages(rows, use_assistant_message=use_assistant_message)
            if include_err is False:
                batch = [v for v in batch if not v.is_err]
            views.extend(batch)
            if len(rows) < wanted:
                break
            after = rows[-1].id  # cursors are positions in the requested order
    return views[:wanted]


@router.patch("/reset-messages", response_model=AgentState)
async def reset_messages(
    agent_id: str, ctx: Context, org: OrgId, body: ResetMessagesRequest | None = None
) -> AgentState:
    """Empty the agent's context window. Messages stay in recall memory (they remain listable)."""
    async with ctx.loop.locks(agent_id):
        with ctx.db.write() as conn:
            agent_rows.get_agent(conn, org, agent_id)
            agent_rows.update_agent(conn, agent_id, {"message_ids": []})
            return lifecycle.agent_state(conn, org, agent_id)
