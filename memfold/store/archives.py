"""Archives (collections of passages) and which agents they are attached to."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.store import tables as t
from memfold.store.paging import Order, paginate


@dataclass(slots=True)
class ArchiveRecord:
    id: str
    organization_id: str
    name: str
    description: str | None
    embedding_config: dict[str, Any]
    vector_db_provider: str
    metadata: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(ArchiveRecord))


def _record(row: Any) -> ArchiveRecord:
    return ArchiveRecord(**{name: row[name] for name in _FIELDS})


def insert_archive(conn: Connection, org_id: str, archive_id: str, values: dict[str, Any]) -> ArchiveRecord:
    now = utcnow()
    row = {
        "id": archive_id,
        "organization_id": org_id,
        "vector_db_provider": "native",
        "created_at": now,
        "updated_at": now,
        **values,
    }
    conn.execute(insert(t.archives).values(**row))
    return get_archive(conn, org_id, archive_id)


def get_archive(conn: Connection, org_id: str, archive_id: str) -> ArchiveRecord:
    row = (
        conn.execute(
            select(t.archives).where(t.archives.c.id == archive_id, t.archives.c.organization_id == org_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("archive", archive_id)
    return _record(row)


def list_archives(
    conn: Connection,
    org_id: str,
    *,
    name: str | None = None,
    agent_id: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[ArchiveRecord]:
    query = select(t.archives).where(t.archives.c.organization_id == org_id)
    if name is not None:
        query = query.where(t.archives.c.name == name)
    if agent_id is not None:
        attached = select(t.agent_archives.c.archive_id).where(t.agent_archives.c.agent_id == agent_id)
        query = query.where(t.archives.c.id.in_(attached))
    query = paginate(
        conn, query, t.archives, t.archives.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def update_archive(conn: Connection, org_id: str, archive_id: str, values: dict[str, Any]) -> ArchiveRecord:
    get_archive(conn, org_id, archive_id)
    if values:
        conn.execute(
            update(t.archives).where(t.archives.c.id == archive_id).values(updated_at=utcnow(), **values)
        )
    return get_archive(conn, org_id, archive_id)


def delete_archive(conn: Connection, org_id: str, archive_id: str) -> None:
    result = conn.execute(
        delete(t.archives).where(t.archives.c.id == archive_id, t.archives.c.organization_id == org_id)
    )
    if result.rowcount == 0:
        raise NotFoundError.for_id("archive", archive_id)


def archives_of_agent(conn: Connection, agent_id: str) -> list[ArchiveRecord]:
    """The agent's archives, first attached first (the first is where the agent writes)."""
    query = (
        select(t.archives)
        .join(t.agent_archives, t.agent_archives.c.archive_id == t.archives.c.id)
        .where(t.agent_archives.c.agent_id == agent_id)
        .order_by(t.agent_archives.c.created_at, t.archives.c.id)
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def attach_archive(conn: Connection, agent_id: str, archive_id: str) -> None:
    exists = conn.execute(
        select(t.agent_archives.c.agent_id).where(
            t.agent_archives.c.agent_id == agent_id, t.agent_archives.c.archive_id == archive_id
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(t.agent_archives).values(agent_id=agent_id, archive_id=archive_id, created_at=utcnow())
        )


def detach_archive(conn: Connection, agent_id: str, archive_id: str) -> None:
    conn.execute(
        delete(t.agent_archives).where(
            t.agent_archives.c.agent_id == agent_id, t.agent_archives.c.archive_id == archive_id
        )
    )
