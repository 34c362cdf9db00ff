"""/v1/steps: list and retrieve steps (one LLM call each) with token usage and timing; a step's messages.

memfold records no feedback, tags or provider traces for steps: filters on them match no step
(`has_feedback=false` matches every step), a step's trace is null (as Letta answers when tracing
is off), and adding feedback is refused with a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Connection

from memfold.agent.views import letta_messages
from memfold.errors import BadRequestError
from memfold.memory.search import parse_bound
from memfold.schemas.base import RequestModel
from memfold.schemas.messages import LettaMessage, Message
from memfold.schemas.steps import Step, StepMetrics
from memfold.server.deps import Context, OrgId
from memfold.store import steps as step_rows
from memfold.store.paging import Order
from memfold.store.steps import StepFilter, StepRecord

router = APIRouter(prefix="/v1/steps", tags=["steps"])

Limit = Annotated[int | None, Query(ge=1, le=1000)]
OrderBy = Literal["created_at"]
Feedback = Literal["positive", "negative"]


def _ns(ms: int | None) -> int | None:
    return None if ms is None else ms * 1_000_000


def step_view(record: StepRecord) -> Step:
    return Step.model_validate(
        {
            "id": record.id,
            "agent_id": record.agent_id,
            "run_id": record.run_id,
            "status": record.status,
            "stop_reason": record.stop_reason,
            "model": record.model,
            "model_handle": f"{record.provider}/{record.model}",
            "provider_name": record.provider,
            "context_window_limit": record.context_window_limit,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.total_tokens,
            "error_type": "step_error" if record.error else None,
            "error_data": {"message": record.error} if record.error else None,
            "created_at": record.created_at,
            "llm_request_ns": _ns(record.llm_ms),
            "step_ns": _ns(record.duration_ms),
        }
    )


def message_page(
    fetch: Callable[[str | None, int], list[Message]],
    *,
    after: str | None,
    limit: int,
    use_assistant_message: bool,
) -> list[LettaMessage]:
    """Up to `limit` API messages from stored rows that `fetch(after, n)` pages through.

    A stored row can show as several API messages sharing its id (reasoning + assistant message),
    and the next page starts after that id. So a page holds only whole rows -- it may come out
    shorter than `limit` -- except when the first row alone shows as more than `limit` messages.
    """
    views: list[LettaMessage] = []
    cursor = after
    while True:
        rows = fetch(cursor, limit)
        for row in rows:
            shown = letta_messages([row], use_assistant_message=use_assistant_message)
            if len(views) + len(shown) > limit:
                return views or shown[:limit]
            views.extend(shown)
        if len(rows) < limit or len(views) == limit:
            return views
        cursor = rows[-1].id


@router.get("/", response_model=list[Step])
def list_steps(
    ctx: Context,
    org: OrgId,
    agent_id: str | None = None,
    run_id: str | None = None,
    model: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Limit = 50,
    order: Order = "desc",
    order_by: OrderBy = "created_at",
    feedback: Feedback | None = None,
    has_feedback: bool | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    trace_ids: Annotated[list[str] | None, Query()] = None,
    project_id: str | None = None,
) -> list[Step]:
    """Steps, newest first by default. `start_date`/`end_date` are ISO 8601 (a bare date as the end
    means that whole day; naive times are UTC), both inclusive. `model` is a model's name or handle.
    `run_id` is memfold's addition (also served as `/v1/runs/{run_id}/steps`)."""
    where = StepFilter(
        agent_id=agent_id,
        run_id=run_id,
        model=model,
        start=parse_bound(start_date, end=False, field="start_date"),
        end=parse_bound(end_date, end=True, field="end_date"),
        # Never recorded by memfold, so asking for any of them matches nothing.
        matches_nothing=bool(feedback or has_feedback or tags or trace_ids or project_id),
    )
    with ctx.db.read() as conn:
        records = step_rows.list_steps(conn, org, where, before=before, after=after, limit=limit, order=order)
    return [step_view(r) for r in records]


@router.get("/{step_id}", response_model=Step)
def retrieve_step(step_id: str, ctx: Context, org: OrgId) -> Step:
    with ctx.db.read() as conn:
        return step_view(step_rows.get_step(conn, org, step_id))


@router.get("/{step_id}/messages", response_model=list[LettaMessage])
def list_step_messages(
    step_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    order_by: OrderBy = "created_at",
) -> list[LettaMessage]:
    """The messages the step wrote (the turn's input belongs to its first step), oldest first by
    default, `send_message` calls shown as assistant messages."""
    with ctx.db.read() as conn:
        step = step_rows.get_step(conn, org, step_id)

        def fetch(cursor: str | None, n: int, conn: Connection = conn) -> list[Message]:
            return step_rows.messages_of_step(conn, step, before=before, after=cursor, limit=n, order=order)

        return message_page(fetch, after=after, limit=limit or 100, use_assistant_message=True)


@router.get("/{step_id}/metrics", response_model=StepMetrics)
def retrieve_step_metrics(step_id: str, ctx: Context, org: OrgId) -> StepMetrics:
    """The step's timing: LLM wait and the step's recorded duration, in nanoseconds."""
    with ctx.db.read() as conn:
        step = step_rows.get_step(conn, org, step_id)
    return StepMetrics(
        id=step.id,
        agent_id=step.agent_id,
        run_id=step.run_id,
        llm_request_ns=_ns(step.llm_ms),
        step_ns=_ns(step.duration_ms),
    )


@router.get("/{step_id}/trace", response_model=None)
def retrieve_step_trace(step_id: str, ctx: Context, org: OrgId) -> None:
    """memfold keeps no provider traces (raw LLM requests and responses): null for a known step."""
    with ctx.db.read() as conn:
        step_rows.get_step(conn, org, step_id)


class StepFeedback(RequestModel):
    feedback: Feedback | None = None
    tags: list[str] | None = None


@router.patch("/{step_id}/feedback", response_model=Step)
def modify_step_feedback(step_id: str, body: StepFeedback, ctx: Context, org: OrgId) -> Step:
    with ctx.db.read() as conn:
        step_rows.get_step(conn, org, step_id)
    raise BadRequestError(
        f"memfold does not record feedback on steps: step {step_id!r} is unchanged "
        "(feedback and tags filters of GET /v1/steps match no step)"
    )
