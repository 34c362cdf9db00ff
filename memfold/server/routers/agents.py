"""/v1/agents: create, retrieve, list, modify, delete; attach and detach tools."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memfold.agent import lifecycle
from memfold.schemas.agents import AgentState, CreateAgent, UpdateAgent
from memfold.schemas.tools import Tool
from memfold.server.deps import Context, OrgId
from memfold.store import agents as agent_rows
from memfold.store import tools as tool_rows
from memfold.store.paging import Order

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.post("/", response_model=AgentState)
def create_agent(body: CreateAgent, ctx: Context, org: OrgId) -> AgentState:
    default = ctx.models.default_handle()
    with ctx.db.write() as conn:
        agent_id = lifecycle.create_agent(conn, org, body, ctx.settings, default)
        return lifecycle.agent_state(conn, org, agent_id)


@router.get("/", response_model=list[AgentState])
def list_agents(
    ctx: Context,
    org: OrgId,
    name: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
    query_text: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
    ascending: bool | None = None,
) -> list[AgentState]:
    if ascending is not None:
        order = "asc" if ascending else "desc"
    with ctx.db.read() as conn:
        records = agent_rows.list_agents(
            conn,
            org,
            name=name,
            tags=tags,
            match_all_tags=match_all_tags,
            query_text=query_text,
            before=before,
            after=after,
            limit=limit,
            order=order,
        )
        return lifecycle.agent_states(conn, records)


@router.get("/{agent_id}", response_model=AgentState)
def retrieve_agent(agent_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.read() as conn:
        return lifecycle.agent_state(conn, org, agent_id)


@router.patch("/{agent_id}", response_model=AgentState)
def modify_agent(agent_id: str, body: UpdateAgent, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        lifecycle.update_agent(conn, org, agent_id, body, ctx.settings)
        return lifecycle.agent_state(conn, org, agent_id)


@router.delete("/{agent_id}")
def delete_agent(agent_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        lifecycle.delete_agent(conn, org, agent_id)  # (with its sleep-time companion)
    return {"id": agent_id, "deleted": True}


@router.get("/{agent_id}/tools", response_model=list[Tool])
def list_agent_tools(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    order: Order = "asc",
    order_by: Annotated[str, Query(pattern="^created_at$")] = "created_at",
) -> list[Tool]:
    """The agent's tools, oldest first by default (built-ins, then custom tools as they were made)."""
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        return tool_rows.list_agent_tools(
            conn, agent_id, before=before, after=after, limit=limit, order=order
        )


@router.patch("/{agent_id}/tools/attach/{tool_id}", response_model=AgentState)
def attach_tool(agent_id: str, tool_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        tool_rows.attach_tool(conn, agent_id, tool_rows.get_tool(conn, org, tool_id).id)
        lifecycle.add_approval_defaults(conn, org, agent_id)
        return lifecycle.agent_state(conn, org, agent_id)


@router.patch("/{agent_id}/tools/detach/{tool_id}", response_model=AgentState)
def detach_tool(agent_id: str, tool_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        tool_rows.detach_tool(conn, agent_id, tool_rows.get_tool(conn, org, tool_id).id)
        return lifecycle.agent_state(conn, org, agent_id)
