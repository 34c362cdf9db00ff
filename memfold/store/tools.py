"""Tools and their attachment to agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.tools import Tool
from memfold.store import tables as t
from memfold.store.paging import Order, paginate

_COLUMNS = tuple(c for c in t.tools.c if c.name != "organization_id")


def _tool(row: RowMapping) -> Tool:
    return Tool.model_validate(dict(row))


def upsert_tool(conn: Connection, org_id: str, tool_id: str, values: dict[str, Any]) -> Tool:
    """Insert, or update the tool of the same name in the organization (keeping its id)."""
    existing = conn.execute(
        select(t.tools.c.id).where(t.tools.c.organization_id == org_id, t.tools.c.name == values["name"])
    ).first()
    now = utcnow()
    if existing is None:
        conn.execute(
            insert(t.tools).values(
                id=tool_id, organization_id=org_id, created_at=now, updated_at=now, **values
            )
        )
        return get_tool(conn, org_id, tool_id)
    conn.execute(update(t.tools).where(t.tools.c.id == existing[0]).values(updated_at=now, **values))
    return get_tool(conn, org_id, existing[0])


def get_tool(conn: Connection, org_id: str, tool_id: str) -> Tool:
    row = (
        conn.execute(select(*_COLUMNS).where(t.tools.c.id == tool_id, t.tools.c.organization_id == org_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("tool", tool_id)
    return _tool(row)


def tools_by_name(conn: Connection, org_id: str, names: list[str]) -> dict[str, Tool]:
    query = select(*_COLUMNS).where(t.tools.c.organization_id == org_id, t.tools.c.name.in_(names))
    return {row["name"]: _tool(row) for row in conn.execute(query).mappings()}


def list_tools(
    conn: Connection,
    org_id: str,
    *,
    name: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "asc",
) -> list[Tool]:
    query = select(*_COLUMNS).where(t.tools.c.organization_id == org_id)
    if name is not None:
        query = query.where(t.tools.c.name == name)
    query = paginate(
        conn, query, t.tools, t.tools.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_tool(r) for r in conn.execute(query).mappings()]


def delete_tool(conn: Connection, org_id: str, tool_id: str) -> None:
    result = conn.execute(delete(t.tools).where(t.tools.c.id == tool_id, t.tools.c.organization_id == org_id))
    if result.rowcount == 0:
        raise NotFoundError.for_id("tool", tool_id)


def tools_of_agents(conn: Connection, agent_ids: list[str]) -> dict[str, list[Tool]]:
    query = (
        select(t.agent_tools.c.agent_id, *_COLUMNS)
        .join(t.tools, t.tools.c.id == t.agent_tools.c.tool_id)
        .where(t.agent_tools.c.agent_id.in_(agent_ids))
        .order_by(t.agent_tools.c.agent_id, t.tools.c.name)
    )
    result: dict[str, list[Tool]] = {agent_id: [] for agent_id in agent_ids}
    for row in conn.execute(query).mappings():
        values = dict(row)
        result[values.pop("agent_id")].append(Tool.model_validate(values))
    return result


def attach_tool(conn: Connection, agent_id: str, tool_id: str) -> None:
    exists = conn.execute(
        select(t.agent_tools.c.tool_id).where(
            t.agent_tools.c.agent_id == agent_id, t.agent_tools.c.tool_id == tool_id
        )
    ).first()
    if exists is None:
        conn.execute(insert(t.agent_tools).values(agent_id=agent_id, tool_id=tool_id))


def detach_tool(conn: Connection, agent_id: str, tool_id: str) -> None:
    conn.execute(
        delete(t.agent_tools).where(t.agent_tools.c.agent_id == agent_id, t.agent_tools.c.tool_id == tool_id)
    )
