"""Recall memory: every message an agent ever exchanged, in context or evicted, searchable.

Search is hybrid, like archival search: BM25 over the messages' text fused (RRF) with cosine
similarity of their embeddings; role and date filters apply in SQL before any limit. Vectors
are searched in process on SQLite and with pgvector in SQL on PostgreSQL.

Indexing is lazy and batched, off the step's critical path: a message gets its searchable
row (`message_search`: text + embedding with the agent's embedding model) the first time the
agent's history is searched after it was written. Catching up costs one indexed query when
nothing is new, and about 0.1 ms per new message with the local embedding (a remote model: one
request per 64 messages). When the agent's embedding model changes, the next search re-embeds
its history with the new one. If the embedding provider fails, messages are indexed for full
text only and embedded on a later search.

A message's searchable text: its content; for an assistant message also what it said through
`send_message` (MemGPT mode keeps the reply in the tool call's arguments). By default only
user and assistant messages are searched; tool results and system messages on request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memfold.errors import ProviderError
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import nearest, verified_in_chunks
from memfold.memory.embedding import embedding_handle
from memfold.memory.search import query_terms, reciprocal_rank_fusion, vector_weight
from memfold.memory.vectors import VectorCollections, to_bytes
from memfold.store import pg_vectors
from memfold.store import recall as recall_rows
from memfold.store import tables as t
from memfold.store.agents import AgentRecord
from memfold.store.engine import Database
from memfold.store.fulltext import FullText, full_text
from memfold.store.recall import RecallEntry, RecallFilter, StoredMessage

__all__ = ["DEFAULT_ROLES", "RecallHit", "RecallMemory", "RecallStore", "searchable_text"]

log = logging.getLogger(__name__)

DEFAULT_ROLES = ("user", "assistant")
ROLES = ("user", "assistant", "tool", "system")
_BATCH = 1000


@dataclass(slots=True)
class RecallHit:
    entry: RecallEntry
    score: float


def searchable_text(role: str, content: str | None, tool_calls: list[dict[str, Any]] | None) -> str:
    parts = [content.strip()] if content and content.strip() else []
    if role == "assistant":
        for call in tool_calls or []:
            if call.get("name") != "send_message":
                continue
            try:
                arguments = json.loads(call.get("arguments") or "{}")
            except (TypeError, ValueError):
                continue
            message = arguments.get("message") if isinstance(arguments, dict) else None
            if isinstance(message, str) and message.strip():
                parts.append(message.strip())
    return "\n".join(parts)


class RecallStore:
    """Indexing and search of every agent's messages, for the whole server."""

    def __init__(self, db: Database, models: ModelRegistry, vectors: VectorCollections) -> None:
        self.db = db
        self.models = models
        self.vectors = vectors
        self._locks: dict[str, asyncio.Lock] = {}
        self._embedded_with: dict[str, str] = {}
        """agent id -> the handle all its indexed messages are known (in this process) to be embedded with."""
        self._full_text: FullText | None = None

    @property
    def full_text(self) -> FullText:
        if self._full_text is None:
            self._full_text = full_text(self.db.engine.dialect.name)
        return self._full_text

    def _lock(self, agent_id: str) -> asyncio.Lock:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = self._locks[agent_id] = asyncio.Lock()
        return lock

    # -- indexing -------------------------------------------------------------------------

    async def index(self, agent_id: str, handle: str) -> int:
        """Bring the agent's `message_search` rows up to date; how many messages were added."""
        added = 0
        async with self._lock(agent_id):
            if self._embedded_with.get(agent_id) != handle:
                await self._reembed(agent_id, handle)
            while True:
                messages = await asyncio.to_thread(self._unindexed, agent_id)
                if not messages:
                    break
                rows = await self._rows(agent_id, handle, messages)
                await asyncio.to_thread(self._write, rows)
                added += len(rows)
                if any(row["embedding_handle"] != handle for row in rows):
                    self._embedded_with.pop(agent_id, None)  # the provider failed: retry next time
                if len(messages) < _BATCH:
                    break
        return added

    def _unindexed(self, agent_id: str) -> list[StoredMessage]:
        with self.db.read() as conn:
            return recall_rows.unindexed_messages(conn, agent_id, _BATCH)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self.db.write() as conn:
            recall_rows.insert_entries(conn, rows)

    async def _rows(self, agent_id: str, handle: str, messages: list[StoredMessage]) -> list[dict[str, Any]]:
        texts = [searchable_text(m.role, m.content, m.tool_calls) for m in messages]
        wanted = [i for i, text in enumerate(texts) if text]
        vectors: dict[int, list[float]] = {}
        try:
            embedded = await self.models.embedder(handle).embed([texts[i] for i in wanted])
            vectors = dict(zip(wanted, embedded, strict=True))
        except ProviderError as e:
            log.warning(
                "cannot embed messages of %s with %s (%s); full text only for now", agent_id, handle, e
            )
        return [
            {
                "seq": m.seq,
                "agent_id": agent_id,
                "role": m.role,
                "created_at": m.created_at,
                "text": texts[i],
                "embedding": to_bytes(vectors[i]) if i in vectors else None,
                "embedding_handle": handle if i in vectors or not texts[i] else None,
                "embedding_dim": len(vectors[i]) if i in vectors else None,
            }
            for i, m in enumerate(messages)
        ]

    def _set_embeddings(self, updates: list[dict[str, Any]]) -> None:
        with self.db.write() as conn:
            recall_rows.set_embeddings(conn, updates)

    async def _reembed(self, agent_id: str, handle: str) -> None:
        """Embed rows made with another model (or none) with `handle`."""
        while True:

            def stale() -> list[tuple[int, str]]:
                with self.db.read() as conn:
                    return recall_rows.stale_entries(conn, agent_id, handle, _BATCH)

            rows = await asyncio.to_thread(stale)
            if not rows:
                self._embedded_with[agent_id] = handle
                return
            try:
                vectors = await self.models.embedder(handle).embed([text for _, text in rows])
            except ProviderError as e:
                log.warning("cannot re-embed messages of %s with %s (%s)", agent_id, handle, e)
                return
            updates = [
                {"seq": seq, "embedding": to_bytes(v), "embedding_handle": handle, "embedding_dim": len(v)}
                for (seq, _), v in zip(rows, vectors, strict=True)
            ]

            await asyncio.to_thread(self._set_embeddings, updates)
            self.vectors.forget(f"recall-{agent_id}-")  # rows changed below the watermark
            if len(rows) < _BATCH:
                return

    # -- search ---------------------------------------------------------------------------

    async def search(
        self,
        agent: AgentRecord,
        query: str,
        *,
        limit: int,
        roles: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[RecallHit]:
        handle = embedding_handle(agent.embedding_config)
        await self.index(agent.id, handle)
        where = RecallFilter(agent.id, list(roles or DEFAULT_ROLES), start, end)
        if limit <= 0:
            return []
        vector: list[float] | None = None
        if query.strip():
            try:
                vector = (await self.models.embedder(handle).embed([query]))[0]
            except ProviderError as e:
                log.warning("cannot embed a recall query with %s (%s); using full text only", handle, e)
        return await asyncio.to_thread(self._search, where, query, handle, vector, limit)

    def _search(
        self, where: RecallFilter, query: str, handle: str, vector: list[float] | None, limit: int
    ) -> list[RecallHit]:
        depth = max(3 * limit, 30)
        agent_id = where.agent_id
        with self.db.read() as conn:
            if not query.strip():
                fused = [(seq, 0.0) for seq in recall_rows.most_recent(conn, where, limit)]
            else:
                rankings = [recall_rows.text_ranked(conn, self.full_text, query_terms(query), where, depth)]
                if vector is not None and self.db.is_postgres:
                    conditions = [*where.conditions(), t.message_search.c.embedding_handle == handle]
                    hits = pg_vectors.nearest(conn, t.message_search, conditions, vector, depth)
                    rankings.append([seq for seq, _ in hits])
                elif vector is not None:
                    collection = self.vectors.synced(
                        VectorCollections.name("recall", agent_id, handle),
                        lambda after, n: recall_rows.vectors_after(conn, agent_id, handle, after, n),
                        lambda up_to: recall_rows.count_vectors(conn, agent_id, handle, up_to),
                    )
                    hits = nearest(
                        collection.index,
                        vector,
                        depth,
                        narrows=where.narrows,
                        candidates=lambda cap: recall_rows.filtered_seqs(conn, where, cap=cap),
                        count=lambda: recall_rows.count_filtered(conn, where),
                        verify=lambda seqs: verified_in_chunks(
                            seqs, lambda chunk: recall_rows.filtered_seqs(conn, where, among=chunk)
                        ),
                    )
                    rankings.append([seq for seq, _ in hits])
                fused = reciprocal_rank_fusion(rankings, [1.0, vector_weight(handle)])[:limit]
            found = recall_rows.entries_by_seq(conn, [seq for seq, _ in fused])
        return [RecallHit(found[seq], score) for seq, score in fused if seq in found]


class RecallMemory:
    """One agent's recall memory, as its `conversation_search` tool sees it."""

    def __init__(self, store: RecallStore, agent: AgentRecord) -> None:
        self.store = store
        self.agent = agent

    async def search(
        self,
        query: str,
        *,
        limit: int,
        roles: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[RecallHit]:
        return await self.store.search(self.agent, query, limit=limit, roles=roles, start=start, end=end)
