"""Passages of archival memory: rows, tags, stored embeddings, and the filtered queries search needs.

A passage's embedding is stored as little-endian float32 bytes with the handle of the model
that made it (`embedding_handle`) and its size. Tags are kept twice: as JSON on the row (to
show them) and in `passage_tags` (to filter with SQL, before any limit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, delete, func, insert, select

from memfold.errors import NotFoundError
from memfold.store import tables as t
from memfold.store.fulltext import FullText
from memfold.store.paging import Order, paginate
from memfold.store.pg_vectors import ensure_index

_COLUMNS = tuple(c for c in t.passages.c if c.name not in ("organization_id", "embedding"))


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is taken to be UTC already (how SQLite stores them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(slots=True)
class PassageRecord:
    seq: int
    id: str
    archive_id: str
    text: str
    tags: list[str]
    metadata: dict[str, Any] | None
    embedding_handle: str | None
    embedding_dim: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class NewPassage:
    id: str
    text: str
    created_at: datetime
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    embedding: bytes | None = None
    embedding_handle: str | None = None
    embedding_dim: int | None = None


@dataclass(slots=True)
class PassageFilter:
    """Which passages a search may return. Applied in SQL before any ranking limit."""

    archive_ids: list[str]
    tags: list[str] | None = None
    match_all_tags: bool = False
    start: datetime | None = None
    end: datetime | None = None

    @property
    def narrows(self) -> bool:
        """Whether anything beyond the archives restricts the result (tags or dates)."""
        return bool(self.tags) or self.start is not None or self.end is not None

    def conditions(self) -> list[ColumnElement[bool]]:
        p = t.passages.c
        where: list[ColumnElement[bool]] = [p.archive_id.in_(self.archive_ids)]
        if self.start is not None:
            where.append(p.created_at >= as_utc(self.start))
        if self.end is not None:
            where.append(p.created_at <= as_utc(self.end))
        tagged = self.tagged()
        if tagged is not None:
            where.append(p.seq.in_(tagged))
        return where

    def tagged(self) -> Select[tuple[int]] | None:
        """The seqs carrying the tags (any or all of them), from the tag index alone; None: no tags."""
        tags = list(dict.fromkeys(self.tags or []))
        if not tags:
            return None
        pt = t.passage_tags.c
        tagged = select(pt.passage_seq).where(pt.archive_id.in_(self.archive_ids), pt.tag.in_(tags))
        if self.match_all_tags and len(tags) > 1:
            tagged = tagged.group_by(pt.passage_seq).having(func.count() == len(tags))
        elif len(tags) > 1:
            tagged = tagged.distinct()
        return tagged


def clean_tags(tags: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags or () if tag.strip()))


def _record(row: RowMapping) -> PassageRecord:
    values = dict(row)
    values["tags"] = values.get("tags") or []
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return PassageRecord(**values)


def insert_passages(conn: Connection, org_id: str, archive_id: str, passages: list[NewPassage]) -> list[int]:
    """Insert `passages` into `archive_id`; their `seq`s, in order."""
    if not passages:
        return []
    rows = [
        {
            "id": p.id,
            "organization_id": org_id,
            "archive_id": archive_id,
            "text": p.text,
            "tags": p.tags or None,
            "metadata": p.metadata,
            "embedding": p.embedding,
            "embedding_handle": p.embedding_handle,
            "embedding_dim": p.embedding_dim,
            "created_at": as_utc(p.created_at),
            "updated_at": as_utc(p.created_at),
        }
        for p in passages
    ]
    ensure_index(conn, "passages", (p.embedding_dim for p in passages if p.embedding is not None))
    result = conn.execute(insert(t.passages).returning(t.passages.c.seq, sort_by_parameter_order=True), rows)
    seqs = [int(row[0]) for row in result]
    tag_rows = [
        {"passage_seq": seq, "tag": tag, "archive_id": archive_id}
        for seq, passage in zip(seqs, passages, strict=True)
        for tag in passage.tags
    ]
    if tag_rows:
        conn.execute(insert(t.passage_tags), tag_rows)
    return seqs


def get_passage(conn: Connection, archive_ids: list[str], passage_id: str) -> PassageRecord:
    row = (
        conn.execute(
            select(*_COLUMNS).where(t.passages.c.id == passage_id, t.passages.c.archive_id.in_(archive_ids))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("passage", passage_id)
    return _record(row)


def passages_by_seq(conn: Connection, seqs: list[int]) -> dict[int, PassageRecord]:
    if not seqs:
        return {}
    rows = conn.execute(select(*_COLUMNS).where(t.passages.c.seq.in_(seqs))).mappings()
    return {row["seq"]: _record(row) for row in rows}


def list_passages(
    conn: Connection,
    archive_ids: list[str],
    *,
    search: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 100,
    order: Order = "asc",
) -> list[PassageRecord]:
    query = select(*_COLUMNS).where(t.passages.c.archive_id.in_(archive_ids))
    if search:
        query = query.where(t.passages.c.text.icontains(search, autoescape=True))
    query = paginate(
        conn, query, t.passages, t.passages.c.seq, before=before, after=after, limit=limit, order=order
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def delete_passage(conn: Connection, archive_ids: list[str], passage_id: str) -> PassageRecord:
    record = get_passage(conn, archive_ids, passage_id)
    conn.execute(delete(t.passages).where(t.passages.c.seq == record.seq))
    return record


def count_passages(conn: Connection, archive_id: str) -> int:
    query = select(func.count()).select_from(t.passages).where(t.passages.c.archive_id == archive_id)
    return int(conn.execute(query).scalar_one())


# --- what search needs -------------------------------------------------------------------


def vectors_after(
    conn: Connection, archive_id: str, handle: str, after_seq: int, limit: int
) -> list[tuple[int, bytes]]:
    """`(seq, embedding)` of the archive's passages embedded by `handle` with seq > `after_seq`."""
    p = t.passages.c
    query = (
        select(p.seq, p.embedding)
        .where(p.archive_id == archive_id, p.seq > after_seq, p.embedding_handle == handle)
        .where(p.embedding.is_not(None))
        .order_by(p.seq)
        .limit(limit)
    )
    return [(int(seq), bytes(blob)) for seq, blob in conn.execute(query)]


def count_vectors(conn: Connection, archive_id: str, handle: str, up_to_seq: int) -> int:
    p = t.passages.c
    query = (
        select(func.count())
        .select_from(t.passages)
        .where(p.archive_id == archive_id, p.embedding_handle == handle, p.seq <= up_to_seq)
        .where(p.embedding.is_not(None))
    )
    return int(conn.execute(query).scalar_one())


def filtered_seqs(
    conn: Connection, where: PassageFilter, *, among: list[int] | None = None, cap: int | None = None
) -> list[int]:
    """Seqs of passages passing `where` (only those in `among`, when given); at most `cap`."""
    tagged = where.tagged()
    query: Select[Any]
    if tagged is not None and where.start is None and where.end is None and among is None:
        query = tagged  # tags alone: the tag index answers without touching passages
    else:
        query = select(t.passages.c.seq).where(*where.conditions())
    if among is not None:
        if not among:
            return []
        query = query.where(t.passages.c.seq.in_(among))
    if cap is not None:
        query = query.limit(cap)
    return [int(seq) for seq in conn.execute(query).scalars().all()]


def count_filtered(conn: Connection, where: PassageFilter) -> int:
    tagged = where.tagged()
    if tagged is not None and where.start is None and where.end is None:
        query = select(func.count()).select_from(tagged.subquery())
    else:
        query = select(func.count()).select_from(t.passages).where(*where.conditions())
    return int(conn.execute(query).scalar_one())


def text_ranked(
    conn: Connection, full_text: FullText, terms: list[str], where: PassageFilter, limit: int
) -> list[int]:
    """Seqs of the passages passing `where` that best match `terms` (BM25), best first."""
    if not terms or not where.archive_ids:
        return []
    query = full_text.passages(terms, where.conditions(), limit)
    return [int(seq) for seq in conn.execute(query).scalars().all()]


def most_recent(conn: Connection, where: PassageFilter, limit: int) -> list[int]:
    query = (
        select(t.passages.c.seq)
        .where(*where.conditions())
        .order_by(t.passages.c.created_at.desc(), t.passages.c.seq.desc())
        .limit(limit)
    )
    return [int(seq) for seq in conn.execute(query).scalars().all()]
