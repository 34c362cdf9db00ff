"""Per-agent tool rules that have their own route: `PATCH /v1/agents/{id}/tools/approval/{tool_name}`.

Everything else about rules travels in the agent itself (`tool_rules` on create, modify and
retrieve; see `memfold.schemas.tool_rules`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from memfold.agent import lifecycle
from memfold.errors import InvalidValueError, NotFoundError
from memfold.schemas.agents import AgentState
from memfold.schemas.base import RequestModel
from memfold.schemas.tool_rules import dump_rules, load_rules, with_requires_approval
from memfold.server.deps import Context, OrgId
from memfold.store import agents as agent_rows
from memfold.store import tools as tool_rows

router = APIRouter(prefix="/v1/agents", tags=["agents"])


class ToolApprovalUpdate(RequestModel):
    requires_approval: bool | None = None


@router.patch("/{agent_id}/tools/approval/{tool_name}", response_model=AgentState)
def update_tool_approval(
    agent_id: str,
    tool_name: str,
    ctx: Context,
    org: OrgId,
    body: Annotated[ToolApprovalUpdate | None, Body()] = None,
    requires_approval: Annotated[bool | None, Query(deprecated=True)] = None,
) -> AgentState:
    """Whether calls of the agent's tool `tool_name` wait for a person's approval: adds or removes a
    `requires_approval` rule. `requires_approval` goes in the body (the query parameter is Letta's
    deprecated form)."""
    required = body.requires_approval if body is not None and body.requires_approval is not None else None
    required = requires_approval if required is None else required
    with ctx.db.write() as conn:
        record = agent_rows.get_agent(conn, org, agent_id)
        if required is None:
            raise InvalidValueError("send requires_approval (true or false) in the request body")
        attached = {t.name for t in tool_rows.tools_of_agents(conn, [agent_id])[agent_id]}
        if tool_name not in attached:
            raise NotFoundError(f"agent {agent_id!r} has no tool named {tool_name!r}")
        rules = load_rules(record.tool_rules)
        updated = with_requires_approval(rules, tool_name, required)
        if updated != rules:
            agent_rows.update_agent(conn, agent_id, {"tool_rules": dump_rules(updated)})
        return lifecycle.agent_state(conn, org, agent_id)
