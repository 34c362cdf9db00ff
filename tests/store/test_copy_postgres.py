"""SQLite -> PostgreSQL -> SQLite: every table and value survives both directions."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from memfold.errors import BadRequestError
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel
from memfold.store import migrate
from memfold.store import tables as t
from memfold.store.copy import copy_database
from memfold.store.engine import Database
from tests.store.scenario import observe, populate, serving
from tests.store.synthetic import WHEN, dump, fill_every_table
from tests.store.test_copy import copy_while_writing


def far_from_utc(url: str) -> str:
    """`url` with a session time zone far from UTC: stored instants must not shift."""
    return (
        make_url(url)
        .update_query_dict({"options": "-c timezone=Asia/Kolkata"})
        .render_as_string(hide_password=False)
    )


def test_sqlite_to_postgres_and_back_keeps_every_value(tmp_path: Path, postgres_url: str) -> None:
    sqlite = Database(f"sqlite:///{tmp_path / 'source.db'}")
    pg = Database(far_from_utc(postgres_url))
    back = Database(f"sqlite:///{tmp_path / 'back.db'}")
    try:
        migrate.upgrade(sqlite)
        with sqlite.write() as conn:
            fill_every_table(conn)
        assert copy_database(sqlite, pg, batch_size=2).verified
        assert migrate.current_revision(pg) == migrate.head_revision()
        with sqlite.read() as a, pg.read() as b:
            assert dump(b) == dump(a)

        # the sequences continue above the copied values
        with pg.write() as conn:
            highest = (
                conn.execute(select(t.messages.c.seq).order_by(t.messages.c.seq.desc())).scalars().first()
            )
            agent = conn.execute(select(t.agents.c.id, t.agents.c.organization_id)).first()
            assert agent is not None and highest is not None
            seq = conn.execute(
                insert(t.messages)
                .values(
                    id="message-new",
                    organization_id=agent.organization_id,
                    agent_id=agent.id,
                    role="user",
                    created_at=WHEN,
                )
                .returning(t.messages.c.seq)
            ).scalar_one()
            assert seq > highest
            conn.execute(t.messages.delete().where(t.messages.c.seq == seq))

        assert copy_database(pg, back).verified
        with sqlite.read() as a, back.read() as c:
            assert dump(c) == dump(a)
    finally:
        for db in (sqlite, pg, back):
            db.dispose()


async def test_agents_on_postgres_answer_and_search_as_they_did_on_sqlite(
    client: httpx.AsyncClient,
    app: FastAPI,
    scripted: ScriptedModel,
    registry: ModelRegistry,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """The acceptance test of `memfold db copy`: populate SQLite through the API, copy it to
    PostgreSQL, serve from PostgreSQL; the agents answer and search as they did."""
    ids = await populate(client, app, scripted)
    target = Database(postgres_url)
    try:
        report = copy_database(app.state.memfold.db, target)
        assert report.verified and report.source_rows["message_search"] > 0
    finally:
        target.dispose()

    on_sqlite = await observe(client, scripted, ids)
    async with serving(tmp_path / "pg-home", postgres_url, registry) as pg_client:
        on_postgres = await observe(pg_client, scripted, ids)
    assert on_postgres == on_sqlite


def test_a_copy_from_postgres_is_a_snapshot_while_a_server_writes(tmp_path: Path, postgres_url: str) -> None:
    sqlite = Database(f"sqlite:///{tmp_path / 'source.db'}")
    pg = Database(postgres_url)
    out = Database(f"sqlite:///{tmp_path / 'out.db'}")
    try:
        migrate.upgrade(sqlite)
        with sqlite.write() as conn:
            fill_every_table(conn)
        copy_database(sqlite, pg)
        copy_while_writing(pg, out)
    finally:
        for db in (sqlite, pg, out):
            db.dispose()


def test_a_postgres_database_is_not_copied_onto_itself(postgres_url: str) -> None:
    a, b = Database(postgres_url), Database(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        migrate.upgrade(a)
        with pytest.raises(BadRequestError, match="same database"):
            copy_database(a, b, replace=True)
    finally:
        a.dispose()
        b.dispose()
