"""What every route needs: the server's context and the caller's organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from memfold.agent.loop import AgentLoop
from memfold.config import Settings
from memfold.errors import UnauthorizedError
from memfold.llm.providers import ModelRegistry
from memfold.runs.workers import RunWorkers
from memfold.store.engine import Database


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    models: ModelRegistry
    loop: AgentLoop
    workers: RunWorkers


def _context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.memfold
    return ctx


def _org(request: Request) -> str:
    """The caller's organization, as `ApiKeyMiddleware` (memfold/server/auth.py) established it."""
    org_id = getattr(request.state, "org_id", None)
    if not isinstance(org_id, str):  # reached without the middleware: fail closed
        raise UnauthorizedError("this request carries no organization")
    return org_id


Context = Annotated[ServerContext, Depends(_context)]
OrgId = Annotated[str, Depends(_org)]
