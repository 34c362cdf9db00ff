"""`message_search`: the searchable form of every message (its text and embedding).

Rows are derived from `messages` (one per message, same `seq`) and filled in lazily by
memfold.memory.recall when an agent's history is searched; deleting a message deletes its
row (foreign key cascade), and the full-text index follows by trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from memfold.store import tables as t
from memfold.store.fulltext import FullText
from memfold.store.passages import as_utc
from memfold.store.pg_vectors import ensure_index


@dataclass(slots=True)
class StoredMessage:
    """What indexing needs of a message."""

    seq: int
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    created_at: datetime


@dataclass(slots=True)
class RecallEntry:
    seq: int
    message_id: str
    role: str
    text: str
    created_at: datetime


@dataclass(slots=True)
class RecallFilter:
    agent_id: str
    roles: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def narrows(self) -> bool:
        return bool(self.roles) or self.start is not None or self.end is not None

    def conditions(self) -> list[ColumnElement[bool]]:
        s = t.message_search.c
        where: list[ColumnElement[bool]] = [s.agent_id == self.agent_id, s.text != ""]
        if self.roles:
            where.append(s.role.in_(self.roles))
        if self.start is not None:
            where.append(s.created_at >= as_utc(self.start))
        if self.end is not None:
            where.append(s.created_at <= as_utc(self.end))
        return where


def unindexed_messages(conn: Connection, agent_id: str, limit: int) -> list[StoredMessage]:
    """The agent's oldest messages that have no `message_search` row yet.

    SQLite has one writer, so `seq`s commit in order and the rows after the newest indexed one
    are the new ones (one index probe). On PostgreSQL transactions of several processes commit
    their `seq`s in any order, so the query looks for every message without a row (an anti-join
    of two index-only scans of the agent's rows)."""
    s, m = t.message_search.c, t.messages.c
    if conn.dialect.name == "postgresql":
        missing = ~select(s.seq).where(s.seq == m.seq).exists()
    else:
        indexed = select(func.coalesce(func.max(s.seq), 0)).where(s.agent_id == agent_id).scalar_subquery()
        missing = m.seq > indexed
    query = (
        select(m.seq, m.role, m.content, m.tool_calls, m.created_at)
        .where(m.agent_id == agent_id, missing)
        .order_by(m.seq)
        .limit(limit)
    )
    return [
        StoredMessage(int(seq), role, content, tool_calls, as_utc(created))
        for seq, role, content, tool_calls, created in conn.execute(query)
    ]


def insert_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert `message_search` rows; rows another process inserted first are left as they are."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ensure_index(conn, "message_search", (row["embedding_dim"] for row in rows if row.get("embedding")))
    conn.execute(dialect.insert(t.message_search).on_conflict_do_nothing(), rows)


def stale_entries(conn: Connection, agent_id: str, handle: str, limit: int) -> list[tuple[int, str]]:
    """`(seq, text)` of rows with text whose embedding was not made by `handle` (the agent switched)."""
    s = t.message_search.c
    query = (
        select(s.seq, s.text)
        .where(s.agent_id == agent_id, s.text != "")
        .where((s.embedding_handle != handle) | s.embedding_handle.is_(None))
        .order_by(s.seq)
        .limit(limit)
    )
    return [(int(seq), text) for seq, text in conn.execute(query)]


def set_embeddings(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of `seq`, `embedding`, `embedding_handle`, `embedding_dim`."""
    s = t.message_search
    ensure_index(conn, "message_search", (row["embedding_dim"] for row in rows))
    for row in rows:
        conn.execute(
            update(s)
            .where(s.c.seq == row["seq"])
            .values(
                embedding=row["embedding"],
                embedding_handle=row["embedding_handle"],
                embedding_dim=row["embedding_dim"],
            )
        )


def vectors_after(
    conn: Connection, agent_id: str, handle: str, after_seq: int, limit: int
) -> list[tuple[int, bytes]]:
    s = t.message_search.c
    query = (
        select(s.seq, s.embedding)
        .where(s.agent_id == agent_id, s.seq > after_seq, s.embedding_handle == handle)
        .where(s.embedding.is_not(None))
        .order_by(s.seq)
        .limit(limit)
    )
    return [(int(seq), bytes(blob)) for seq, blob in conn.execute(query)]


def count_vectors(conn: Connection, agent_id: str, handle: str, up_to_seq: int) -> int:
    s = t.message_search.c
    query = (
        select(func.count())
        .select_from(t.message_search)
        .where(s.agent_id == agent_id, s.embedding_handle == handle, s.seq <= up_to_seq)
        .where(s.embedding.is_not(None))
    )
    return int(conn.execute(query).scalar_one())


def filtered_seqs(
    conn: Connection, where: RecallFilter, *, among: list[int] | None = None, cap: int | None = None
) -> list[int]:
    query = select(t.message_search.c.seq).where(*where.conditions())
    if among is not None:
        if not among:
            return []
        query = query.where(t.message_search.c.seq.in_(among))
    if cap is not None:
        query = query.limit(cap)
    return [int(seq) for seq in conn.execute(query).scalars().all()]


def count_filtered(conn: Connection, where: RecallFilter) -> int:
    query = select(func.count()).select_from(t.message_search).where(*where.conditions())
    return int(conn.execute(query).scalar_one())


def text_ranked(
    conn: Connection, full_text: FullText, terms: list[str], where: RecallFilter, limit: int
) -> list[int]:
    if not terms:
        return []
    return [
        int(seq) for seq in conn.execute(full_text.messages(terms, where.conditions(), limit)).scalars().all()
    ]


def most_recent(conn: Connection, where: RecallFilter, limit: int) -> list[int]:
    s = t.message_search.c
    query = select(s.seq).where(*where.conditions()).order_by(s.seq.desc()).limit(limit)
    return [int(seq) for seq in conn.execute(query).scalars().all()]


def entries_by_seq(conn: Connection, seqs: list[int]) -> dict[int, RecallEntry]:
    if not seqs:
        return {}
    s, m = t.message_search.c, t.messages.c
    query = (
        select(s.seq, m.id, s.role, s.text, s.created_at)
        .join(t.messages, t.messages.c.seq == s.seq)
        .where(s.seq.in_(seqs))
    )
    return {
        int(seq): RecallEntry(int(seq), message_id, role, text, as_utc(created))
        for seq, message_id, role, text, created in conn.execute(query)
    }
