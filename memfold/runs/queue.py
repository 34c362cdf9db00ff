"""The run queue in the database. A run is claimed by taking a lease; a lease that is not renewed
(its process died) expires, and the run can be claimed again.

A run's steps commit atomically, so a run picked up again continues after its last committed
step: no step is applied twice. The lease fields are the queue's own bookkeeping; the API never
shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, insert, or_, select, update

from memfold.ids import new_id
from memfold.schemas.base import utcnow
from memfold.store import tables as t


@dataclass(frozen=True)
class Claim:
    """A run this process now executes."""

    run_id: str
    organization_id: str
    agent_id: str
    request: dict[str, Any]
    attempts: int
    resumed: bool
    """Whether some of its steps had committed before (it is continued, not started)."""


def enqueue(
    conn: Connection,
    org_id: str,
    agent_id: str,
    request: dict[str, Any],
    *,
    callback_url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    run_id = new_id("run")
    conn.execute(
        insert(t.runs).values(
            id=run_id,
            organization_id=org_id,
            agent_id=agent_id,
            status="created",
            background=True,
            request=request,
            metadata=metadata,
            callback_url=callback_url,
            created_at=utcnow(),
        )
    )
    return run_id


def _claimable(now: datetime) -> ColumnElement[bool]:
    c = t.runs.c
    return or_(c.status == "created", and_(c.status == "running", c.lease_expires_at < now))


def any_claimable(conn: Connection) -> bool:
    return bool(conn.execute(select(exists().where(_claimable(utcnow())))).scalar_one())


def claim(conn: Connection, owner: str, lease: timedelta, *, limit: int) -> list[Claim]:
    """Lease up to `limit` claimable runs, oldest first, at most one per agent and none of an agent
    that is busy with another run (a turn of one agent waits for the one before it)."""
    now = utcnow()
    c = t.runs.c
    claimable = _claimable(now)
    other = t.runs.alias("other")
    busy = exists().where(
        other.c.agent_id == c.agent_id,
        other.c.id != c.id,
        other.c.status == "running",
        or_(other.c.lease_expires_at.is_(None), other.c.lease_expires_at >= now),
    )
    query = select(c.id, c.organization_id, c.agent_id, c.request, c.attempts).where(claimable, ~busy)
    query = query.order_by(c.created_at, c.id).limit(limit * 4)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    agents: set[str] = set()
    for row in conn.execute(query).mappings():
        if len(claims) == limit:
            break
        if row["agent_id"] in agents:
            continue
        taken = conn.execute(
            update(t.runs)
            .where(c.id == row["id"], claimable)
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=c.attempts + 1,
                started_at=func.coalesce(c.started_at, now),
            )
        )
        if taken.rowcount != 1:
            continue  # another process took it between the read and the update
        agents.add(row["agent_id"])
        resumed = conn.execute(select(exists().where(t.messages.c.run_id == row["id"]))).scalar_one()
        claims.append(
            Claim(
                run_id=row["id"],
                organization_id=row["organization_id"],
                agent_id=row["agent_id"],
                request=row["request"] or {},
                attempts=row["attempts"] + 1,
                resumed=bool(resumed),
            )
        )
    return claims


def renew(conn: Connection, owner: str, lease: timedelta) -> None:
    """Extend the leases of every run this process holds (one statement, however many runs)."""
    c = t.runs.c
    conn.execute(
        update(t.runs)
        .where(c.lease_owner == owner, c.status == "running")
        .values(lease_expires_at=utcnow() + lease)
    )


def expire_leases(conn: Connection) -> int:
    """Free every running run's lease at once. Only right for a database one process owns (SQLite):
    at start-up, whatever was running belonged to a process that is gone."""
    c = t.runs.c
    result = conn.execute(
        update(t.runs).where(c.status == "running").values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    return result.rowcount


def fail(conn: Connection, run_id: str, error: str) -> None:
    conn.execute(
        update(t.runs)
        .where(t.runs.c.id == run_id, t.runs.c.status.in_(("created", "running")))
        .values(status="failed", stop_reason="error", error=error, completed_at=utcnow())
    )


def cancel_queued(conn: Connection, run_ids: list[str]) -> list[str]:
    """Cancel the runs of `run_ids` that no worker has started. Returns those cancelled."""
    c = t.runs.c
    waiting = conn.execute(select(c.id).where(c.id.in_(run_ids), c.status == "created")).scalars().all()
    if waiting:
        conn.execute(
            update(t.runs)
            .where(c.id.in_(waiting), c.status == "created")
            .values(status="cancelled", stop_reason="cancelled", completed_at=utcnow())
        )
    return list(waiting)
