"""/v1/blocks (standalone blocks) and /v1/agents/{id}/core-memory/blocks (an agent's blocks, by label)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Connection

from memfold.agent import lifecycle
from memfold.errors import NotFoundError
from memfold.ids import new_id
from memfold.schemas.agents import AgentState
from memfold.schemas.blocks import Block, BlockVersion, CreateBlock, RollbackBlock, UpdateBlock
from memfold.server.deps import Context, OrgId
from memfold.store import agents as agent_rows
from memfold.store import blocks as block_rows
from memfold.store.paging import Order

router = APIRouter(tags=["blocks"])


def _apply_update(conn: Connection, org: str, block: Block, body: UpdateBlock) -> Block:
    values = body.model_dump(exclude_unset=True)
    for key in ("label", "value", "limit", "read_only", "is_template"):
        if key in values and values[key] is None:
            del values[key]
    return block_rows.update_block(conn, org, block.id, values)  # checks the value fits the limit


@router.post("/v1/blocks/", response_model=Block)
def create_block(body: CreateBlock, ctx: Context, org: OrgId) -> Block:
    with ctx.db.write() as conn:
        return block_rows.insert_block(conn, org, new_id("block"), body.model_dump())


@router.get("/v1/blocks/", response_model=list[Block])
def list_blocks(
    ctx: Context,
    org: OrgId,
    label: str | None = None,
    templates_only: bool = False,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "asc",
) -> list[Block]:
    with ctx.db.read() as conn:
        return block_rows.list_blocks(
            conn,
            org,
            label=label,
            templates_only=templates_only,
            before=before,
            after=after,
            limit=limit,
            order=order,
        )


@router.get("/v1/blocks/{block_id}", response_model=Block)
def retrieve_block(block_id: str, ctx: Context, org: OrgId) -> Block:
    with ctx.db.read() as conn:
        return block_rows.get_block(conn, org, block_id)


@router.patch("/v1/blocks/{block_id}", response_model=Block)
def modify_block(block_id: str, body: UpdateBlock, ctx: Context, org: OrgId) -> Block:
    with ctx.db.write() as conn:
        return _apply_update(conn, org, block_rows.get_block(conn, org, block_id), body)


@router.get("/v1/blocks/{block_id}/history", response_model=list[BlockVersion])
def list_block_history(
    block_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
) -> list[BlockVersion]:
    """The block's saved versions, newest first: each with its value, limit, description and actor."""
    with ctx.db.read() as conn:
        return block_rows.list_history(
            conn, org, block_id, before=before, after=after, limit=limit, order=order
        )


@router.post("/v1/blocks/{block_id}/rollback", response_model=Block)
def rollback_block(block_id: str, body: RollbackBlock, ctx: Context, org: OrgId) -> Block:
    """Restore the value, limit and description of a saved version; the restore is a new version."""
    with ctx.db.write() as conn:
        return block_rows.rollback_block(conn, org, block_id, body.version)


@router.delete("/v1/blocks/{block_id}")
def delete_block(block_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        block_rows.delete_block(conn, org, block_id)
    return {"id": block_id, "deleted": True}


# --- an agent's core memory -------------------------------------------------------------


def _agent_block(conn: Connection, org: str, agent_id: str, label: str) -> Block:
    agent_rows.get_agent(conn, org, agent_id)
    for block in block_rows.blocks_of_agents(conn, [agent_id])[agent_id]:
        if block.label == label:
            return block
    raise NotFoundError(f"agent {agent_id!r} has no block labelled {label!r}")


@router.get("/v1/agents/{agent_id}/core-memory/blocks", response_model=list[Block])
def list_agent_blocks(agent_id: str, ctx: Context, org: OrgId) -> list[Block]:
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        return block_rows.blocks_of_agents(conn, [agent_id])[agent_id]


@router.get("/v1/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=Block)
def retrieve_agent_block(agent_id: str, block_label: str, ctx: Context, org: OrgId) -> Block:
    with ctx.db.read() as conn:
        return _agent_block(conn, org, agent_id, block_label)


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=Block)
def modify_agent_block(agent_id: str, block_label: str, body: UpdateBlock, ctx: Context, org: OrgId) -> Block:
    with ctx.db.write() as conn:
        return _apply_update(conn, org, _agent_block(conn, org, agent_id, block_label), body)


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}", response_model=AgentState)
def attach_block(agent_id: str, block_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        block_rows.attach_block(conn, agent_id, block_rows.get_block(conn, org, block_id))
        return lifecycle.agent_state(conn, org, agent_id)


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}", response_model=AgentState)
def detach_block(agent_id: str, block_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        block_rows.get_block(conn, org, block_id)
        block_rows.detach_block(conn, agent_id, block_id)
        return lifecycle.agent_state(conn, org, agent_id)
