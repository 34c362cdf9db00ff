"""Blocks and their attachment to agents (one block can serve many agents)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update

from memfold.errors import ConflictError, NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.blocks import Block
from memfold.store import tables as t
from memfold.store.paging import Order, paginate

_COLUMNS = tuple(c for c in t.blocks.c if c.name not in ("organization_id", "version"))


def _block(row: RowMapping) -> Block:
    return Block.model_validate(dict(row))


def insert_block(conn: Connection, org_id: str, block_id: str, values: dict[str, Any]) -> Block:
    now = utcnow()
    row = {"id": block_id, "organization_id": org_id, "version": 1, "created_at": now, "updated_at": now}
    row.update(values)
    conn.execute(insert(t.blocks).values(**row))
    return get_block(conn, org_id, block_id)


def get_block(conn: Connection, org_id: str, block_id: str) -> Block:
    row = (
        conn.execute(select(*_COLUMNS).where(t.blocks.c.id == block_id, t.blocks.c.organization_id == org_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("block", block_id)
    return _block(row)


def list_blocks(
    conn: Connection,
    org_id: str,
    *,
    label: str | None = None,
    templates_only: bool = False,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "asc",
) -> list[Block]:
    query = select(*_COLUMNS).where(t.blocks.c.organization_id == org_id)
    if label is not None:
        query = query.where(t.blocks.c.label == label)
    if templates_only:
        query = query.where(t.blocks.c.is_template.is_(True))
    query = paginate(
        conn, query, t.blocks, t.blocks.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_block(r) for r in conn.execute(query).mappings()]


def update_block(conn: Connection, org_id: str, block_id: str, values: dict[str, Any]) -> Block:
    """Apply `values`; bumps `version`. The caller checks limits before calling."""
    if values:
        result = conn.execute(
            update(t.blocks)
            .where(t.blocks.c.id == block_id, t.blocks.c.organization_id == org_id)
            .values(**values, version=t.blocks.c.version + 1, updated_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFoundError.for_id("block", block_id)
    return get_block(conn, org_id, block_id)


def delete_block(conn: Connection, org_id: str, block_id: str) -> None:
    result = conn.execute(
        delete(t.blocks).where(t.blocks.c.id == block_id, t.blocks.c.organization_id == org_id)
    )
    if result.rowcount == 0:
        raise NotFoundError.for_id("block", block_id)


def blocks_of_agents(conn: Connection, agent_ids: list[str]) -> dict[str, list[Block]]:
    """Each agent's blocks, in attachment order."""
    query = (
        select(t.agent_blocks.c.agent_id, *_COLUMNS)
        .join(t.blocks, t.blocks.c.id == t.agent_blocks.c.block_id)
        .where(t.agent_blocks.c.agent_id.in_(agent_ids))
        .order_by(t.agent_blocks.c.agent_id, t.agent_blocks.c.position)
    )
    result: dict[str, list[Block]] = {agent_id: [] for agent_id in agent_ids}
    for row in conn.execute(query).mappings():
        values = dict(row)
        result[values.pop("agent_id")].append(Block.model_validate(values))
    return result


def attach_block(conn: Connection, agent_id: str, block: Block) -> None:
    """Attach `block`; an agent cannot hold two blocks with the same label."""
    current = blocks_of_agents(conn, [agent_id])[agent_id]
    if any(b.id == block.id for b in current):
        return
    if any(b.label == block.label for b in current):
        raise ConflictError(f"agent {agent_id!r} already has a block labelled {block.label!r}")
    position = conn.execute(
        select(func.coalesce(func.max(t.agent_blocks.c.position), -1) + 1).where(
            t.agent_blocks.c.agent_id == agent_id
        )
    ).scalar_one()
    conn.execute(insert(t.agent_blocks).values(agent_id=agent_id, block_id=block.id, position=position))


def detach_block(conn: Connection, agent_id: str, block_id: str) -> None:
    result = conn.execute(
        delete(t.agent_blocks).where(
            t.agent_blocks.c.agent_id == agent_id, t.agent_blocks.c.block_id == block_id
        )
    )
    if result.rowcount == 0:
        raise NotFoundError(f"block {block_id!r} is not attached to agent {agent_id!r}")
