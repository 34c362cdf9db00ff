"""The stores below the API: wide filters over an HNSW index, index persistence, re-embedding recall."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import select

from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.memory import archival
from memfold.memory.archival import ArchivalStore, PassageInput
from memfold.memory.embedding import embedding_config_for
from memfold.memory.vectors import HNSW_AVAILABLE, VectorCollections
from memfold.server.app import open_database
from memfold.store import archives as archive_rows
from memfold.store import migrate
from memfold.store import tables as t
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.helpers import create_agent

needs_hnsw = pytest.mark.skipif(not HNSW_AVAILABLE, reason="needs memfold[vector] (usearch)")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(Settings(home=tmp_path / "home"))
    yield database
    database.dispose()


def new_archive(db: Database) -> archive_rows.ArchiveRecord:
    with db.write() as conn:
        return archive_rows.insert_archive(
            conn,
            DEFAULT_ORG_ID,
            "archive-test",
            {"name": "t", "embedding_config": embedding_config_for(None)},
        )


@needs_hnsw
async def test_a_wide_filter_over_an_hnsw_index_still_fills_top_k(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archival, "EXACT_LIMIT", 5)  # so 40 tagged passages count as a wide filter
    vectors = VectorCollections(hnsw_threshold=100, background=False)
    store = ArchivalStore(db, ModelRegistry(environ={}), vectors)
    archive = new_archive(db)
    items = [PassageInput(f"garden log {i}: watered the roses and the tulips") for i in range(260)]
    items += [PassageInput(f"roses bed {i} pruned", tags=["pruning"]) for i in range(40)]
    await store.add(DEFAULT_ORG_ID, archive, items)

    hits = await store.search([archive], "roses", top_k=12, tags=["pruning"])
    assert len(hits) == 12 and all(h.passage.tags == ["pruning"] for h in hits)
    name = VectorCollections.name("archive", archive.id, "local/hash-384")
    index = vectors.synced(name, lambda after, limit: [], lambda up_to: 0).index
    assert index is not None and index.is_hnsw and len(index) == 300


@needs_hnsw
async def test_the_hnsw_index_is_saved_and_reloaded_without_rebuilding(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "vectors"
    store = ArchivalStore(
        db, ModelRegistry(environ={}), VectorCollections(directory, hnsw_threshold=50, background=False)
    )
    archive = new_archive(db)
    await store.add(
        DEFAULT_ORG_ID, archive, [PassageInput(f"note number {i} about kites") for i in range(80)]
    )
    first = await store.search([archive], "kites 42", top_k=1)
    store.vectors.save_all()
    assert sorted(p.suffix for p in directory.iterdir()) == [".json", ".usearch"]

    fetched: list[int] = []
    reloaded = VectorCollections(directory, hnsw_threshold=50, background=False)
    name = VectorCollections.name("archive", archive.id, "local/hash-384")

    def fetch(after: int, limit: int) -> list[tuple[int, bytes]]:
        fetched.append(after)
        return []

    collection = reloaded.synced(name, fetch, lambda up_to: 80)
    assert collection.index is not None and collection.index.is_hnsw and len(collection.index) == 80
    assert fetched == [collection.watermark] and collection.watermark > 0  # only rows newer than the save
    again = await ArchivalStore(db, ModelRegistry(environ={}), reloaded).search(
        [archive], "kites 42", top_k=1
    )
    assert again[0].passage.id == first[0].passage.id


async def test_recall_is_re_embedded_when_the_agent_changes_embedding(
    client: httpx.AsyncClient, scripted: ScriptedModel, app: object
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(tool_call_response("send_message", message="Pixel is a lovely name for a cat."))
    await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "My cat is called Pixel"})
    for handle in ("local/hash-384", "local/hash-128"):
        await client.patch(f"/v1/agents/{agent['id']}", json={"embedding": handle})
        scripted.enqueue(
            tool_call_response("conversation_search", query="cat name", request_heartbeat=True),
            tool_call_response("send_message", message="Pixel."),
        )
        body = (await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "my cat?"})).json()
        result = next(m for m in body["messages"] if m["message_type"] == "tool_return_message")
        assert "Pixel" in result["tool_return"]
        database: Database = app.state.memfold.db  # type: ignore[attr-defined]
        with database.read() as conn:
            rows = conn.execute(
                select(t.message_search.c.embedding_handle, t.message_search.c.embedding_dim).where(
                    t.message_search.c.agent_id == agent["id"], t.message_search.c.text != ""
                )
            ).all()
        assert rows and {tuple(r) for r in rows} == {(handle, int(handle.rsplit("-", 1)[1]))}


def test_migration_0002_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db)
    config = migrate.alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with db.read() as conn:
        names = {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert not names & {"passages", "passages_fts", "message_search_fts", "archives"}
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    db.dispose()
