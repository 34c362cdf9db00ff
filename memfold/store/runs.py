"""Run rows, read side: one run per agent turn (or queued request). The durable queue that leases and
updates them lives in `memfold.runs`; this module only reads."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, false, select

from memfold.errors import NotFoundError
from memfold.store import tables as t
from memfold.store.paging import Order, paginate


@dataclass(slots=True)
class RunRecord:
    """A run as stored, less the queue's lease bookkeeping."""

    id: str
    organization_id: str
    agent_id: str
    status: str
    stop_reason: str | None
    background: bool
    request: dict[str, Any] | None
    metadata: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    callback_url: str | None


_FIELDS = tuple(f.name for f in fields(RunRecord))
_COLUMNS = tuple(t.runs.c[name] for name in _FIELDS)


def utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime; SQLite hands back naive ones that are UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _record(row: RowMapping) -> RunRecord:
    values = {name: row[name] for name in _FIELDS}
    for name in ("created_at", "started_at", "completed_at"):
        values[name] = utc(values[name])
    return RunRecord(**values)


def get_run(conn: Connection, org_id: str, run_id: str) -> RunRecord:
    query = select(*_COLUMNS).where(t.runs.c.id == run_id, t.runs.c.organization_id == org_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError.for_id("run", run_id)
    return _record(row)


@dataclass(slots=True)
class RunFilter:
    """Conditions of `GET /v1/runs`; None means no condition."""

    agent_ids: list[str] | None = None
    statuses: list[str] | None = None
    background: bool | None = None
    stop_reason: str | None = None
    conversation_id: str | None = None
    """memfold has no conversations: any value matches no run."""

    def conditions(self) -> list[ColumnElement[bool]]:
        c = t.runs.c
        where: list[ColumnElement[bool]] = []
        if self.agent_ids is not None:
            where.append(c.agent_id.in_(self.agent_ids))
        if self.statuses is not None:
            where.append(c.status.in_(self.statuses))
        if self.background is not None:
            where.append(c.background == self.background)
        if self.stop_reason is not None:
            where.append(c.stop_reason == self.stop_reason)
        if self.conversation_id is not None:
            where.append(false())
        return where


def list_runs(
    conn: Connection,
    org_id: str,
    where: RunFilter,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[RunRecord]:
    """Runs of the organization by creation time; `before`/`after` are run ids (positions in `order`)."""
    query = select(*_COLUMNS).where(t.runs.c.organization_id == org_id, *where.conditions())
    query = paginate(
        conn, query, t.runs, t.runs.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_record(row) for row in conn.execute(query).mappings()]
