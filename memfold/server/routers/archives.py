"""/v1/archives (archives and their passages), /v1/passages/search, and attaching archives to agents."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from memfold.agent import lifecycle
from memfold.errors import BadRequestError
from memfold.ids import new_id
from memfold.memory.archival import PassageInput
from memfold.memory.embedding import embedding_config_for
from memfold.memory.search import parse_bound
from memfold.schemas.agents import AgentState, EmbeddingConfig
from memfold.schemas.archives import (
    Archive,
    CreateArchive,
    CreateArchivePassage,
    CreateArchivePassages,
    Passage,
    PassageSearchItem,
    PassageSearchRequest,
    UpdateArchive,
)
from memfold.server.deps import Context, OrgId
from memfold.store import agents as agent_rows
from memfold.store import archives as archive_rows
from memfold.store import passages as passage_rows
from memfold.store.archives import ArchiveRecord
from memfold.store.paging import Order
from memfold.store.passages import PassageRecord

router = APIRouter(tags=["archives"])


def archive_view(record: ArchiveRecord) -> Archive:
    return Archive(
        id=record.id,
        name=record.name,
        description=record.description,
        created_at=passage_rows.as_utc(record.created_at),
        updated_at=passage_rows.as_utc(record.updated_at),
        embedding_config=EmbeddingConfig.model_validate(record.embedding_config),
        metadata=record.metadata,
        vector_db_provider="native",
    )


def passage_view(record: PassageRecord, archives: dict[str, ArchiveRecord]) -> Passage:
    archive = archives.get(record.archive_id)
    return Passage(
        id=record.id,
        text=record.text,
        archive_id=record.archive_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        tags=record.tags,
        metadata=record.metadata,
        embedding_config=EmbeddingConfig.model_validate(archive.embedding_config) if archive else None,
    )


# --- archives ------------------------------------------------------------------------------


@router.post("/v1/archives/", response_model=Archive)
def create_archive(body: CreateArchive, ctx: Context, org: OrgId) -> Archive:
    config = (
        body.embedding_config.model_dump(exclude_none=True)
        if body.embedding_config
        else embedding_config_for(body.embedding)
    )
    with ctx.db.write() as conn:
        record = archive_rows.insert_archive(
            conn,
            org,
            new_id("archive"),
            {"name": body.name, "description": body.description, "embedding_config": config},
        )
    return archive_view(record)


@router.get("/v1/archives/", response_model=list[Archive])
def list_archives(
    ctx: Context,
    org: OrgId,
    name: str | None = None,
    agent_id: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
    order_by: Literal["created_at"] = "created_at",
) -> list[Archive]:
    with ctx.db.read() as conn:
        records = archive_rows.list_archives(
            conn, org, name=name, agent_id=agent_id, before=before, after=after, limit=limit, order=order
        )
    return [archive_view(r) for r in records]


@router.get("/v1/archives/{archive_id}", response_model=Archive)
def retrieve_archive(archive_id: str, ctx: Context, org: OrgId) -> Archive:
    with ctx.db.read() as conn:
        return archive_view(archive_rows.get_archive(conn, org, archive_id))


@router.patch("/v1/archives/{archive_id}", response_model=Archive)
def modify_archive(archive_id: str, body: UpdateArchive, ctx: Context, org: OrgId) -> Archive:
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "name" or v is not None}
    with ctx.db.write() as conn:
        return archive_view(archive_rows.update_archive(conn, org, archive_id, values))


@router.delete("/v1/archives/{archive_id}")
def delete_archive(archive_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        archive_rows.delete_archive(conn, org, archive_id)
    ctx.loop.external.archival.forget_archive(archive_id)
    return {"id": archive_id, "deleted": True}


# --- an archive's passages -----------------------------------------------------------------


async def _add(ctx: Context, org: str, archive_id: str, items: list[CreateArchivePassage]) -> list[Passage]:
    def archive() -> ArchiveRecord:
        with ctx.db.read() as conn:
            return archive_rows.get_archive(conn, org, archive_id)

    record = await asyncio.to_thread(archive)
    inputs = [PassageInput(i.text, i.tags or [], i.metadata, i.created_at) for i in items]
    added = await ctx.loop.external.archival.add(org, record, inputs, split=False)
    return [passage_view(p, {record.id: record}) for p in added]


@router.post("/v1/archives/{archive_id}/passages", response_model=Passage)
async def create_archive_passage(
    archive_id: str, body: CreateArchivePassage, ctx: Context, org: OrgId
) -> Passage:
    return (await _add(ctx, org, archive_id, [body]))[0]


@router.post("/v1/archives/{archive_id}/passages/batch", response_model=list[Passage])
async def create_archive_passages(
    archive_id: str, body: CreateArchivePassages, ctx: Context, org: OrgId
) -> list[Passage]:
    return await _add(ctx, org, archive_id, body.passages)


@router.get("/v1/archives/{archive_id}/passages", response_model=list[Passage])
def list_archive_passages(
    archive_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 100,
    order: Order = "asc",
) -> list[Passage]:
    with ctx.db.read() as conn:
        record = archive_rows.get_archive(conn, org, archive_id)
        passages = passage_rows.list_passages(
            conn, [archive_id], before=before, after=after, limit=limit, order=order
        )
    return [passage_view(p, {record.id: record}) for p in passages]


@router.delete("/v1/archives/{archive_id}/passages/{passage_id}")
def delete_archive_passage(archive_id: str, passage_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        archive_rows.get_archive(conn, org, archive_id)
        record = passage_rows.delete_passage(conn, [archive_id], passage_id)
    ctx.loop.external.archival.forget_passage(record)
    return {"id": passage_id, "deleted": True}


# --- search across archives ------------------------------------------------------------------


@router.post("/v1/passages/search", response_model=list[PassageSearchItem])
async def search_passages(body: PassageSearchRequest, ctx: Context, org: OrgId) -> list[PassageSearchItem]:
    def archives() -> list[ArchiveRecord]:
        with ctx.db.read() as conn:
            if body.agent_id:
                agent_rows.get_agent(conn, org, body.agent_id)
                return archive_rows.archives_of_agent(conn, body.agent_id)
            if body.archive_id:
                return [archive_rows.get_archive(conn, org, body.archive_id)]
            return archive_rows.list_archives(conn, org, limit=None)

    records = await asyncio.to_thread(archives)
    hits = await ctx.loop.external.archival.search(
        records,
        body.query or "",
        top_k=body.limit,
        tags=body.tags,
        match_all_tags=body.tag_match_mode == "all",
        start=parse_bound(body.start_date, end=False, field="start_date"),
        end=parse_bound(body.end_date, end=True, field="end_date"),
    )
    by_id = {r.id: r for r in records}
    return [PassageSearchItem(passage=passage_view(h.passage, by_id), score=h.score) for h in hits]


# --- attaching archives to agents ------------------------------------------------------------


@router.patch("/v1/agents/{agent_id}/archives/attach/{archive_id}", response_model=AgentState)
def attach_archive(agent_id: str, archive_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        archive_rows.attach_archive(conn, agent_id, archive_rows.get_archive(conn, org, archive_id).id)
        return lifecycle.agent_state(conn, org, agent_id)


@router.patch("/v1/agents/{agent_id}/archives/detach/{archive_id}", response_model=AgentState)
def detach_archive(agent_id: str, archive_id: str, ctx: Context, org: OrgId) -> AgentState:
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        archive = archive_rows.get_archive(conn, org, archive_id)
        attached = {a.id for a in archive_rows.archives_of_agent(conn, agent_id)}
        if archive.id not in attached:
            raise BadRequestError(f"archive {archive_id!r} is not attached to agent {agent_id!r}")
        archive_rows.detach_archive(conn, agent_id, archive.id)
        return lifecycle.agent_state(conn, org, agent_id)
