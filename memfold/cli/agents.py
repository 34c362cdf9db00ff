"""`memfold agents export|import`: agent files (`.af`) to and from a running server, over its REST API.

    memfold agents export agent-... -o helper.af
    memfold agents import helper.af --url http://127.0.0.1:8283

Only the REST API is used (`GET /v1/agents/{id}/export`, `POST /v1/agents/import`), so the
commands work against any memfold (or Letta) server.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from memfold.cli._client import client_headers

DEFAULT_URL = "http://127.0.0.1:8283"
TIMEOUT = httpx.Timeout(30.0, read=300.0)
"""An import embeds every archival passage of the file before it answers."""

app = typer.Typer(help="Agent files (.af): export an agent, import one.", no_args_is_help=True)

UrlOption = Annotated[str, typer.Option(help="The memfold server to talk to.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return f"HTTP {response.status_code}: {response.text[:200]}"


def _request(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT, headers=client_headers()) as http:
            response = http.request(method, path, **kwargs)
    except httpx.TransportError as e:
        _fail(f"cannot reach memfold at {url} ({e}); is `memfold serve` running?")
    if response.status_code >= 400:
        _fail(_detail(response))
    return response


@app.command("export")
def export_agent(
    agent_id: Annotated[str, typer.Argument(help="The agent to export (agent-...).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the file here (default: standard output).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    scrub_messages: Annotated[bool, typer.Option(help="Leave the message history out.")] = False,
) -> None:
    """Export an agent as an agent file."""
    params = {"scrub_messages": "true"} if scrub_messages else {}
    response = _request(url, "GET", f"/v1/agents/{agent_id}/export", params=params)
    if output is None:
        sys.stdout.write(response.text + "\n")
        return
    output.write_text(response.text, encoding="utf-8")
    typer.echo(f"exported {agent_id} to {output}", err=True)


@app.command("import")
def import_agent(
    file: Annotated[
        Path, typer.Argument(help="The agent file (.af).", exists=True, dir_okay=False, readable=True)
    ],
    url: UrlOption = DEFAULT_URL,
    name: Annotated[str | None, typer.Option(help="Name the imported agent(s).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model handle for the imported agent(s), provider/model.")
    ] = None,
    strip_messages: Annotated[bool, typer.Option(help="Import no messages.")] = False,
) -> None:
    """Import an agent file (either generation of Letta's format); prints the new agent ids."""
    form = {"strip_messages": "true" if strip_messages else "false"}
    if name:
        form["name"] = name
    if model:
        form["model"] = model
    files = {"file": (file.name, file.read_bytes(), "application/json")}
    body = _request(url, "POST", "/v1/agents/import", files=files, data=form).json()
    for item in body.get("skipped") or []:
        typer.echo(f"not imported as is: {item['kind']} {item['name']!r}: {item['reason']}", err=True)
    for agent_id in body["agent_ids"]:
        typer.echo(agent_id)
