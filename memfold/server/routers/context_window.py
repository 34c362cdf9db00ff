"""/v1/agents/{id}/context and /summarize: the context window, part by part, and compaction on demand."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from memfold.agent.session import load_session
from memfold.schemas.context import (
    CompactionRequest,
    CompactionResponse,
    CompactionSettings,
    ContextWindowOverview,
)
from memfold.server.deps import Context, OrgId

router = APIRouter(prefix="/v1/agents/{agent_id}", tags=["context"])


@router.get("/context", response_model=ContextWindowOverview)
async def context_window(agent_id: str, ctx: Context, org: OrgId) -> ContextWindowOverview:
    """The agent's next request by part: system prompt, memory, summary, tools, messages, in tokens."""
    session = await asyncio.to_thread(load_session, ctx.db, org, agent_id, ctx.loop.messages)
    return await ctx.loop.window.overview(session)


@router.post("/summarize", response_model=CompactionResponse)
async def summarize(
    agent_id: str, ctx: Context, org: OrgId, body: CompactionRequest | None = None
) -> CompactionResponse:
    """Evict messages now and fold them into the running summary (they stay in recall memory)."""
    settings = (body.compaction_settings if body else None) or CompactionSettings()
    async with ctx.loop.locks(agent_id):
        session = await asyncio.to_thread(load_session, ctx.db, org, agent_id, ctx.loop.messages)
        model = ctx.models.get(settings.model or session.agent.model)
        done = await ctx.loop.window.compact(
            session,
            model,
            keep_fraction=settings.sliding_window_percentage,
            evict_all=settings.mode in ("all", "self_compact_all"),
            prompt=settings.prompt,
            clip_chars=settings.clip_chars,
        )
    current = next((m.content for m in session.in_context if m.role == "summary"), None)
    return CompactionResponse(
        num_messages_before=done.messages_before,
        num_messages_after=done.messages_after,
        summary=current or "",
    )
