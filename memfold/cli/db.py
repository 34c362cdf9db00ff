"""`memfold db ...`: schema migrations, copying a database, backups.

    memfold db upgrade [--url URL]
    memfold db copy --to URL [--from URL] [--force]
    memfold db backup PATH [--from URL] [--force]
    memfold db restore PATH [--to URL] [--force]

URLs default to the configured database (`MEMFOLD_DATABASE_URL`, else the SQLite file in the
data directory). See docs/backup.md.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from memfold.config import get_settings
from memfold.errors import MemfoldError
from memfold.store import migrate
from memfold.store.backup import backup as backup_database
from memfold.store.backup import restore as restore_database
from memfold.store.copy import BATCH_SIZE, CopyReport, copy_database
from memfold.store.engine import Database

app = typer.Typer(help="Database commands: migrations, copying, backup and restore.", no_args_is_help=True)
console = Console(stderr=True)

FORCE_HELP = "Erase whatever the target holds first (the default refuses a non-empty target)."


@app.command()
def upgrade(
    url: Annotated[
        str | None, typer.Option("--url", help="Database URL (default: the configured one).")
    ] = None,
) -> None:
    """Bring the database schema up to date."""
    with _open(url, "--url") as db:
        before = migrate.current_revision(db)
        migrate.upgrade(db)
        typer.echo(f"schema: {before or 'empty'} -> {migrate.current_revision(db)}")


@app.command()
def copy(
    to: Annotated[
        str, typer.Option("--to", help="URL of the database to fill (migrated to the current schema).")
    ],
    source: Annotated[
        str | None, typer.Option("--from", help="URL of the database to read (default: the configured one).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch.")] = BATCH_SIZE,
) -> None:
    """Copy every row of one database into another, e.g. SQLite -> PostgreSQL."""
    with (
        _open(source, "--from") as src,
        _open(to, "--to") as dst,
        _not_served(dst),
        _progress() as progress,
    ):
        report = copy_database(src, dst, replace=force, batch_size=batch_size, progress=progress)
    _drop_vector_caches(to)
    _summary(report, f"copied {_safe(source)} -> {_safe(to)}")


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write (a SQLite database).")],
    source: Annotated[
        str | None,
        typer.Option("--from", help="URL of the database to back up (default: the configured one)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file at PATH.")] = False,
) -> None:
    """Write a consistent snapshot of the database to one SQLite file (safe while a server runs)."""
    with _open(source, "--from") as db, _progress() as progress:
        backup_database(db, path, overwrite=force, progress=progress)
    typer.echo(f"backup of {_safe(source)} written to {path}")


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A backup file made by `memfold db backup`.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="URL of the database to restore into (default: the configured one)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Copy a backup into a database (an empty one, unless --force). Stop servers using it first."""
    with _open(to, "--to") as db, _not_served(db), _progress() as progress:
        report = restore_database(path, db, replace=force, progress=progress)
    _drop_vector_caches(to)
    _summary(report, f"restored {path} -> {_safe(to)}")


# --- helpers -------------------------------------------------------------------------------------


def _url(url: str | None) -> str:
    return url or get_settings().resolved_database_url


def _safe(url: str | None) -> str:
    """The URL for display, password hidden."""
    return make_url(_url(url)).render_as_string(hide_password=True)


@contextmanager
def _open(url: str | None, option: str) -> Iterator[Database]:
    """A Database for `url`; memfold's own errors become one line on stderr and exit status 1."""
    try:
        make_url(_url(url))
    except ArgumentError as e:
        raise typer.BadParameter(f"not a database URL: {url!r}", param_hint=option) from e
    db: Database | None = None
    try:
        db = Database(_url(url))
        yield db
    except MemfoldError as e:
        console.print(f"[red]error:[/red] {e.message}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        if db is not None:
            db.dispose()


@contextmanager
def _not_served(db: Database) -> Iterator[None]:
    """Refuse to write into a SQLite database a `memfold serve` is serving, and keep one from
    starting on it meanwhile (the lock file `memfold serve` takes beside the database)."""
    if not db.is_sqlite or not db.url.database or db.url.database == ":memory:":
        yield
        return
    path = Path(db.url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".serve-lock").open("ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print(
                f"[red]error:[/red] a memfold server is serving {path}: stop it first", highlight=False
            )
            raise typer.Exit(1) from None
        yield  # the lock goes with the file handle


def _drop_vector_caches(target: str | None) -> None:
    """The data directory's saved vector indexes describe the rows a copy into the configured
    database replaced: remove them (servers rebuild them from the database on first search)."""
    settings = get_settings()
    directory = settings.home / "vectors"
    if _url(target) == settings.resolved_database_url and directory.is_dir():
        shutil.rmtree(directory)
        console.print(
            f"removed the saved vector indexes in {directory} (rebuilt on first search)", highlight=False
        )


class _Bars:
    """Progress bars, one per table with rows."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def table_started(self, name: str, total: int) -> None:
        if total:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def rows_copied(self, name: str, count: int) -> None:
        if name in self._tasks:
            self._progress.advance(self._tasks[name], count)


@contextmanager
def _progress() -> Iterator[_Bars]:
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Bars(progress)


def _summary(report: CopyReport, headline: str) -> None:
    for name, rows in report.source_rows.items():
        if rows or report.target_rows.get(name):
            console.print(f"  {name:<20} {rows:>9} -> {report.target_rows.get(name, 0)}", highlight=False)
    if not report.verified:
        console.print("[red]error:[/red] row counts differ between source and target", highlight=False)
        raise typer.Exit(1)
    typer.echo(f"{headline}: {report.total} rows in {len(report.source_rows)} tables, counts verified")
