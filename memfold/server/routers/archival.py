"""/v1/agents/{id}/archival-memory: an agent's passages (list, insert, delete) and their search.

The agent's own archive is created on its first insert; listing and search cover every
archive attached to the agent. API inserts commit at once (a tool's insert commits with its step).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from memfold.memory.archival import PassageInput
from memfold.memory.search import parse_bound, timestamp, zone
from memfold.schemas.archives import (
    ArchivalSearchResponse,
    ArchivalSearchResult,
    CreateAgentPassage,
    Passage,
    TagMatchMode,
)
from memfold.server.deps import Context, OrgId
from memfold.server.routers.archives import passage_view
from memfold.store import agents as agent_rows
from memfold.store import archives as archive_rows
from memfold.store import passages as passage_rows
from memfold.store.agents import AgentRecord
from memfold.store.archives import ArchiveRecord

router = APIRouter(prefix="/v1/agents/{agent_id}/archival-memory", tags=["archival-memory"])

DEFAULT_TOP_K = 10


@router.get("", response_model=list[Passage])
def list_passages(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 100,
    ascending: bool = True,
    search: str | None = None,
) -> list[Passage]:
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        archives = {a.id: a for a in archive_rows.archives_of_agent(conn, agent_id)}
        records = passage_rows.list_passages(
            conn,
            list(archives),
            search=search,
            before=before,
            after=after,
            limit=limit,
            order="asc" if ascending else "desc",
        )
    return [passage_view(r, archives) for r in records]


@router.post("", response_model=list[Passage])
async def insert_passage(agent_id: str, body: CreateAgentPassage, ctx: Context, org: OrgId) -> list[Passage]:
    store = ctx.loop.external.archival

    def archive() -> ArchiveRecord:
        with ctx.db.write() as conn:
            return store.ensure_agent_archive(conn, org, agent_rows.get_agent(conn, org, agent_id))

    record = await asyncio.to_thread(archive)
    added = await store.add(org, record, [PassageInput(body.text, body.tags or [], None, body.created_at)])
    return [passage_view(p, {record.id: record}) for p in added]


@router.get("/search", response_model=ArchivalSearchResponse)
async def search_passages(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    query: str,
    tags: Annotated[list[str] | None, Query()] = None,
    tag_match_mode: TagMatchMode = "any",
    top_k: Annotated[int | None, Query(ge=1, le=1000)] = None,
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> ArchivalSearchResponse:
    def load() -> tuple[AgentRecord, list[ArchiveRecord]]:
        with ctx.db.read() as conn:
            agent = agent_rows.get_agent(conn, org, agent_id)
            return agent, archive_rows.archives_of_agent(conn, agent_id)

    agent, archives = await asyncio.to_thread(load)
    tz = zone(agent.timezone)
    hits = await ctx.loop.external.archival.search(
        archives,
        query,
        top_k=top_k or DEFAULT_TOP_K,
        tags=tags,
        match_all_tags=tag_match_mode == "all",
        start=parse_bound(start_datetime, end=False, tz=tz, field="start_datetime"),
        end=parse_bound(end_datetime, end=True, tz=tz, field="end_datetime"),
    )
    results = [
        ArchivalSearchResult(
            id=h.passage.id,
            content=h.passage.text,
            timestamp=timestamp(h.passage.created_at, tz),
            tags=h.passage.tags,
        )
        for h in hits
    ]
    return ArchivalSearchResponse(count=len(results), results=results)


@router.delete("/{memory_id}")
def delete_passage(agent_id: str, memory_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        archive_ids = [a.id for a in archive_rows.archives_of_agent(conn, agent_id)]
        record = passage_rows.delete_passage(conn, archive_ids, memory_id)
    ctx.loop.external.archival.forget_passage(record)
    return {"id": memory_id, "deleted": True}
