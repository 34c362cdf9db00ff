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
from memfold.schemas.runs import ACTIVE_STATUSES
from memfold.store import tables as t
from memfold.store.locks import advisory_key, try_transaction_lock


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
    shared = conn.dialect.name == "postgresql"
    if shared:
        query = query.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    agents: set[str] = set()
    for row in conn.execute(query).mappings():
        if len(claims) == limit:
            break
        if row["agent_id"] in agents:
            continue
        if shared and not _agent_free(conn, row["agent_id"], row["id"], busy, now):
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


def _agent_free(
    conn: Connection, agent_id: str, run_id: str, busy: ColumnElement[bool], now: datetime
) -> bool:
    """PostgreSQL, several processes: two claims running at once could each see the agent idle and
    take one of its runs each, and `SKIP LOCKED` can hide an older run that another claim is looking
    at. So claims of one agent take turns (an advisory lock until the claim's transaction ends; a
    process that finds it taken leaves the agent to the other), and once it is held the run must
    still be the agent's oldest waiting run, of an agent that no committed claim made busy."""
    c = t.runs.c
    older = t.runs.alias("older")
    earlier = exists().where(
        older.c.agent_id == c.agent_id,
        older.c.id != c.id,
        or_(older.c.status == "created", and_(older.c.status == "running", older.c.lease_expires_at < now)),
        or_(older.c.created_at < c.created_at, and_(older.c.created_at == c.created_at, older.c.id < c.id)),
    )
    blocked = select(exists().where(c.id == run_id, or_(busy, earlier)))
    # Checked before the lock too: a process that is not looking at the agent's oldest run must not
    # take the lock from the one that is (both would then pass the agent by this round).
    if conn.execute(blocked).scalar_one():
        return False
    if not try_transaction_lock(conn, advisory_key("claim", agent_id)):
        return False
    return not conn.execute(blocked).scalar_one()


def renew(conn: Connection, owner: str, lease: timedelta) -> None:
    """Extend the leases of every run this process holds (one statement, however many runs)."""
    c = t.runs.c
    conn.execute(
        update(t.runs)
        .where(c.lease_owner == owner, c.status == "running")
        .values(lease_expires_at=utcnow() + lease)
    )


def request_cancel(conn: Connection, run_ids: list[str]) -> list[str]:
    """Ask the process running each of `run_ids` to stop it at its next step boundary (it looks for
    requests while it holds runs: `cancel_requests`), whichever process received the cancel. A run
    whose lease lapsed (its process died) is cancelled here and now: no one would read the request
    before it is claimed again. Returns those cancelled at once."""
    if not run_ids:
        return []
    now = utcnow()
    c = t.runs.c
    running = and_(c.id.in_(run_ids), c.status == "running")
    orphaned = list(conn.execute(select(c.id).where(running, c.lease_expires_at < now)).scalars())
    if orphaned:
        conn.execute(
            update(t.runs)
            .where(c.id.in_(orphaned), c.status == "running", c.lease_expires_at < now)
            .values(status="cancelled", stop_reason="cancelled", completed_at=now)
        )
    conn.execute(
        update(t.runs).where(running, c.cancel_requested_at.is_(None)).values(cancel_requested_at=now)
    )
    return orphaned


def cancel_requests(conn: Connection, owner: str) -> list[str]:
    """The runs this process holds that someone asked to cancel."""
    c = t.runs.c
    query = select(c.id).where(
        c.lease_owner == owner, c.status == "running", c.cancel_requested_at.is_not(None)
    )
    return list(conn.execute(query).scalars())


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
        .where(t.runs.c.id == run_id, t.runs.c.status.in_(ACTIVE_STATUSES))
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
