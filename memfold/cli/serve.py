"""`memfold serve`: the HTTP server on embedded SQLite unless MEMFOLD_DATABASE_URL says otherwise."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer
import uvicorn

from memfold.config import get_settings
from memfold.llm.providers import get_registry
from memfold.server.auth import ApiKeys

log = logging.getLogger("memfold")


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
) -> None:
    """Start the server."""
    settings = get_settings()
    if host is not None or port is not None:
        settings = settings.model_copy(
            update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
        )
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from memfold.server.app import create_app

    registry = get_registry()
    app = create_app(settings, registry)
    keys: ApiKeys = app.state.api_keys
    if keys.configured():
        log.info("API keys required: every request but /v1/health needs `Authorization: Bearer <key>`")
    elif not _is_loopback(settings.host) and not (allow_open or settings.allow_open):
        typer.echo(
            f"refusing to serve on {settings.host} without API keys: anyone who can reach it could use it. "
            "Create a key (`memfold keys create --org NAME`, or set MEMFOLD_API_KEYS), "
            "or pass --allow-open (MEMFOLD_ALLOW_OPEN=1).",
            err=True,
        )
        raise typer.Exit(code=2)
    else:
        log.warning("running OPEN: no API key is configured, every caller uses the default organization")
    providers = (
        ", ".join(p.name for p in registry.providers) or "none (set OPENAI_API_KEY, OLLAMA_BASE_URL, ...)"
    )
    database = "SQLite at " + str(settings.home / "memfold.db") if not settings.database_url else "PostgreSQL"
    log.info(
        "memfold on http://%s:%d, data in %s, LLM providers: %s",
        settings.host,
        settings.port,
        database,
        providers,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
