"""Agent rows and their tags."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.store import tables as t
from memfold.store.paging import Order, paginate


@dataclass(slots=True)
class AgentRecord:
    id: str
    organization_id: str
    name: str
    agent_type: str
    description: str | None
    system: str
    model: str
    context_window_limit: int
    llm_config: dict[str, Any]
    embedding_config: dict[str, Any] | None
    message_ids: list[str]
    tool_rules: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    tool_exec_environment_variables: dict[str, str] | None
    timezone: str | None
    last_stop_reason: str | None
    last_run_completion: datetime | None
    last_run_duration_ms: int | None
    memory_edited_at: datetime | None
    created_at: datetime
    updated_at: datetime
    max_files_open: int | None = None
    """None: derived from the context window (memfold.folders.views.file_limits)."""
    per_file_view_window_char_limit: int | None = None


_FIELDS = tuple(f.name for f in fields(AgentRecord))


def insert_agent(conn: Connection, values: dict[str, Any], tags: list[str]) -> None:
    now = utcnow()
    conn.execute(insert(t.agents).values(created_at=now, updated_at=now, **values))
    set_tags(conn, values["id"], tags)


def get_agent(conn: Connection, org_id: str, agent_id: str) -> AgentRecord:
    row = (
        conn.execute(select(t.agents).where(t.agents.c.id == agent_id, t.agents.c.organization_id == org_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("agent", agent_id)
    return AgentRecord(**{name: row[name] for name in _FIELDS})


def list_agents(
    conn: Connection,
    org_id: str,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    match_all_tags: bool = False,
    query_text: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[AgentRecord]:
    query = select(t.agents).where(t.agents.c.organization_id == org_id)
    if name is not None:
        query = query.where(t.agents.c.name == name)
    if query_text:
        query = query.where(t.agents.c.name.contains(query_text, autoescape=True))
    if tags:
        tagged = (
            select(t.agent_tags.c.agent_id)
            .where(t.agent_tags.c.tag.in_(tags))
            .group_by(t.agent_tags.c.agent_id)
        )
        if match_all_tags:
            tagged = tagged.having(func.count(func.distinct(t.agent_tags.c.tag)) == len(set(tags)))
        query = query.where(t.agents.c.id.in_(tagged))
    query = paginate(
        conn, query, t.agents, t.agents.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [AgentRecord(**{n: row[n] for n in _FIELDS}) for row in conn.execute(query).mappings()]


def update_agent(conn: Connection, agent_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(t.agents).where(t.agents.c.id == agent_id).values(updated_at=utcnow(), **values))


def delete_agent(conn: Connection, org_id: str, agent_id: str) -> None:
    result = conn.execute(
        delete(t.agents).where(t.agents.c.id == agent_id, t.agents.c.organization_id == org_id)
    )
    if result.rowcount == 0:
        raise NotFoundError.for_id("agent", agent_id)


def set_tags(conn: Connection, agent_id: str, tags: list[str]) -> None:
    conn.execute(delete(t.agent_tags).where(t.agent_tags.c.agent_id == agent_id))
    unique = list(dict.fromkeys(tags))
    if unique:
        conn.execute(insert(t.agent_tags), [{"agent_id": agent_id, "tag": tag} for tag in unique])


def tags_of_agents(conn: Connection, agent_ids: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {agent_id: [] for agent_id in agent_ids}
    query = select(t.agent_tags).where(t.agent_tags.c.agent_id.in_(agent_ids)).order_by(t.agent_tags.c.tag)
    for agent_id, tag in conn.execute(query):
        result[agent_id].append(tag)
    return result
