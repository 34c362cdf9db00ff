"""/v1/tools: the organization's tools (built-ins are registered here like any other)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from memfold.schemas.tools import Tool
from memfold.server.deps import Context, OrgId
from memfold.store import tools as tool_rows
from memfold.store.paging import Order

router = APIRouter(prefix="/v1/tools", tags=["tools"])


@router.get("/", response_model=list[Tool])
def list_tools(
    ctx: Context,
    org: OrgId,
    name: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "asc",
) -> list[Tool]:
    with ctx.db.read() as conn:
        return tool_rows.list_tools(
            conn, org, name=name, before=before, after=after, limit=limit, order=order
        )


@router.get("/{tool_id}", response_model=Tool)
def retrieve_tool(tool_id: str, ctx: Context, org: OrgId) -> Tool:
    with ctx.db.read() as conn:
        return tool_rows.get_tool(conn, org, tool_id)
