"""The `memfold` command."""

from __future__ import annotations

import typer

from memfold.cli import agents, chat, db, folders, keys, serve

app = typer.Typer(
    name="memfold", help="memfold: stateful agents with self-managed memory.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.command("chat")(chat.chat)
app.add_typer(db.app, name="db")
app.add_typer(agents.app, name="agents")
app.add_typer(keys.app, name="keys")
app.add_typer(folders.app, name="folders")


def main() -> None:
    app()


__all__ = ["app", "main"]
