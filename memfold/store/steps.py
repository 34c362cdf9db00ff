"""Steps: one row per LLM call, with token usage and timing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, false, func, insert, or_, select

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.messages import Message
from memfold.store import tables as t
from memfold.store.paging import Order, paginate
from memfold.store.runs import utc


def insert_step(conn: Connection, org_id: str, step_id: str, values: dict[str, Any]) -> None:
    conn.execute(insert(t.steps).values(id=step_id, organization_id=org_id, created_at=utcnow(), **values))


@dataclass(slots=True)
class StepRecord:
    id: str
    agent_id: str
    run_id: str | None
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    context_window_limit: int | None
    stop_reason: str | None
    status: str
    llm_ms: int | None
    duration_ms: int | None
    error: str | None
    created_at: datetime


_FIELDS = tuple(f.name for f in fields(StepRecord))
_COLUMNS = tuple(t.steps.c[name] for name in _FIELDS)


def _record(row: RowMapping) -> StepRecord:
    values = {name: row[name] for name in _FIELDS}
    values["created_at"] = utc(values["created_at"])
    return StepRecord(**values)


def get_step(conn: Connection, org_id: str, step_id: str) -> StepRecord:
    query = select(*_COLUMNS).where(t.steps.c.id == step_id, t.steps.c.organization_id == org_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError.for_id("step", step_id)
    return _record(row)


@dataclass(slots=True)
class StepFilter:
    """Conditions of `GET /v1/steps`; None means no condition. `start` and `end` are inclusive."""

    agent_id: str | None = None
    run_id: str | None = None
    model: str | None = None
    """A model's name (`gpt-4o-mini`) or its handle (`openai/gpt-4o-mini`)."""
    start: datetime | None = None
    end: datetime | None = None
    matches_nothing: bool = False
    """Set when a filter asks for something memfold never records (feedback, tags, traces)."""

    def conditions(self) -> list[ColumnElement[bool]]:
        c = t.steps.c
        where: list[ColumnElement[bool]] = []
        if self.matches_nothing:
            where.append(false())
        if self.agent_id is not None:
            where.append(c.agent_id == self.agent_id)
        if self.run_id is not None:
            where.append(c.run_id == self.run_id)
        if self.model is not None:
            provider, _, name = self.model.partition("/")
            where.append(or_(c.model == self.model, and_(c.provider == provider.lower(), c.model == name)))
        if self.start is not None:
            where.append(c.created_at >= self.start)
        if self.end is not None:
            where.append(c.created_at <= self.end)
        return where


def list_steps(
    conn: Connection,
    org_id: str,
    where: StepFilter,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[StepRecord]:
    """Steps of the organization by creation time; `before`/`after` are step ids (positions in `order`)."""
    query = select(*_COLUMNS).where(t.steps.c.organization_id == org_id, *where.conditions())
    query = paginate(
        conn, query, t.steps, t.steps.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_record(row) for row in conn.execute(query).mappings()]


@dataclass(slots=True)
class StepUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    steps: int = 0


def usage_of_run(conn: Connection, run_id: str) -> StepUsage:
    """Token usage summed over the run's steps."""
    c = t.steps.c
    query = select(
        func.coalesce(func.sum(c.prompt_tokens), 0),
        func.coalesce(func.sum(c.completion_tokens), 0),
        func.coalesce(func.sum(c.total_tokens), 0),
        func.count(),
    ).where(c.run_id == run_id)
    prompt, completion, total, count = conn.execute(query).one()
    return StepUsage(int(prompt), int(completion), int(total), int(count))


_MESSAGE_COLUMNS = tuple(c for c in t.messages.c if c.name != "organization_id")


def messages_of_step(
    conn: Connection,
    step: StepRecord,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 100,
    order: Order = "asc",
) -> list[Message]:
    """The messages a step wrote (the turn's input goes with its first step), in stored order."""
    c = t.messages.c
    # step_id has no index of its own: the run's (or the agent's) index narrows the scan first.
    query = select(*_MESSAGE_COLUMNS).where(c.agent_id == step.agent_id, c.step_id == step.id)
    if step.run_id is not None:
        query = query.where(c.run_id == step.run_id)
    query = paginate(
        conn, query, t.messages, t.messages.c.seq, before=before, after=after, limit=limit, order=order
    )
    return [Message.model_validate(dict(row)) for row in conn.execute(query).mappings()]
