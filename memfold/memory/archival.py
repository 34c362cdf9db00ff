"""Archival memory: archives of passages with hybrid (full-text + vector) search.

`ArchivalStore` is the server-wide service (database, embedders, vector indexes);
`ArchivalMemory` is one agent's view of it, what the `archival_memory_*` tools use.

An agent gets its own archive the first time it writes one (named after the agent, with the
agent's embedding); more archives can be attached. It writes into the first attached archive
and searches all of them. Each archive embeds with its own `embedding_config`, fixed at
creation, so the vectors of one archive are always comparable.

Search: the query's words are ranked by BM25 over the passages' text, the query's embedding
by cosine similarity over the passages' embeddings, and the two rankings are fused with
reciprocal-rank fusion (memfold.memory.search). Tag and date filters are applied in SQL on
both sides before any limit, so a selective filter still yields `top_k` matches.

Vectors are searched in process (memfold.memory.vectors, caught up with the database by `seq`)
on SQLite, and in SQL with pgvector on PostgreSQL (memfold.store.pg_vectors), where several
processes write and no in-process cache could follow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from memfold.errors import ProviderError
from memfold.ids import new_id
from memfold.llm.providers import ModelRegistry
from memfold.memory.embedding import embedding_config_for, embedding_handle
from memfold.memory.search import query_terms, reciprocal_rank_fusion, vector_weight
from memfold.memory.vectors import VectorCollections, to_bytes
from memfold.schemas.base import utcnow
from memfold.store import archives as archive_rows
from memfold.store import passages as passage_rows
from memfold.store import pg_vectors
from memfold.store import tables as t
from memfold.store.agents import AgentRecord
from memfold.store.archives import ArchiveRecord
from memfold.store.engine import Database
from memfold.store.fulltext import FullText, full_text
from memfold.store.passages import NewPassage, PassageFilter, PassageRecord

__all__ = ["ArchivalMemory", "ArchivalStore", "PassageHit", "PassageInput", "split_text"]

log = logging.getLogger(__name__)

EXACT_LIMIT = 4096
"""A filter that leaves at most this many passages is searched exactly over just those."""
MAX_PASSAGE_CHARS = 6000
"""Longer texts are stored as several passages (split at paragraph, then line, then word breaks)."""
_VERIFY_CHUNK = 10_000

StepWrite = Callable[[Connection], None]


@dataclass(slots=True)
class PassageInput:
    text: str
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None


@dataclass(slots=True)
class PassageHit:
    passage: PassageRecord
    score: float


def split_text(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at the largest break that fits."""
    text = text.strip()
    if len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", ". ", " "):
        parts = text.split(separator)
        if len(parts) > 1 and all(len(p) <= limit for p in parts):
            chunks: list[str] = []
            current = ""
            for part in parts:
                candidate = f"{current}{separator}{part}" if current else part
                if len(candidate) <= limit:
                    current = candidate
                else:
                    chunks.append(current)
                    current = part
            chunks.append(current)
            return [c.strip() for c in chunks if c.strip()]
    return [text[i : i + limit] for i in range(0, len(text), limit)]


class ArchivalStore:
    """Archives, passages and their search, for the whole server."""

    def __init__(self, db: Database, models: ModelRegistry, vectors: VectorCollections) -> None:
        self.db = db
        self.models = models
        self.vectors = vectors
        self._full_text: FullText | None = None

    @property
    def full_text(self) -> FullText:
        if self._full_text is None:
            self._full_text = full_text(self.db.engine.dialect.name)
        return self._full_text

    # -- archives -------------------------------------------------------------------------

    def ensure_agent_archive(self, conn: Connection, org_id: str, agent: AgentRecord) -> ArchiveRecord:
        """The archive the agent writes to, created (with the agent's embedding) on first use."""
        archives = archive_rows.archives_of_agent(conn, agent.id)
        if archives:
            return archives[0]
        archive = archive_rows.insert_archive(
            conn,
            org_id,
            new_id("archive"),
            {
                "name": f"{agent.name}'s archive",
                "description": f"Archival memory of agent {agent.id}",
                "embedding_config": agent.embedding_config or embedding_config_for(None),
            },
        )
        archive_rows.attach_archive(conn, agent.id, archive.id)
        return archive

    def forget_archive(self, archive_id: str) -> None:
        """Drop the vector indexes of a deleted archive."""
        self.vectors.forget(f"archive-{archive_id}-")

    # -- writing --------------------------------------------------------------------------

    async def prepare(
        self, handle: str, items: list[PassageInput], *, split: bool = True
    ) -> list[NewPassage]:
        """Passages ready to insert, embedded with `handle`; long texts split unless `split` is False."""
        pieces = [
            (item, text) for item in items for text in (split_text(item.text) if split else [item.text])
        ]
        pieces = [(item, text) for item, text in pieces if text.strip()]
        vectors = await self.models.embedder(handle).embed([text for _, text in pieces])
        now = utcnow()
        return [
            NewPassage(
                id=new_id("passage"),
                text=text,
                created_at=item.created_at or now,
                tags=passage_rows.clean_tags(item.tags),
                metadata=item.metadata,
                embedding=to_bytes(vector),
                embedding_handle=handle,
                embedding_dim=len(vector),
            )
            for (item, text), vector in zip(pieces, vectors, strict=True)
        ]

    async def add(
        self, org_id: str, archive: ArchiveRecord, items: list[PassageInput], *, split: bool = True
    ) -> list[PassageRecord]:
        """Embed and insert passages into `archive`, committed at once."""
        passages = await self.prepare(embedding_handle(archive.embedding_config), items, split=split)

        def write() -> list[PassageRecord]:
            with self.db.write() as conn:
                seqs = passage_rows.insert_passages(conn, org_id, archive.id, passages)
                found = passage_rows.passages_by_seq(conn, seqs)
            return [found[seq] for seq in seqs]

        return await asyncio.to_thread(write)

    def forget_passage(self, record: PassageRecord) -> None:
        """Drop a deleted passage's vector (call it once the deletion committed)."""
        if record.embedding_handle:
            name = VectorCollections.name("archive", record.archive_id, record.embedding_handle)
            self.vectors.remove(name, [record.seq])

    # -- search ---------------------------------------------------------------------------

    async def search(
        self,
        archives: list[ArchiveRecord],
        query: str,
        *,
        top_k: int,
        tags: list[str] | None = None,
        match_all_tags: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[PassageHit]:
        """The `top_k` passages of `archives` that best match `query` (hybrid), filters applied first."""
        if not archives or top_k <= 0:
            return []
        where = PassageFilter(
            [a.id for a in archives], passage_rows.clean_tags(tags), match_all_tags, start, end
        )
        terms = query_terms(query)
        if not query.strip():
            return await asyncio.to_thread(self._recent, where, top_k)
        by_handle: dict[str, list[str]] = {}
        for archive in archives:
            by_handle.setdefault(embedding_handle(archive.embedding_config), []).append(archive.id)
        queries: dict[str, list[float]] = {}
        for handle in by_handle:
            try:
                queries[handle] = (await self.models.embedder(handle).embed([query]))[0]
            except ProviderError as e:  # the words still search: degrade to full text
                log.warning("cannot embed an archival query with %s (%s); using full text only", handle, e)
        depth = max(3 * top_k, 30)
        return await asyncio.to_thread(self._search, where, terms, by_handle, queries, depth, top_k)

    def _recent(self, where: PassageFilter, top_k: int) -> list[PassageHit]:
        with self.db.read() as conn:
            seqs = passage_rows.most_recent(conn, where, top_k)
            found = passage_rows.passages_by_seq(conn, seqs)
        return [PassageHit(found[s], 0.0) for s in seqs if s in found]

    def _search(
        self,
        where: PassageFilter,
        terms: list[str],
        by_handle: dict[str, list[str]],
        queries: dict[str, list[float]],
        depth: int,
        top_k: int,
    ) -> list[PassageHit]:
        with self.db.read() as conn:
            rankings = [passage_rows.text_ranked(conn, self.full_text, terms, where, depth)]
            weights = [1.0]
            for handle, query in queries.items():
                hits: list[tuple[int, float]] = []
                if self.db.is_postgres:  # in SQL, over all archives of the handle at once
                    some = PassageFilter(
                        by_handle[handle], where.tags, where.match_all_tags, where.start, where.end
                    )
                    conditions = [*some.conditions(), t.passages.c.embedding_handle == handle]
                    hits = pg_vectors.nearest(conn, t.passages, conditions, query, depth)
                else:
                    for archive_id in by_handle[handle]:
                        one = PassageFilter(
                            [archive_id], where.tags, where.match_all_tags, where.start, where.end
                        )
                        hits.extend(self._nearest(conn, one, handle, query, depth))
                hits.sort(key=lambda hit: (-hit[1], -hit[0]))
                rankings.append([seq for seq, _ in hits[:depth]])
                weights.append(vector_weight(handle))
            fused = reciprocal_rank_fusion(rankings, weights)[:top_k]
            found = passage_rows.passages_by_seq(conn, [seq for seq, _ in fused])
        return [PassageHit(found[seq], score) for seq, score in fused if seq in found]

    def _nearest(
        self, conn: Connection, where: PassageFilter, handle: str, query: list[float], depth: int
    ) -> list[tuple[int, float]]:
        """Nearest passages of one archive (`where.archive_ids[0]`) that pass `where`, best first."""
        archive_id = where.archive_ids[0]
        collection = self.vectors.synced(
            VectorCollections.name("archive", archive_id, handle),
            lambda after, limit: passage_rows.vectors_after(conn, archive_id, handle, after, limit),
            lambda up_to: passage_rows.count_vectors(conn, archive_id, handle, up_to),
        )
        return nearest(
            collection.index,
            query,
            depth,
            narrows=where.narrows,
            candidates=lambda cap: passage_rows.filtered_seqs(conn, where, cap=cap),
            count=lambda: passage_rows.count_filtered(conn, where),
            verify=lambda seqs: verified_in_chunks(
                seqs, lambda chunk: passage_rows.filtered_seqs(conn, where, among=chunk)
            ),
        )


def verified_in_chunks(seqs: list[int], check: Callable[[list[int]], list[int]]) -> set[int]:
    passed: set[int] = set()
    for i in range(0, len(seqs), _VERIFY_CHUNK):
        passed.update(check(seqs[i : i + _VERIFY_CHUNK]))
    return passed


def nearest(
    index: Any,
    query: list[float],
    depth: int,
    *,
    narrows: bool,
    candidates: Callable[[int], list[int]],
    count: Callable[[], int],
    verify: Callable[[list[int]], set[int]],
) -> list[tuple[int, float]]:
    """Top `depth` of a vector index among the rows that pass a SQL filter.

    A selective filter (at most `EXACT_LIMIT` rows and at most half the index, counted in SQL
    first) is searched exactly over those rows; otherwise
    the index is searched deep enough for `depth` hits to pass the filter at its selectivity,
    and deeper while they do not (until the index is exhausted). Every hit is checked against
    the database; non-positive similarities are dropped.
    """
    if index is None or len(index) == 0:
        return []
    size = len(index)
    k = min(depth, size)
    if narrows:
        passing = count()  # cheap (an index range): decides the way before any row is fetched
        if passing == 0:
            return []
        if passing <= EXACT_LIMIT and 2 * passing <= size:  # selective: score just those rows
            hits = index.search(query, depth, among=candidates(EXACT_LIMIT))
            return [(seq, sim) for seq, sim in hits if sim > 0]
        k = min(size, max(k, 2 * depth * size // passing))
    while True:
        hits = index.search(query, k)
        passed = verify([seq for seq, _ in hits])
        kept = [(seq, sim) for seq, sim in hits if seq in passed and sim > 0]
        if len(kept) >= depth or k >= size:
            return kept[:depth]
        k = min(size, k * 4)


class ArchivalMemory:
    """One agent's archival memory, as its tools see it.

    With `stage`, inserts are handed to the step (written in the step's own transaction, so a
    passage lands together with the tool call that made it, or not at all); without, they
    commit at once.
    """

    def __init__(
        self,
        store: ArchivalStore,
        org_id: str,
        agent: AgentRecord,
        stage: Callable[[StepWrite], None] | None = None,
    ) -> None:
        self.store = store
        self.org_id = org_id
        self.agent = agent
        self.stage = stage

    def _archives(self) -> list[ArchiveRecord]:
        with self.store.db.read() as conn:
            return archive_rows.archives_of_agent(conn, self.agent.id)

    async def insert(self, text: str, tags: list[str] | None = None) -> int:
        """Store `text` (staged with the step when staging); the number of passages it became."""
        archives = await asyncio.to_thread(self._archives)
        config = archives[0].embedding_config if archives else self.agent.embedding_config
        passages = await self.store.prepare(embedding_handle(config), [PassageInput(text, tags or [])])
        store, org_id, agent = self.store, self.org_id, self.agent

        def write(conn: Connection) -> None:
            archive = store.ensure_agent_archive(conn, org_id, agent)
            passage_rows.insert_passages(conn, org_id, archive.id, passages)

        if self.stage is not None:
            self.stage(write)
        else:

            def commit() -> None:
                with store.db.write() as conn:
                    write(conn)

            await asyncio.to_thread(commit)
        return len(passages)

    async def search(
        self,
        query: str,
        *,
        top_k: int,
        tags: list[str] | None = None,
        match_all_tags: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[PassageHit]:
        archives = await asyncio.to_thread(self._archives)
        return await self.store.search(
            archives, query, top_k=top_k, tags=tags, match_all_tags=match_all_tags, start=start, end=end
        )
