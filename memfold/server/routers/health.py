"""/v1/health."""

from __future__ import annotations

from fastapi import APIRouter

from memfold import __version__

router = APIRouter(tags=["health"])


@router.get("/v1/health/")
@router.get("/v1/health", include_in_schema=False)
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
