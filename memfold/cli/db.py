"""`memfold db ...`: schema migrations."""

from __future__ import annotations

import typer

from memfold.config import get_settings
from memfold.store import migrate
from memfold.store.engine import Database

app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Bring the database schema up to date."""
    db = Database(get_settings().resolved_database_url)
    before = migrate.current_revision(db)
    migrate.upgrade(db)
    typer.echo(f"schema: {before or 'empty'} -> {migrate.current_revision(db)}")
