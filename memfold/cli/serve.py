"""`memfold serve`: the HTTP server on embedded SQLite unless MEMFOLD_DATABASE_URL says otherwise.

`--workers N` runs N server processes on one port through uvicorn's own supervisor (it binds the
socket once, starts the processes, and restarts one that dies); they share the PostgreSQL
database, which is the only state (see docs/deployment.md). SQLite is one process only: a second
`memfold serve` on the same SQLite database, or `--workers` above 1, is refused.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
from pathlib import Path
from typing import IO, Annotated

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from memfold.config import Settings, get_settings
from memfold.llm.providers import get_registry
from memfold.server.auth import ApiKeys
from memfold.store.engine import Database

log = logging.getLogger("memfold")

WORKER_HEALTHCHECK_SECONDS = 60
"""How long a `--workers` process may leave the supervisor's ping unanswered before it is killed and
replaced. uvicorn's default, 5 s, kills workers that are still starting (importing, migrating) on
a loaded machine, over and over."""

_held_files: dict[Path, IO[bytes]] = {}
"""Lock files held for the life of the process (SQLite: the one-server guard), by database."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default MEMFOLD_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MEMFOLD_PORT or 8283).")] = None,
    allow_open: Annotated[
        bool, typer.Option("--allow-open", help="Bind a non-loopback address although no API key exists.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (PostgreSQL only; SQLite is served by one process).",
        ),
    ] = 1,
) -> None:
    """Start the server."""
    settings = get_settings()
    if host is not None or port is not None:
        settings = settings.model_copy(
            update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
        )
    _configure_logging(settings)
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if workers > 1:
            _refuse(
                "--workers needs PostgreSQL: a SQLite database is served by one process only. "
                "Set MEMFOLD_DATABASE_URL to a PostgreSQL database to run several processes "
                "(docs/deployment.md), or drop --workers."
            )
        if url.database and url.database != ":memory:":
            _guard_single_server(Path(url.database))
    registry = get_registry()
    if workers == 1:
        from memfold.server.app import create_app

        app = create_app(settings, registry)
        _check_open(settings, app.state.api_keys, allow_open)
        _announce(settings, [p.name for p in registry.providers], workers)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
        return
    _serve_workers(settings, workers, allow_open, [p.name for p in registry.providers])


def _serve_workers(settings: Settings, workers: int, allow_open: bool, providers: list[str]) -> None:
    """Migrate once here, check keys and the connection budget, then let uvicorn start the workers
    (each builds its app with `worker_app`, from the same environment)."""
    from memfold.server.app import open_database

    db = open_database(settings)
    try:
        _check_open(settings, ApiKeys.from_settings(settings, db), allow_open)
        _check_connection_budget(db, settings, workers)
    finally:
        db.dispose()
    # The workers read their settings from the environment: pass on what the options changed.
    os.environ["MEMFOLD_HOST"] = settings.host
    os.environ["MEMFOLD_PORT"] = str(settings.port)
    _announce(settings, providers, workers)
    uvicorn.run(
        "memfold.cli.serve:worker_app",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def worker_app() -> FastAPI:
    """The app of one `--workers` process (an application factory for uvicorn)."""
    from memfold.server.app import create_app

    settings = get_settings()
    _configure_logging(settings)
    return create_app(settings, get_registry())


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


def _refuse(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code=2)


def _guard_single_server(database: Path) -> None:
    """Refuse to serve a SQLite database another `memfold serve` is serving: its in-process agent
    locks and run recovery assume one process. The lock goes with the process, however it ends."""
    if database.resolve() in _held_files:
        return  # this process serves it already (a server started again in the same process)
    database.parent.mkdir(parents=True, exist_ok=True)
    handle = database.with_name(database.name + ".serve-lock").open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        _refuse(
            f"another memfold server is already serving {database}: SQLite is served by one process "
            "only. Stop it first, or use PostgreSQL (MEMFOLD_DATABASE_URL) for several processes."
        )
    _held_files[database.resolve()] = handle


def _check_open(settings: Settings, keys: ApiKeys, allow_open: bool) -> None:
    if keys.configured():
        log.info("API keys required: every request but /v1/health needs `Authorization: Bearer <key>`")
    elif not _is_loopback(settings.host) and not (allow_open or settings.allow_open):
        _refuse(
            f"refusing to serve on {settings.host} without API keys: anyone who can reach it could use it. "
            "Create a key (`memfold keys create --org NAME`, or set MEMFOLD_API_KEYS), "
            "or pass --allow-open (MEMFOLD_ALLOW_OPEN=1)."
        )
    else:
        log.warning("running OPEN: no API key is configured, every caller uses the default organization")


def _check_connection_budget(db: Database, settings: Settings, workers: int) -> None:
    """Warn when the workers' pools could ask PostgreSQL for more connections than it accepts."""
    per_process = settings.db_pool_size + settings.db_max_overflow + 1  # + the agent-lock connection
    with db.read() as conn:
        limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
    wanted = workers * per_process
    if wanted > limit - reserved:
        log.warning(
            "%d workers may open up to %d PostgreSQL connections (%d each: MEMFOLD_DB_POOL_SIZE %d + "
            "MEMFOLD_DB_MAX_OVERFLOW %d + 1 for agent locks), more than the %d the server accepts "
            "(max_connections %d - %d reserved): lower the pool settings or raise max_connections",
            workers,
            wanted,
            per_process,
            settings.db_pool_size,
            settings.db_max_overflow,
            limit - reserved,
            limit,
            reserved,
        )


def _announce(settings: Settings, providers: list[str], workers: int) -> None:
    shown = ", ".join(providers) or "none (set OPENAI_API_KEY, OLLAMA_BASE_URL, ...)"
    url = make_url(settings.resolved_database_url)
    database = f"SQLite at {url.database}" if url.get_backend_name() == "sqlite" else "PostgreSQL"
    log.info(
        "memfold on http://%s:%d (%d process%s), data in %s, LLM providers: %s",
        settings.host,
        settings.port,
        workers,
        "" if workers == 1 else "es",
        database,
        shown,
    )
