"""`memfold folders upload|learn`: files into a folder, and an agent learning from a folder, over REST.

    memfold folders upload handbook docs/ notes.md --url http://127.0.0.1:8283
    memfold folders learn handbook --agent support-bot

`upload`: FOLDER is a folder id (`source-...`) or name; a name that does not exist yet is created
(`--no-create` refuses instead). A directory contributes every file of a supported type below it.
Progress bars follow files (processed), chunks (cut from the files parsed so far) and embeddings
(chunks embedded and stored) until every upload is processed; the command fails (exit 1) if any file
ends in `error`. Resumable: interrupted (Ctrl-C, a crash, a lost connection), the same command again
skips every file already in the folder under its name with the same content (SHA-256) and not in
`error`, waiting for those still being processed; a changed file replaces the old version
(`duplicate_handling=replace`, so no stale chunks remain).

`learn`: starts the agent's learning run over the folder (`POST /v1/agents/{id}/folders/{folder}/learn`)
and follows it with a progress bar of chunks and the current file. Ctrl-C cancels the run after the
chunk under way; the same command again resumes where it stopped (chunks already learned are
skipped, unless `--relearn`). `--detach` prints the run id and returns at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from memfold.cli._client import client_headers
from memfold.cli.agents import DEFAULT_URL, UrlOption, _detail, _fail
from memfold.folders.parsing import SUPPORTED_TYPES

app = typer.Typer(help="Folders of files: upload files, have an agent learn from them.", no_args_is_help=True)

TIMEOUT = httpx.Timeout(30.0, read=300.0)
POLL_SECONDS = 0.2
PAGE = 1000
INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it."""
COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


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


def _http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT, headers=client_headers())


def _folder(http: httpx.Client, folder: str, create: bool, *, hint: bool = True) -> dict[str, Any]:
    if folder.startswith("source-"):
        found: dict[str, Any] = _check(http.get(f"/v1/folders/{folder}"))
        return found
    named = _check(http.get("/v1/folders/", params={"name": folder}))
    if named:
        first: dict[str, Any] = named[0]
        return first
    if not create:
        _fail(f"no folder named {folder!r}" + (" (leave out --no-create to create it)" if hint else ""))
    created: dict[str, Any] = _check(http.post("/v1/folders/", json={"name": folder}))
    return created


def _folder_files(http: httpx.Client, folder_id: str) -> Iterator[dict[str, Any]]:
    """Every file of the folder, page by page."""
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE, "order": "asc"}
        if after is not None:
            params["after"] = after
        page: list[dict[str, Any]] = _check(http.get(f"/v1/folders/{folder_id}/files", params=params))
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["id"]


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
        with _http(url) as http:
            target = _folder(http, folder, create)
            _upload_all(http, target, files)
    except httpx.TransportError as e:
        _fail(f"cannot reach memfold at {url} ({e}); is `memfold serve` running?")
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command again to resume (finished files are skipped)", err=True)
        raise typer.Exit(INTERRUPTED) from None


def _upload_all(http: httpx.Client, folder: dict[str, Any], files: list[Path]) -> None:
    base = f"/v1/folders/{folder['id']}"
    existing = {f["file_name"]: f for f in _folder_files(http, folder["id"])}
    pending: dict[str, str] = {}
    skipped = 0
    with Progress(*COLUMNS) as progress:
        processed = progress.add_task("files", total=len(files))
        cut = progress.add_task("chunks", total=None)
        embedded = progress.add_task("embeddings", total=None)
        sent = progress.add_task("uploading", total=len(files))
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
            else:
                stored = _check(
                    http.post(
                        f"{base}/upload",
                        files={"file": (path.name, data)},
                        params={"duplicate_handling": "replace"},
                    )
                )
                pending[stored["id"]] = path.name
            progress.advance(sent)
        progress.remove_task(sent)
        while True:
            states = {f["id"]: f for f in _folder_files(http, folder["id"])}
            mine = [states[i] for i in pending if i in states]
            finished = [f for f in mine if f["processing_status"] in ("completed", "error")]
            good = [f for f in mine if f["processing_status"] != "error"]  # an error file has no chunks
            parsed = [f for f in good if f.get("total_chunks") is not None]
            chunks = sum(f["total_chunks"] for f in parsed)
            progress.update(processed, completed=len(finished))
            progress.update(cut, completed=chunks, total=chunks if len(parsed) == len(good) else None)
            progress.update(
                embedded, completed=sum(f.get("chunks_embedded") or 0 for f in good), total=chunks or None
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


def _agent(http: httpx.Client, agent: str) -> dict[str, Any]:
    if agent.startswith("agent-"):
        found: dict[str, Any] = _check(http.get(f"/v1/agents/{agent}"))
        return found
    named: list[dict[str, Any]] = _check(http.get("/v1/agents/", params={"name": agent}))
    if not named:
        _fail(f"no agent named {agent!r}")
    if len(named) > 1:
        _fail(f"{len(named)} agents are named {agent!r}; give the agent's id instead")
    return named[0]


@app.command("learn")
def learn(
    folder: Annotated[str, typer.Argument(help="Folder id (source-...) or name.")],
    agent: Annotated[str, typer.Option(help="The agent that learns: its id (agent-...) or name.")],
    url: UrlOption = DEFAULT_URL,
    relearn: Annotated[bool, typer.Option(help="Read chunks the agent has already learned again.")] = False,
    detach: Annotated[bool, typer.Option(help="Print the run id and return; the run goes on.")] = False,
) -> None:
    """Have an agent read the folder chunk by chunk and record what matters in its memory."""
    try:
        with _http(url) as http:
            target = _folder(http, folder, create=False, hint=False)
            learner = _agent(http, agent)
            path = f"/v1/agents/{learner['id']}/folders/{target['id']}/learn"
            run: dict[str, Any] = _check(http.post(path, json={"relearn": relearn}))
            if detach:
                typer.echo(run["id"])
                return
            try:
                run = _follow(http, run)
            except KeyboardInterrupt:
                cancel = {"run_ids": [run["id"]]}
                _check(http.post(f"/v1/agents/{learner['id']}/messages/cancel", json=cancel))
                typer.echo(
                    "interrupted: the run stops after the chunk under way; "
                    "run the same command again to resume",
                    err=True,
                )
                raise typer.Exit(INTERRUPTED) from None
    except httpx.TransportError as e:
        _fail(f"cannot reach memfold at {url} ({e}); is `memfold serve` running?")
    progress = (run.get("metadata") or {}).get("learning") or {}
    done = f"{progress.get('chunks_done', 0)} of {progress.get('chunks_total', 0)} chunks"
    if run["status"] == "completed":
        typer.echo(f"{learner['name']} learned {target['name']}: {done} ({run['id']})")
        return
    reason = (run.get("metadata") or {}).get("error") or run["status"]
    _fail(f"learning {run['status']} after {done} ({run['id']}): {reason}; run the command again to resume")


def _follow(http: httpx.Client, run: dict[str, Any]) -> dict[str, Any]:
    """Poll the run until it ends, showing its progress; the run as it ended."""
    with Progress(*COLUMNS) as bar:
        chunks = bar.add_task("chunks", total=None)
        while True:
            progress = (run.get("metadata") or {}).get("learning") or {}
            current = progress.get("current_file")
            bar.update(
                chunks,
                completed=progress.get("chunks_done") or 0,
                total=progress.get("chunks_total"),
                description=f"chunks ({current})" if current else "chunks",
            )
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            time.sleep(POLL_SECONDS)
            run = _check(http.get(f"/v1/runs/{run['id']}"))
