"""Blocks and their attachment to agents (one block can serve many agents).

A block's `version` counts its content: it is bumped, and a row appended to `block_history`,
whenever its label, value, limit or description changes; the row holds that version's content.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, delete, func, insert, select, text, update

from memfold.errors import ConflictError, InvalidValueError, NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.blocks import Block, BlockVersion
from memfold.store import tables as t
from memfold.store.paging import Order, paginate

_COLUMNS = tuple(c for c in t.blocks.c if c.name not in ("organization_id", "version"))
_INSERT_HISTORY = insert(t.block_history)
VERSIONED = ("label", "value", "limit", "description")
"""The fields whose change makes a new version of a block (and a history row)."""


def _block(row: RowMapping) -> Block:
    return Block.model_validate(dict(row))


def insert_block(conn: Connection, org_id: str, block_id: str, values: dict[str, Any]) -> Block:
    now = utcnow()
    row = {"id": block_id, "organization_id": org_id, "version": 1, "created_at": now, "updated_at": now}
    row.update(values)
    conn.execute(insert(t.blocks).values(**row))
    _record(conn, org_id, block_id, 1, row, actor_type="user", actor_id=None)
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


def update_block(
    conn: Connection,
    org_id: str,
    block_id: str,
    values: dict[str, Any],
    *,
    actor_type: str = "user",
    actor_id: str | None = None,
    new_version: bool = False,
) -> Block:
    """Apply `values` to the block, read under a row lock (`FOR UPDATE` on PostgreSQL; SQLite's
    single writer serializes). A change of a versioned field (or `new_version`) bumps `version`
    and records the new version in the history, with its actor. A value over the limit is a 422."""
    current = (
        conn.execute(
            select(t.blocks)
            .where(t.blocks.c.id == block_id, t.blocks.c.organization_id == org_id)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if current is None:
        raise NotFoundError.for_id("block", block_id)
    merged = {**dict(current), **values}
    if len(merged["value"]) > merged["limit"]:
        raise InvalidValueError(
            f"value has {len(merged['value'])} characters, more than the block's limit of {merged['limit']}"
        )
    changed = new_version or any(merged[k] != current[k] for k in VERSIONED)
    if values or changed:
        version = current["version"] + 1 if changed else current["version"]
        conn.execute(
            update(t.blocks)
            .where(t.blocks.c.id == block_id)
            .values(**values, version=version, updated_at=utcnow())
        )
        if changed:
            _record(conn, org_id, block_id, version, merged, actor_type=actor_type, actor_id=actor_id)
    return get_block(conn, org_id, block_id)


_SAVE_VALUE = (
    update(t.blocks)
    .where(t.blocks.c.id == bindparam("block_id"))
    .values(value=bindparam("new_value"), version=bindparam("new_version"), updated_at=bindparam("now"))
)


def save_value(
    conn: Connection, org_id: str, block: Block, version: int, *, actor_type: str, actor_id: str | None
) -> None:
    """Write `block.value` as `version` of a block the caller read under lock (`block_for_update`)
    and knows to be at `version - 1`; records the version in the history. (Prebuilt statements: this
    runs on every step that edits memory.)"""
    now = utcnow()
    conn.execute(
        _SAVE_VALUE, {"block_id": block.id, "new_value": block.value, "new_version": version, "now": now}
    )
    _record(conn, org_id, block.id, version, block.model_dump(), actor_type=actor_type, actor_id=actor_id)


def _record(
    conn: Connection,
    org_id: str,
    block_id: str,
    version: int,
    row: dict[str, Any],
    *,
    actor_type: str,
    actor_id: str | None,
) -> None:
    conn.execute(
        _INSERT_HISTORY,
        {
            "id": f"blockversion-{uuid.uuid4()}",
            "organization_id": org_id,
            "block_id": block_id,
            "version": version,
            "label": row["label"],
            "value": row["value"],
            "limit": row["limit"],
            "description": row.get("description"),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "created_at": utcnow(),
        },
    )


def list_history(
    conn: Connection,
    org_id: str,
    block_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "desc",
) -> list[BlockVersion]:
    """The block's saved versions, newest first by default; `before`/`after` are version ids."""
    get_block(conn, org_id, block_id)
    h = t.block_history
    query = select(*(c for c in h.c if c.name != "organization_id")).where(h.c.block_id == block_id)
    query = paginate(conn, query, h, h.c.version, before=before, after=after, limit=limit, order=order)
    return [BlockVersion.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def rollback_block(conn: Connection, org_id: str, block_id: str, version: int) -> Block:
    """Restore the value, limit and description the block had at `version`, as a new version."""
    get_block(conn, org_id, block_id)
    h = t.block_history
    row = conn.execute(select(h).where(h.c.block_id == block_id, h.c.version == version)).mappings().first()
    if row is None:
        raise InvalidValueError(f"block {block_id!r} has no saved version {version}")
    values = {"value": row["value"], "limit": row["limit"], "description": row["description"]}
    return update_block(conn, org_id, block_id, values, actor_type="user", new_version=True)


_FOR_UPDATE = (
    select(*_COLUMNS, t.blocks.c.version)
    .where(t.blocks.c.id == bindparam("block_id"), t.blocks.c.organization_id == bindparam("org_id"))
    .with_for_update()
)


def block_for_update(conn: Connection, org_id: str, block_id: str) -> tuple[Block, int]:
    """The block and its version, the row locked until the transaction ends (PostgreSQL)."""
    row = conn.execute(_FOR_UPDATE, {"block_id": block_id, "org_id": org_id}).mappings().first()
    if row is None:
        raise NotFoundError.for_id("block", block_id)
    values = dict(row)
    version = values.pop("version")
    return Block.model_validate(values), version


_VERSIONS_OF_AGENT = text(
    "SELECT blocks.id, blocks.version FROM agent_blocks JOIN blocks ON blocks.id = agent_blocks.block_id "
    "WHERE agent_blocks.agent_id = :agent_id ORDER BY agent_blocks.position"
)


def versions_of_agent(conn: Connection, agent_id: str) -> dict[str, int]:
    """`{block id: version}` of the agent's blocks, in attachment order: the cheap check, run on every
    step, for whether another writer changed them (plain SQL: it skips the statement-building cost)."""
    return {row[0]: row[1] for row in conn.execute(_VERSIONS_OF_AGENT, {"agent_id": agent_id})}


def versioned_blocks_of_agent(conn: Connection, agent_id: str) -> list[tuple[Block, int]]:
    """The agent's blocks with their versions, in attachment order (one query)."""
    query = (
        select(*_COLUMNS, t.blocks.c.version)
        .join(t.agent_blocks, t.agent_blocks.c.block_id == t.blocks.c.id)
        .where(t.agent_blocks.c.agent_id == agent_id)
        .order_by(t.agent_blocks.c.position)
    )
    result = []
    for row in conn.execute(query).mappings():
        values = dict(row)
        version = values.pop("version")
        result.append((Block.model_validate(values), version))
    return result


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
