"""/v1/tools: the organization's tools (built-ins are registered here like any other), and
`POST /v1/agents/{id}/tools/{name}/run`, which runs one tool attached to an agent.

There is deliberately no route that runs source code that is not a stored tool attached to
the agent (Letta's `/v1/tools/run` executed any source it was sent).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from memfold.agent import lifecycle
from memfold.agent.session import AgentSession, load_session
from memfold.errors import ConflictError, NotFoundError
from memfold.ids import new_id
from memfold.llm.base import ToolCall
from memfold.schemas.agents import AgentState
from memfold.schemas.base import utcnow
from memfold.schemas.tool_runs import RunToolRequest, ToolExecutionResult
from memfold.schemas.tools import CreateTool, Tool, ToolSearchRequest, ToolSearchResult, UpdateTool
from memfold.server.deps import Context, OrgId
from memfold.store import agents as agent_rows
from memfold.store import tools as tool_rows
from memfold.store.paging import Order
from memfold.tools.definitions import check_changeable, created_tool_values, updated_tool_values
from memfold.tools.executor import execute
from memfold.tools.search import search_tools

router = APIRouter(tags=["tools"])

ListParam = Annotated[list[str] | None, Query()]


def _values(param: list[str] | None) -> list[str] | None:
    """A list query parameter, sent repeated (`?a=x&a=y`) or comma-separated (`?a=x,y`)."""
    if param is None:
        return None
    return [item.strip() for value in param for item in value.split(",") if item.strip()]


@router.post("/v1/tools/", response_model=Tool)
def create_tool(body: CreateTool, ctx: Context, org: OrgId) -> Tool:
    values = created_tool_values(body)
    with ctx.db.write() as conn:
        existing = tool_rows.get_tool_by_name(conn, org, values["name"])
        if existing is not None:
            raise ConflictError(
                f"a tool named {values['name']!r} already exists ({existing.id}); replace it with "
                "PUT /v1/tools/ (upsert) or change it with PATCH /v1/tools/{tool_id}"
            )
        return tool_rows.insert_tool(conn, org, new_id("tool"), values)


@router.put("/v1/tools/", response_model=Tool)
def upsert_tool(body: CreateTool, ctx: Context, org: OrgId) -> Tool:
    """Create the tool, or replace the custom tool of the same name (it keeps its id and agents)."""
    values = created_tool_values(body)
    with ctx.db.write() as conn:
        existing = tool_rows.get_tool_by_name(conn, org, values["name"])
        if existing is None:
            return tool_rows.insert_tool(conn, org, new_id("tool"), values)
        check_changeable(existing, "replaced")
        return tool_rows.update_tool(conn, org, existing.id, values)


@router.get("/v1/tools/", response_model=list[Tool])
def list_tools(
    ctx: Context,
    org: OrgId,
    name: str | None = None,
    names: ListParam = None,
    tool_ids: ListParam = None,
    search: str | None = None,
    tool_types: ListParam = None,
    exclude_tool_types: ListParam = None,
    return_only_letta_tools: bool | None = False,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
    order_by: Annotated[str, Query(pattern="^created_at$")] = "created_at",
) -> list[Tool]:
    with ctx.db.read() as conn:
        return tool_rows.list_tools(
            conn,
            org,
            name=name,
            names=_values(names),
            tool_ids=_values(tool_ids),
            search=search,
            tool_types=_values(tool_types),
            exclude_tool_types=_values(exclude_tool_types),
            only_builtin=bool(return_only_letta_tools),
            before=before,
            after=after,
            limit=limit,
            order=order,
        )


@router.get("/v1/tools/count", response_model=int)
def count_tools(ctx: Context, org: OrgId, include_base_tools: bool = False) -> int:
    """How many tools the organization has; built-ins only with `include_base_tools`."""
    with ctx.db.read() as conn:
        return tool_rows.count_tools(conn, org, include_builtin=include_base_tools)


@router.post("/v1/tools/search", response_model=list[ToolSearchResult])
def search(body: ToolSearchRequest, ctx: Context, org: OrgId) -> list[ToolSearchResult]:
    """Rank the tools by how well their name, description and tags match `query`."""
    with ctx.db.read() as conn:
        tools = tool_rows.list_tools(conn, org, tool_types=body.tool_types, limit=None, order="desc")
    if body.tags:
        wanted = set(body.tags)
        tools = [tool for tool in tools if wanted.intersection(tool.tags)]
    return search_tools(tools, body.query, body.search_mode, body.limit)


@router.get("/v1/tools/{tool_id}", response_model=Tool)
def retrieve_tool(tool_id: str, ctx: Context, org: OrgId) -> Tool:
    with ctx.db.read() as conn:
        return tool_rows.get_tool(conn, org, tool_id)


@router.patch("/v1/tools/{tool_id}", response_model=Tool)
def modify_tool(tool_id: str, body: UpdateTool, ctx: Context, org: OrgId) -> Tool:
    with ctx.db.write() as conn:
        tool = tool_rows.get_tool(conn, org, tool_id)
        values = updated_tool_values(tool, body)
        if values.get("name", tool.name) != tool.name:
            other = tool_rows.get_tool_by_name(conn, org, values["name"])
            if other is not None:
                raise ConflictError(
                    f"the new source renames the tool to {values['name']!r}, the name of another tool "
                    f"({other.id})"
                )
        return tool_rows.update_tool(conn, org, tool_id, values) if values else tool


@router.delete("/v1/tools/{tool_id}")
def delete_tool(tool_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    """Delete a custom tool; agents that had it attached lose it."""
    with ctx.db.write() as conn:
        check_changeable(tool_rows.get_tool(conn, org, tool_id), "deleted")
        tool_rows.delete_tool(conn, org, tool_id)
    return {"id": tool_id, "deleted": True}


# --- running one of an agent's tools --------------------------------------------------------------


@router.post("/v1/agents/{agent_id}/tools/{tool_name}/run", response_model=ToolExecutionResult)
async def run_agent_tool(
    agent_id: str, tool_name: str, ctx: Context, org: OrgId, body: RunToolRequest | None = None
) -> ToolExecutionResult:
    """Run a tool attached to the agent with the given arguments, as if the agent had called it: built-ins
    act on the agent's memory (edits are saved), custom tools run where the agent's calls run. A tool's
    failure is a result with status "error", not an HTTP error."""
    loop = ctx.loop
    async with loop.locks(agent_id):  # never interleaved with the agent's own steps
        session = await asyncio.to_thread(load_session, ctx.db, org, agent_id, loop.messages)
        tools = {tool.name: tool for tool in session.tools}
        if tool_name not in tools:
            attached = ", ".join(sorted(tools)) or "none"
            raise NotFoundError(
                f"agent {agent_id!r} has no tool named {tool_name!r} attached (attached: {attached})"
            )
        tool_context = loop.tool_context(session)  # archival inserts are staged, saved below
        arguments = json.dumps((body or RunToolRequest()).args)
        call = ToolCall(id=f"call-{uuid.uuid4().hex[:24]}", name=tool_name, arguments=arguments)
        outcome = await execute(call, tools, tool_context)
        state = await asyncio.to_thread(_save_and_read, session)
    return ToolExecutionResult(
        status="success" if outcome.ok else "error",
        func_return=outcome.content,
        agent_state=state,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
    )


def _save_and_read(session: AgentSession) -> AgentState:
    """Save what the run changed (memory edits, staged archival inserts) in one transaction, and
    return the agent's state after it."""
    staged, session.step_writes[:] = list(session.step_writes), []
    edited = sorted(session.memory.edited)
    with session.db.write() if staged or edited else session.db.read() as conn:
        for write in staged:
            write(conn)
        session.memory.save(conn, session.org_id, session.agent.id)  # re-applied to newer versions
        if edited:
            agent_rows.update_agent(conn, session.agent.id, {"memory_edited_at": utcnow()})
        state = lifecycle.agent_state(conn, session.org_id, session.agent.id)
    session.memory.edited.clear()
    return state
