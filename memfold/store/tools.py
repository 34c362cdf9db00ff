"""Tools and their attachment to agents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, delete, func, insert, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.tools import Tool
from memfold.store import tables as t
from memfold.store.paging import Order, paginate

_COLUMNS = tuple(c for c in t.tools.c if c.name != "organization_id")
BUILTIN_TYPE_PREFIX = "letta_"


def _tool(row: RowMapping) -> Tool:
    return Tool.model_validate(dict(row))


def upsert_tool(conn: Connection, org_id: str, tool_id: str, values: dict[str, Any]) -> Tool:
    """Insert, or update the tool of the same name in the organization (keeping its id)."""
    existing = get_tool_by_name(conn, org_id, values["name"])
    if existing is None:
        return insert_tool(conn, org_id, tool_id, values)
    return update_tool(conn, org_id, existing.id, values)


def insert_tool(conn: Connection, org_id: str, tool_id: str, values: dict[str, Any]) -> Tool:
    now = utcnow()
    conn.execute(
        insert(t.tools).values(id=tool_id, organization_id=org_id, created_at=now, updated_at=now, **values)
    )
    return get_tool(conn, org_id, tool_id)


def update_tool(conn: Connection, org_id: str, tool_id: str, values: dict[str, Any]) -> Tool:
    conn.execute(
        update(t.tools)
        .where(t.tools.c.id == tool_id, t.tools.c.organization_id == org_id)
        .values(updated_at=utcnow(), **values)
    )
    return get_tool(conn, org_id, tool_id)


def get_tool(conn: Connection, org_id: str, tool_id: str) -> Tool:
    row = (
        conn.execute(select(*_COLUMNS).where(t.tools.c.id == tool_id, t.tools.c.organization_id == org_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("tool", tool_id)
    return _tool(row)


def get_tool_by_name(conn: Connection, org_id: str, name: str) -> Tool | None:
    query = select(*_COLUMNS).where(t.tools.c.organization_id == org_id, t.tools.c.name == name)
    row = conn.execute(query).mappings().first()
    return _tool(row) if row is not None else None


def tools_by_name(conn: Connection, org_id: str, names: list[str]) -> dict[str, Tool]:
    query = select(*_COLUMNS).where(t.tools.c.organization_id == org_id, t.tools.c.name.in_(names))
    return {row["name"]: _tool(row) for row in conn.execute(query).mappings()}


def _filtered(
    query: Select[Any],
    *,
    name: str | None = None,
    names: Sequence[str] | None = None,
    tool_ids: Sequence[str] | None = None,
    search: str | None = None,
    tool_types: Sequence[str] | None = None,
    exclude_tool_types: Sequence[str] | None = None,
    only_builtin: bool = False,
) -> Select[Any]:
    """`query` restricted by the list filters (each given filter must hold)."""
    c = t.tools.c
    if name is not None:
        query = query.where(c.name == name)
    if names:
        query = query.where(c.name.in_(list(names)))
    if tool_ids:
        query = query.where(c.id.in_(list(tool_ids)))
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(c.name).like(f"%{escaped}%", escape="\\"))
    if tool_types:
        query = query.where(c.tool_type.in_(list(tool_types)))
    if exclude_tool_types:
        query = query.where(c.tool_type.not_in(list(exclude_tool_types)))
    if only_builtin:
        query = query.where(c.tool_type.startswith(BUILTIN_TYPE_PREFIX, autoescape=True))
    return query


def list_tools(
    conn: Connection,
    org_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "asc",
    **filters: Any,
) -> list[Tool]:
    """The organization's tools, filtered (see `_filtered` for the filters) and paged by creation time."""
    query = _filtered(select(*_COLUMNS).where(t.tools.c.organization_id == org_id), **filters)
    query = paginate(
        conn, query, t.tools, t.tools.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_tool(r) for r in conn.execute(query).mappings()]


def count_tools(conn: Connection, org_id: str, *, include_builtin: bool) -> int:
    query = select(func.count()).select_from(t.tools).where(t.tools.c.organization_id == org_id)
    if not include_builtin:
        query = query.where(~t.tools.c.tool_type.startswith(BUILTIN_TYPE_PREFIX, autoescape=True))
    return int(conn.execute(query).scalar_one())


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


def list_agent_tools(
    conn: Connection,
    agent_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    order: Order = "asc",
) -> list[Tool]:
    """One agent's tools, paged by the tools' creation time."""
    query = (
        select(*_COLUMNS)
        .join(t.agent_tools, t.tools.c.id == t.agent_tools.c.tool_id)
        .where(t.agent_tools.c.agent_id == agent_id)
    )
    query = paginate(
        conn, query, t.tools, t.tools.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_tool(r) for r in conn.execute(query).mappings()]


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
