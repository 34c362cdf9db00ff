"""/v1/models: the models of every configured provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from memfold.server.deps import Context

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/")
async def list_models(ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            "handle": info.handle,
            "name": info.name,
            "display_name": info.display_name or info.name,
            "model": info.name,
            "model_type": "llm",
            "model_endpoint_type": info.endpoint_type,
            "model_endpoint": info.endpoint,
            "provider_type": info.provider_type,
            "provider_name": info.provider_name,
            "provider_category": info.provider_category,
            "context_window": info.context_window,
            "max_context_window": info.context_window,
        }
        for info in await ctx.models.list_models()
    ]
