"""PostgreSQL + pgvector: URLs, the migrated schema, exact embeddings, HNSW indexes, and search
that behaves like SQLite's (full text, vectors, hybrid)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from memfold.errors import ConfigurationError
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalStore, PassageInput
from memfold.memory.embedding import embedding_config_for
from memfold.memory.vectors import VectorCollections
from memfold.store import archives as archive_rows
from memfold.store import migrate, pg_vectors
from memfold.store import tables as t
from memfold.store.engine import Database, database_url
from memfold.store.fulltext import include_in_schema
from memfold.store.orgs import DEFAULT_ORG_ID, ensure_defaults
from memfold.store.passages import PassageFilter
from memfold.store.tables import metadata
from tests.postgres import TestPostgres


def test_postgres_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgresql://u:p@db.example/memfold", "postgres://u:p@db.example/memfold"):
        parsed = database_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.host, parsed.database, parsed.password) == ("db.example", "memfold", "p")
    assert database_url("sqlite:///x.db").drivername == "sqlite"
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `memfold[postgres]` were not installed
    with pytest.raises(ConfigurationError, match=r"pip install 'memfold\[postgres\]'"):
        database_url("postgresql://u@db.example/memfold")
    with pytest.raises(ConfigurationError, match="not a database URL"):
        database_url("not a url")


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    yield db
    db.dispose()


def _upgrade_to(db: Database, revision: str) -> None:
    config = migrate.alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_upgrade_from_empty_matches_the_declared_schema(pg: Database) -> None:
    migrate.upgrade(pg)
    assert migrate.current_revision(pg) == migrate.head_revision()
    with pg.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": include_in_schema, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []
        columns = {c["name"]: str(c["type"]) for c in inspect(conn).get_columns("passages")}
        assert columns["embedding"] == "VECTOR" and "text_search" in columns
        indexes = {i["name"] for i in inspect(conn).get_indexes("message_search")}
        assert "ix_message_search_text_search" in indexes


def test_every_migration_downgrades_to_empty_and_upgrades_again(pg: Database) -> None:
    migrate.upgrade(pg)
    config = migrate.alembic_config()
    with pg.write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with pg.read() as conn:
        assert set(inspect(conn).get_table_names()) - {"alembic_version"} == set()
    migrate.upgrade(pg)
    assert migrate.current_revision(pg) == migrate.head_revision()


def _odd_vector(dim: int, seed: int) -> bytes:
    vector = np.random.default_rng(seed).standard_normal(dim).astype("<f4")
    if dim <= pg_vectors.VECTOR_MAX_DIM:  # (halfvec, indexing larger ones, cannot hold 3.4e38)
        vector[:4] = [1e-40, -0.0, 3.4e38, -1.17549435e-38]  # subnormal, negative zero, extremes
    return vector.tobytes()


def _archive_row(conn_org: str = DEFAULT_ORG_ID) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": "archive-x",
        "organization_id": conn_org,
        "name": "x",
        "embedding_config": embedding_config_for(None),
        "vector_db_provider": "native",
        "created_at": now,
        "updated_at": now,
    }


def _passage_row(seq: int, blob: bytes, dim: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "seq": seq,
        "id": f"passage-{seq}",
        "organization_id": DEFAULT_ORG_ID,
        "archive_id": "archive-x",
        "text": f"passage {seq}",
        "embedding": blob,
        "embedding_handle": f"local/hash-{dim}",
        "embedding_dim": dim,
        "created_at": now,
        "updated_at": now,
    }


def test_migration_0007_converts_stored_embeddings_exactly_and_back(pg: Database) -> None:
    _upgrade_to(pg, "0006")
    blobs = {1: _odd_vector(384, 1), 2: _odd_vector(64, 2)}
    with pg.write() as conn:
        ensure_defaults(conn)
        archive = {k: v for k, v in _archive_row().items() if k != "embedding_config"}
        conn.execute(
            text(
                "INSERT INTO archives (id, organization_id, name, embedding_config, vector_db_provider, "
                "created_at, updated_at) VALUES (:id, :organization_id, :name, '{}', :vector_db_provider, "
                ":created_at, :updated_at)"
            ),
            archive,
        )
        for seq, blob in blobs.items():
            row = _passage_row(seq, blob, len(blob) // 4)
            names = ", ".join(row)
            values = ", ".join(f":{name}" for name in row)
            conn.execute(text(f"INSERT INTO passages ({names}) VALUES ({values})"), row)
    _upgrade_to(pg, "0007")
    with pg.read() as conn:
        stored = dict(conn.execute(select(t.passages.c.seq, t.passages.c.embedding)).all())
        indexes = {i["name"] for i in inspect(conn).get_indexes("passages")}
    assert stored == blobs
    assert {"ix_passages_embedding_384", "ix_passages_embedding_64"} <= indexes  # existing dimensions
    config = migrate.alembic_config()
    with pg.write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    with pg.read() as conn:
        raw: dict[int, bytes] = dict(conn.execute(text("SELECT seq, embedding FROM passages")).all())
    assert {seq: bytes(blob) for seq, blob in raw.items()} == blobs


@pytest.fixture
def migrated(postgres: TestPostgres) -> Iterator[Database]:
    url = postgres.migrated_database()
    db = Database(url)
    with db.write() as conn:
        ensure_defaults(conn)
    yield db
    db.dispose()
    postgres.release_database(url)


def test_embeddings_round_trip_exactly_and_each_dimension_gets_its_hnsw_index(migrated: Database) -> None:
    blobs = {1: _odd_vector(384, 1), 2: _odd_vector(64, 2), 3: _odd_vector(3072, 3), 4: _odd_vector(4096, 4)}
    with migrated.write() as conn:
        conn.execute(insert(t.archives), [_archive_row()])
        for seq, blob in blobs.items():
            pg_vectors.ensure_index(conn, "passages", [len(blob) // 4])
            conn.execute(insert(t.passages), [_passage_row(seq, blob, len(blob) // 4)])
    with migrated.read() as conn:
        stored = dict(conn.execute(select(t.passages.c.seq, t.passages.c.embedding)).all())
        definitions: dict[str, str] = dict(
            conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'passages'")
            ).all()
        )
    assert stored == blobs
    assert "vector(384)" in definitions["ix_passages_embedding_384"]
    assert "WHERE (embedding_dim = 64)" in definitions["ix_passages_embedding_64"]
    assert "halfvec(3072)" in definitions["ix_passages_embedding_3072"]  # past vector's 2,000 limit
    assert "ix_passages_embedding_4096" not in definitions  # past halfvec's 4,000: exact search


def test_concurrent_writers_create_a_new_dimensions_index_once(migrated: Database) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with migrated.write() as conn:
                barrier.wait()
                pg_vectors.ensure_index(conn, "message_search", [128])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with migrated.read() as conn:
        names = conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%embedding_128'"))
        assert names.scalars().all() == ["ix_message_search_embedding_128"]


# --- search ---------------------------------------------------------------------------------

TEXTS = [
    "Our wedding was in June, by the lake.",
    "Two weddings and a funeral, a film we watched twice.",
    "The café on Rue Cler serves a naïve but lovely crêpe.",
    "Mail bob@example.com about invoice INV-2024-0042 before Friday.",
    "The garden needs watering: roses, tulips and the old apple tree.",
    "Quarterly report for finance is due on Friday afternoon.",
    "The quokka is a small marsupial found on Rottnest Island.",
    "Snake_case identifiers like order_id and user_name are common in Python.",
]
FILLER = [f"Ordinary note {i} about the weather, the garden and the week ahead." for i in range(40)]


@pytest.fixture
def stores(migrated: Database, tmp_path: Path) -> Iterator[dict[str, ArchivalStore]]:
    sqlite = Database(f"sqlite:///{tmp_path / 'parity.db'}")
    migrate.upgrade(sqlite)
    with sqlite.write() as conn:
        ensure_defaults(conn)
    yield {
        name: ArchivalStore(db, ModelRegistry(environ={}), VectorCollections())
        for name, db in (("sqlite", sqlite), ("postgresql", migrated))
    }
    sqlite.dispose()


async def _fill(store: ArchivalStore, handle: str = "local/hash-384") -> archive_rows.ArchiveRecord:
    with store.db.write() as conn:
        archive = archive_rows.insert_archive(
            conn,
            DEFAULT_ORG_ID,
            f"archive-{handle[-3:]}",
            {"name": "p", "embedding_config": embedding_config_for(handle)},
        )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = [
        PassageInput(text, tags=["fact"] if i % 2 else ["note"], created_at=start + timedelta(days=i))
        for i, text in enumerate(TEXTS + FILLER)
    ]
    await store.add(DEFAULT_ORG_ID, archive, items)
    return archive


def _text_ranking(store: ArchivalStore, archive_id: str, words: list[str]) -> list[str]:
    from memfold.store import passages as passage_rows

    with store.db.read() as conn:
        seqs = passage_rows.text_ranked(conn, store.full_text, words, PassageFilter([archive_id]), 10)
        found = passage_rows.passages_by_seq(conn, seqs)
    return [found[seq].text for seq in seqs]


async def test_full_text_stems_folds_accents_splits_punctuation_and_ranks_like_sqlite(
    stores: dict[str, ArchivalStore],
) -> None:
    rankings: dict[str, dict[str, list[str]]] = {}
    for name, store in stores.items():
        archive = await _fill(store)
        rankings[name] = {
            query: _text_ranking(store, archive.id, query.split())
            for query in ("weddings", "cafe naive", "bob", "0042", "order", "quokka garden", "the")
        }
    for name, ranked in rankings.items():
        assert set(ranked["weddings"]) == {TEXTS[0], TEXTS[1]}, name  # stemming, both ways
        assert ranked["cafe naive"] == [TEXTS[2]], name  # accents folded
        assert ranked["bob"] == [TEXTS[3]] and ranked["0042"] == [TEXTS[3]], name  # e-mail, invoice split
        assert ranked["order"] == [TEXTS[7]], name  # underscores split words
        assert ranked["quokka garden"][0] == TEXTS[6], name  # the rare word outranks the common one
        assert len(ranked["the"]) == 10, name  # no stop words: every text has "the"
    assert rankings["postgresql"] == rankings["sqlite"] | {"the": rankings["postgresql"]["the"]}


async def test_hybrid_search_matches_sqlite_and_applies_filters_before_the_limit(
    stores: dict[str, ArchivalStore],
) -> None:
    results: dict[str, list[list[str]]] = {}
    for name, store in stores.items():
        archive = await _fill(store)
        searches = [
            await store.search([archive], "quokka marsupial", top_k=3),
            await store.search([archive], "wedding by a lake", top_k=3),
            await store.search([archive], "garden weather", top_k=12, tags=["fact"]),
            await store.search([archive], "garden weather", top_k=5, start=datetime(2026, 1, 20, tzinfo=UTC)),
        ]
        results[name] = [[hit.passage.text for hit in hits] for hits in searches]
        assert len(searches[2]) == 12 and all(hit.passage.tags == ["fact"] for hit in searches[2])
        assert len(searches[3]) == 5
        assert all(hit.passage.created_at >= datetime(2026, 1, 20, tzinfo=UTC) for hit in searches[3])
    assert results["postgresql"][0][0] == results["sqlite"][0][0] == TEXTS[6]
    assert results["postgresql"][1][0] == results["sqlite"][1][0] == TEXTS[0]
    for pg_texts, sqlite_texts in zip(results["postgresql"], results["sqlite"], strict=True):
        overlap = len(set(pg_texts) & set(sqlite_texts))
        assert overlap >= len(sqlite_texts) - 2, (pg_texts, sqlite_texts)


async def test_vector_search_uses_the_dimensions_hnsw_index_and_keeps_dimensions_apart(
    stores: dict[str, ArchivalStore],
) -> None:
    store = stores["postgresql"]
    small = await _fill(store, "local/hash-64")
    large = await _fill(store, "local/hash-384")
    query = (await store.models.embedder("local/hash-384").embed(["quokka marsupial"]))[0]
    conditions = [
        t.passages.c.archive_id.in_([small.id, large.id]),
        t.passages.c.embedding_handle == "local/hash-384",
    ]
    with store.db.read() as conn:
        conn.execute(
            text("SET LOCAL enable_seqscan = off")
        )  # a tiny table: make the planner show its options
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN "
                    + str(
                        pg_vectors.nearest_query(t.passages, conditions, query, 10).compile(
                            conn, compile_kwargs={"literal_binds": True}
                        )
                    )
                )
            ).scalars()
        )
        hits = pg_vectors.nearest(conn, t.passages, conditions, query, 10)
        archives = dict(conn.execute(select(t.passages.c.seq, t.passages.c.archive_id)).all())
    assert "ix_passages_embedding_384" in plan
    assert len(hits) == 10 and {archives[seq] for seq, _ in hits} == {large.id}
    both = await store.search([small, large], "quokka marsupial", top_k=2)
    assert [hit.passage.text for hit in both] == [TEXTS[6], TEXTS[6]]  # found in each dimension's archive


async def test_recall_indexes_a_message_that_commits_after_a_newer_one(migrated: Database) -> None:
    """On PostgreSQL `seq`s of concurrent transactions commit in any order: indexing must not
    skip a message whose `seq` is below one already indexed."""
    from memfold.memory.recall import RecallStore
    from memfold.store.agents import get_agent

    now = datetime.now(UTC)
    with migrated.write() as conn:
        conn.execute(
            insert(t.agents),
            [
                {
                    "id": "agent-x",
                    "organization_id": DEFAULT_ORG_ID,
                    "name": "x",
                    "agent_type": "memgpt_agent",
                    "system": "",
                    "model": "scripted/test",
                    "context_window_limit": 4000,
                    "llm_config": {},
                    "message_ids": [],
                    "tool_rules": [],
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )

    def message(seq: int, content: str) -> None:
        with migrated.write() as conn:
            row = {
                "seq": seq,
                "id": f"message-{seq}",
                "organization_id": DEFAULT_ORG_ID,
                "agent_id": "agent-x",
            }
            conn.execute(insert(t.messages), [{**row, "role": "user", "content": content, "created_at": now}])

    store = RecallStore(migrated, ModelRegistry(environ={}), VectorCollections())
    with migrated.read() as conn:
        agent = get_agent(conn, DEFAULT_ORG_ID, "agent-x")
    message(10, "we flew kites on the beach")
    assert [hit.entry.seq for hit in await store.search(agent, "kites", limit=5)] == [10]
    message(5, "then the balloons drifted over the sea")  # a smaller seq, committed later
    hits = await store.search(agent, "balloons", limit=5)
    assert [hit.entry.seq for hit in hits][:1] == [5]
