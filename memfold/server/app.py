"""The FastAPI application. `create_app()` wires settings, database, models and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from memfold import __version__
from memfold.agent.lifecycle import register_builtin_tools
from memfold.agent.loop import AgentLoop
from memfold.config import Settings, get_settings
from memfold.folders.ingest import FileIngestion, recover_files
from memfold.folders.learning import LEARN_KIND, FolderLearning
from memfold.llm.providers import ModelRegistry, get_registry
from memfold.memory.external import ExternalMemory
from memfold.runs.messaging import RunMessenger
from memfold.runs.sleeptime import SleeptimeScheduler
from memfold.runs.workers import RunWorkers
from memfold.server.auth import ApiKeyMiddleware, ApiKeys
from memfold.server.deps import ServerContext
from memfold.server.errors import install_error_handlers
from memfold.server.routers import (
    agent_folders,
    agentfile,
    agents,
    archival,
    archives,
    blocks,
    context_window,
    folders,
    groups,
    health,
    learning,
    mcp_servers,
    messages,
    models,
    runs,
    steps,
    tool_rules,
    tools,
)
from memfold.store import migrate
from memfold.store.engine import Database
from memfold.store.locks import startup_lock
from memfold.store.orgs import ensure_defaults, org_names
from memfold.tools.runtime import ToolRuntime

log = logging.getLogger("memfold.server")

RUN_POLL_SECONDS = 2.0
"""How often idle workers look for runs whose lease lapsed (new runs wake them at once)."""


def open_database(settings: Settings) -> Database:
    """Open the database, bring its schema up to date and make sure the defaults exist."""
    db = Database(
        settings.resolved_database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    with startup_lock(db):  # processes starting together on one PostgreSQL: one migrates at a time
        migrate.upgrade(db)
        with db.write() as conn:
            ensure_defaults(conn)
            for org_id in org_names(conn):  # every organization gets the current built-in tools
                register_builtin_tools(conn, org_id)
    return db


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = registry or get_registry()
    db = open_database(settings)
    external = ExternalMemory(db, registry, directory=settings.home / "vectors")
    runtime = ToolRuntime(settings)
    runtime.mcp.bind(db)
    loop = AgentLoop(db, registry, settings, external, runtime)
    workers = RunWorkers(
        db,
        loop,
        concurrency=settings.run_concurrency,
        lease_seconds=settings.run_lease_seconds,
        poll_seconds=RUN_POLL_SECONDS,
    )
    workers.kinds[LEARN_KIND] = FolderLearning(db, loop).execute  # agents learning from folders
    runtime.messaging = RunMessenger(db, loop, workers)  # agents messaging agents (multi-agent tools)
    sleeptime = SleeptimeScheduler(db, loop, workers)  # queues sleep-time runs after main agents' turns
    context = ServerContext(settings=settings, db=db, models=registry, loop=loop, workers=workers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # One process owns a SQLite database, so whatever ran when it last stopped is resumed now.
        workers.start(recover=db.engine.dialect.name == "sqlite")
        if db.engine.dialect.name == "sqlite":
            recover_files(db, external.archival)  # uploads cut short when it stopped end in error
        yield
        await file_ingestion.close()
        await sleeptime.wait_idle()  # (a turn's bookkeeping under way: one short transaction)
        await workers.stop()
        loop.locks.close()  # (PostgreSQL: gives back the agents' advisory locks)
        await runtime.close()
        external.close()
        db.dispose()

    app = FastAPI(
        title="memfold",
        version=__version__,
        description="Stateful agents with self-managed memory, over the Letta v1 REST API.",
        lifespan=lifespan,
        redirect_slashes=True,
    )
    app.state.memfold = context
    app.state.sleeptime = sleeptime
    app.state.file_ingestion = file_ingestion = FileIngestion(db, external.archival)
    app.state.api_keys = api_keys = ApiKeys.from_settings(settings, db)
    app.add_middleware(ApiKeyMiddleware, keys=api_keys)
    install_error_handlers(app)
    for module in (
        health,
        agentfile,  # before agents: /v1/agents/import must not read as an agent id
        agents,
        blocks,
        messages,
        context_window,
        tools,
        models,
        archival,
        archives,
        runs,
        steps,
        tool_rules,
        mcp_servers,
        folders,
        agent_folders,
        learning,
        groups,
    ):
        app.include_router(module.router)
    return app
