"""What every route needs: the server's context and the caller's organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from memfold.agent.loop import AgentLoop
from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.runs.workers import RunWorkers
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID


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


def _org(_: Request) -> str:
    return DEFAULT_ORG_ID


Context = Annotated[ServerContext, Depends(_context)]
OrgId = Annotated[str, Depends(_org)]
