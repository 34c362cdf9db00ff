"""`memfold folders upload FOLDER PATH...`: upload files to a folder of a running server, over REST.

    memfold folders upload handbook docs/ notes.md --url http://127.0.0.1:8283

FOLDER is a folder id (`source-...`) or name; a name that does not exist yet is created
(`--no-create` refuses instead). A directory contributes every file of a supported type below
it. Resumable: a file whose name is already in the folder with the same content (SHA-256) and
not in `error` is skipped; a changed one replaces the old version (`duplicate_handling=replace`,
so no stale chunks remain). A progress bar follows files and chunks until every upload is
processed; the command fails (exit 1) if any file ends in `error`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from memfold.cli._client import client_headers
from memfold.cli.agents import DEFAULT_URL, UrlOption, _detail, _fail
from memfold.folders.parsing import SUPPORTED_TYPES

app = typer.Typer(help="Folders of files: upload files to a folder.", no_args_is_help=True)

TIMEOUT = httpx.Timeout(30.0, read=300.0)
POLL_SECONDS = 0.2


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED_TYPES
            )
        elif path.is_file():
            found.append(path)
        else:
            _fail(f"no such file or directory: {path}")
    return found


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        _fail(_detail(response))
    return response.json()


def _folder(http: httpx.Client, folder: str, create: bool) -> dict[str, Any]:
    if folder.startswith("source-"):
        found: dict[str, Any] = _check(http.get(f"/v1/folders/{folder}"))
        return found
    named = _check(http.get("/v1/folders/", params={"name": folder}))
    if named:
        first: dict[str, Any] = named[0]
        return first
    if not create:
        _fail(f"no folder named {folder!r} (leave out --no-create to create it)")
    created: dict[str, Any] = _check(http.post("/v1/folders/", json={"name": folder}))
    return created


@app.command("upload")
def upload(
    folder: Annotated[str, typer.Argument(help="Folder id (source-...) or name.")],
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to upload.")],
    url: UrlOption = DEFAULT_URL,
    create: Annotated[bool, typer.Option(help="Create the folder when no folder has this name.")] = True,
) -> None:
    """Upload files (skipping those already there unchanged) and follow their processing."""
    files = _files(paths)
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT, headers=client_headers()) as http:
            target = _folder(http, folder, create)
            _upload_all(http, target, files)
    except httpx.TransportError as e:
        _fail(f"cannot reach memfold at {url} ({e}); is `memfold serve` running?")


def _upload_all(http: httpx.Client, folder: dict[str, Any], files: list[Path]) -> None:
    base = f"/v1/folders/{folder['id']}"
    existing = {f["file_name"]: f for f in _check(http.get(f"{base}/files", params={"limit": 1000}))}
    pending: dict[str, str] = {}
    skipped = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        uploads = progress.add_task("files", total=len(files))
        chunks = progress.add_task("chunks", total=None)
        for path in files:
            data = path.read_bytes()
            known = existing.get(path.name)
            if (
                known is not None
                and known.get("content_hash") == hashlib.sha256(data).hexdigest()
                and known["processing_status"] != "error"
            ):
                skipped += 1
                pending[known["id"]] = path.name
                continue
            sent = _check(
                http.post(
                    f"{base}/upload",
                    files={"file": (path.name, data)},
                    params={"duplicate_handling": "replace"},
                )
            )
            pending[sent["id"]] = path.name
        errors: list[str] = []
        while True:
            states = {f["id"]: f for f in _check(http.get(f"{base}/files", params={"limit": 1000}))}
            mine = [states[i] for i in pending if i in states]
            finished = [f for f in mine if f["processing_status"] in ("completed", "error")]
            progress.update(uploads, completed=len(finished))
            total = sum(f.get("total_chunks") or 0 for f in mine)
            progress.update(
                chunks, total=total or None, completed=sum(f.get("chunks_embedded") or 0 for f in mine)
            )
            if len(finished) == len(mine):
                errors = [
                    f"{f['file_name']}: {f['error_message']}"
                    for f in mine
                    if f["processing_status"] == "error"
                ]
                break
            time.sleep(POLL_SECONDS)
    typer.echo(f"{len(files) - skipped} uploaded, {skipped} unchanged, {len(errors)} failed")
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    if errors:
        raise typer.Exit(1)
