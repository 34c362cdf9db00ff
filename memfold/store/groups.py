"""Group rows: a main agent (the group's manager) and the sleep-time agent that tends its memory.

A group is deleted with either of its agents (foreign keys, `ON DELETE CASCADE`); deleting the
sleep-time agent along with the main agent is the lifecycle's job.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, or_, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.runs import ACTIVE_STATUSES
from memfold.store import tables as t
from memfold.store.paging import Order, paginate


@dataclass(slots=True)
class GroupRecord:
    id: str
    organization_id: str
    manager_type: str
    description: str
    manager_agent_id: str
    sleeptime_agent_id: str
    sleeptime_agent_frequency: int
    turns_counter: int
    turns_since_run: int
    last_processed_message_id: str | None
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(GroupRecord))


def _record(row: Any) -> GroupRecord:
    return GroupRecord(**{name: row[name] for name in _FIELDS})


def insert_group(conn: Connection, values: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(
        insert(t.groups).values(turns_counter=0, turns_since_run=0, created_at=now, updated_at=now, **values)
    )


def get_group(conn: Connection, org_id: str, group_id: str) -> GroupRecord:
    c = t.groups.c
    row = (
        conn.execute(select(t.groups).where(c.id == group_id, c.organization_id == org_id)).mappings().first()
    )
    if row is None:
        raise NotFoundError.for_id("group", group_id)
    return _record(row)


def group_of_manager(conn: Connection, agent_id: str) -> GroupRecord | None:
    row = conn.execute(select(t.groups).where(t.groups.c.manager_agent_id == agent_id)).mappings().first()
    return _record(row) if row is not None else None


def group_of_member(conn: Connection, agent_id: str) -> GroupRecord | None:
    """The group whose manager or sleep-time agent `agent_id` is."""
    c = t.groups.c
    row = (
        conn.execute(
            select(t.groups).where(or_(c.manager_agent_id == agent_id, c.sleeptime_agent_id == agent_id))
        )
        .mappings()
        .first()
    )
    return _record(row) if row is not None else None


def groups_of_managers(conn: Connection, agent_ids: list[str]) -> dict[str, GroupRecord]:
    if not agent_ids:
        return {}
    rows = conn.execute(select(t.groups).where(t.groups.c.manager_agent_id.in_(agent_ids))).mappings()
    return {row["manager_agent_id"]: _record(row) for row in rows}


def list_groups(
    conn: Connection,
    org_id: str,
    *,
    manager_type: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[GroupRecord]:
    c = t.groups.c
    query = select(t.groups).where(c.organization_id == org_id)
    if manager_type is not None:
        query = query.where(c.manager_type == manager_type)
    query = paginate(
        conn, query, t.groups, c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def update_group(conn: Connection, group_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(t.groups).where(t.groups.c.id == group_id).values(updated_at=utcnow(), **values))


def count_turn(conn: Connection, group_id: str) -> None:
    c = t.groups.c
    conn.execute(
        update(t.groups)
        .where(c.id == group_id)
        .values(turns_counter=c.turns_counter + 1, turns_since_run=c.turns_since_run + 1)
    )


def delete_group(conn: Connection, group_id: str) -> None:
    conn.execute(delete(t.groups).where(t.groups.c.id == group_id))


def has_active_run(conn: Connection, agent_id: str) -> bool:
    """Whether the agent has a run that is queued or executing."""
    c = t.runs.c
    query = exists().where(c.agent_id == agent_id, c.status.in_(ACTIVE_STATUSES))
    return bool(conn.execute(select(query)).scalar_one())


def message_ids_after(conn: Connection, agent_id: str, after_id: str | None, limit: int) -> list[str]:
    """Ids of the agent's newest `limit` messages stored after message `after_id` (all of its
    messages when None), oldest first."""
    c = t.messages.c
    query = select(c.id).where(c.agent_id == agent_id)
    seq = None if after_id is None else conn.execute(select(c.seq).where(c.id == after_id)).scalar()
    if seq is not None:  # (a message deleted since counts as none: everything is new)
        query = query.where(c.seq > seq)
    ids = list(conn.execute(query.order_by(c.seq.desc()).limit(limit)).scalars())
    ids.reverse()
    return ids
