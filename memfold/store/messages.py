"""Messages: every message an agent ever exchanged. Which are in context is the agent's `message_ids`."""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, delete, func, insert, select

from memfold.schemas.messages import Message
from memfold.store import tables as t
from memfold.store.paging import Order, paginate

_COLUMNS = tuple(c for c in t.messages.c if c.name != "organization_id")


def _message(row: RowMapping) -> Message:
    return Message.model_validate(dict(row))


def insert_messages(conn: Connection, org_id: str, messages: list[Message]) -> None:
    if not messages:
        return
    rows = []
    for m in messages:
        row = m.model_dump(exclude={"seq"})
        row["organization_id"] = org_id
        rows.append(row)
    conn.execute(insert(t.messages), rows)


def get_messages(conn: Connection, ids: list[str]) -> list[Message]:
    """The messages with these ids, in the order given (missing ids are skipped)."""
    if not ids:
        return []
    rows = conn.execute(select(*_COLUMNS).where(t.messages.c.id.in_(ids))).mappings()
    by_id = {row["id"]: _message(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def count_messages(conn: Connection, agent_id: str, *, older_than: str | None = None) -> int:
    """How many messages the agent has (only those stored before message `older_than`, when not None)."""
    query = select(func.count()).select_from(t.messages).where(t.messages.c.agent_id == agent_id)
    if older_than is not None:
        seq = select(t.messages.c.seq).where(t.messages.c.id == older_than).scalar_subquery()
        query = query.where(t.messages.c.seq < seq)
    return int(conn.execute(query).scalar_one())


def list_messages(
    conn: Connection,
    agent_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 100,
    order: Order = "desc",
    run_id: str | None = None,
) -> list[Message]:
    query = select(*_COLUMNS).where(t.messages.c.agent_id == agent_id)
    if run_id is not None:
        query = query.where(t.messages.c.run_id == run_id)
    query = paginate(
        conn, query, t.messages, t.messages.c.seq, before=before, after=after, limit=limit, order=order
    )
    return [_message(r) for r in conn.execute(query).mappings()]


def delete_messages_of_agent(conn: Connection, agent_id: str, keep: list[str]) -> None:
    conn.execute(delete(t.messages).where(t.messages.c.agent_id == agent_id, t.messages.c.id.not_in(keep)))
