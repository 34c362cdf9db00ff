"""`memfold keys ...`: API keys, kept in the database (works on it directly, like `memfold db upgrade`)."""

from __future__ import annotations

from typing import Annotated

import typer

from memfold.agent.lifecycle import register_builtin_tools
from memfold.config import get_settings
from memfold.errors import NotFoundError
from memfold.store import api_keys as key_rows
from memfold.store import migrate
from memfold.store.engine import Database
from memfold.store.orgs import ensure_defaults, ensure_org, org_names

app = typer.Typer(help="API keys: create, list and revoke.", no_args_is_help=True)


def _database() -> Database:
    db = Database(get_settings().resolved_database_url)
    migrate.upgrade(db)
    with db.write() as conn:
        ensure_defaults(conn)
    return db


@app.command()
def create(
    org: Annotated[str, typer.Option("--org", help="Organization name; created if it does not exist.")],
    name: Annotated[str, typer.Option("--name", help="A label to tell keys apart.")] = "",
) -> None:
    """Create a key for an organization and print it (it is shown this once, only a hash is kept)."""
    if not org.strip():
        raise typer.BadParameter("must not be empty", param_hint="--org")
    db = _database()
    try:
        with db.write() as conn:
            org_id, created = ensure_org(conn, org.strip())
            if created:
                register_builtin_tools(conn, org_id)
            record, key = key_rows.create_key(conn, org_id, name or org.strip())
    finally:
        db.dispose()
    if created:
        typer.echo(f"created organization {org.strip()!r} ({org_id})", err=True)
    typer.echo(f"created key {record.id} ({record.key_prefix}...) for organization {org.strip()!r}", err=True)
    typer.echo("store it now: it cannot be shown again", err=True)
    typer.echo(key)


@app.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves): id, prefix, organization, label, created, revoked."""
    db = _database()
    try:
        with db.read() as conn:
            records = key_rows.list_keys(conn)
            names = org_names(conn)
    finally:
        db.dispose()
    if not records:
        typer.echo("no API keys: the server runs open (loopback only unless --allow-open)")
        return
    for r in records:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        org = names.get(r.organization_id, r.organization_id)
        typer.echo(
            f"{r.id}  {r.key_prefix}...  org={org}  name={r.name}  {r.created_at:%Y-%m-%d %H:%M}  {state}"
        )


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `memfold keys list`).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    db = _database()
    try:
        with db.write() as conn:
            record = key_rows.revoke_key(conn, key_id)
    except NotFoundError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(code=1) from e
    finally:
        db.dispose()
    typer.echo(f"revoked {record.id} ({record.key_prefix}...)")
