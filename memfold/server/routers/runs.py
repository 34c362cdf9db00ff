"""/v1/runs: list and retrieve runs, a run's messages, steps and token usage (read only).

Runs are written by the agent loop and the run queue; nothing here changes them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Connection

from memfold.schemas.messages import LettaMessage, Message, StopReasonType
from memfold.schemas.runs import ACTIVE_STATUSES, RequestConfig, Run, RunStatus, RunUsage
from memfold.schemas.steps import Step
from memfold.server.deps import Context, OrgId
from memfold.server.routers.steps import message_page, step_view
from memfold.store import messages as message_rows
from memfold.store import runs as run_rows
from memfold.store import steps as step_rows
from memfold.store.paging import Order
from memfold.store.runs import RunFilter, RunRecord

router = APIRouter(prefix="/v1/runs", tags=["runs"])

Limit = Annotated[int | None, Query(ge=1, le=1000)]
OrderBy = Literal["created_at"]

_REQUEST_CONFIG_FIELDS = tuple(RequestConfig.model_fields)


def run_view(record: RunRecord) -> Run:
    metadata = dict(record.metadata) if record.metadata is not None else None
    if record.error:
        metadata = {**(metadata or {}), "error": record.error}
    request = record.request or {}
    config = {k: request[k] for k in _REQUEST_CONFIG_FIELDS if request.get(k) is not None}
    duration = None
    if record.completed_at is not None:
        began = record.started_at or record.created_at
        duration = max(0, (record.completed_at - began) // timedelta(microseconds=1)) * 1000
    return Run.model_validate(
        {
            "id": record.id,
            "agent_id": record.agent_id,
            "status": record.status,
            "stop_reason": record.stop_reason,
            "background": record.background,
            "created_at": record.created_at,
            "completed_at": record.completed_at,
            "metadata": metadata,
            "request_config": config or None,
            "total_duration_ns": duration,
            "callback_url": record.callback_url,
        }
    )


@router.get("/", response_model=list[Run])
def list_runs(
    ctx: Context,
    org: OrgId,
    agent_id: str | None = None,
    agent_ids: Annotated[list[str] | None, Query()] = None,
    statuses: Annotated[list[RunStatus] | None, Query()] = None,
    active: bool = False,
    background: bool | None = None,
    stop_reason: StopReasonType | None = None,
    conversation_id: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Limit = 50,
    order: Order = "desc",
    order_by: OrderBy = "created_at",
    ascending: bool | None = None,
) -> list[Run]:
    """Runs, newest first by default. `agent_id` and the older `agent_ids` combine (any of them);
    `active=true` keeps runs not finished yet (created or running), within `statuses` if given."""
    if ascending is not None:
        order = "asc" if ascending else "desc"
    agents = [*([agent_id] if agent_id else []), *(agent_ids or [])]
    wanted: list[str] | None = list(statuses) if statuses else None
    if active:
        wanted = [s for s in ACTIVE_STATUSES if wanted is None or s in wanted]
    where = RunFilter(
        agent_ids=agents or None,
        statuses=wanted,
        background=background,
        stop_reason=stop_reason,
        conversation_id=conversation_id,
    )
    with ctx.db.read() as conn:
        records = run_rows.list_runs(conn, org, where, before=before, after=after, limit=limit, order=order)
    return [run_view(r) for r in records]


@router.get("/{run_id}", response_model=Run)
def retrieve_run(run_id: str, ctx: Context, org: OrgId) -> Run:
    with ctx.db.read() as conn:
        return run_view(run_rows.get_run(conn, org, run_id))


@router.get("/{run_id}/messages", response_model=list[LettaMessage])
def list_run_messages(
    run_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    order_by: OrderBy = "created_at",
) -> list[LettaMessage]:
    """The messages of a run (its input and everything the agent produced), oldest first by default,
    shown as the request that started the run asked (`use_assistant_message`, default true)."""
    with ctx.db.read() as conn:
        run = run_rows.get_run(conn, org, run_id)
        config = run_view(run).request_config
        use_assistant = config is None or config.use_assistant_message is not False

        def fetch(cursor: str | None, n: int, conn: Connection = conn) -> list[Message]:
            return message_rows.list_messages(
                conn, run.agent_id, before=before, after=cursor, limit=n, order=order, run_id=run.id
            )

        return message_page(fetch, after=after, limit=limit or 100, use_assistant_message=use_assistant)


@router.get("/{run_id}/steps", response_model=list[Step])
def list_run_steps(
    run_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Limit = 100,
    order: Order = "desc",
    order_by: OrderBy = "created_at",
) -> list[Step]:
    with ctx.db.read() as conn:
        run = run_rows.get_run(conn, org, run_id)
        where = step_rows.StepFilter(run_id=run.id)
        records = step_rows.list_steps(conn, org, where, before=before, after=after, limit=limit, order=order)
    return [step_view(r) for r in records]


@router.get("/{run_id}/usage", response_model=RunUsage)
def retrieve_run_usage(run_id: str, ctx: Context, org: OrgId) -> RunUsage:
    with ctx.db.read() as conn:
        run = run_rows.get_run(conn, org, run_id)
        usage = step_rows.usage_of_run(conn, run.id)
    return RunUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        step_count=usage.steps,
    )


@router.get("/{run_id}/trace", response_model=list[dict[str, Any]])
def retrieve_run_trace(run_id: str, ctx: Context, org: OrgId, limit: Limit = 1000) -> list[dict[str, Any]]:
    """memfold records no OpenTelemetry spans: a known run has an empty trace (as Letta answers when
    tracing is off). Timing lives in `/v1/runs/{run_id}/steps` and `/v1/steps/{step_id}/metrics`."""
    with ctx.db.read() as conn:
        run_rows.get_run(conn, org, run_id)
    return []
