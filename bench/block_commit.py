"""What shared blocks add to a step: the version check, and saving a block edit with its history.

Timed inside one open SQLite write transaction (WAL, temporary directory), so only the
statements memfold adds are measured, not the transaction's commit:

- `refresh, nothing changed`: the per-step version check of the agent's blocks (one query);
- `save an edit, no other writer`: one edit (a `core_memory_replace` of a
  2,000-character block) saved as the commit saves it (row read under lock,
  update with a version bump, a history row);
- `save an edit, other writer`: the same after another writer saved a version, so the edit is
  re-applied to the fresh value;
- `previous whole-value write`: what the commit did before (update + re-read), for comparison.

Each is run in batches; the table gives the median and the fastest batch, per operation.

    python -m bench.block_commit [--ops 2000] [--batch 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, update

from bench._report import report
from bench.step_overhead import BackgroundLoad, machine_info
from memfold.agent import lifecycle
from memfold.agent.session import load_session
from memfold.config import Settings
from memfold.schemas.agents import CreateAgent
from memfold.server.app import open_database
from memfold.store import blocks as block_rows
from memfold.store import tables as t
from memfold.store.message_cache import MessageCache
from memfold.store.orgs import DEFAULT_ORG_ID

SCRATCH = "tick " + "A fact the agent keeps. " * 80
"""A typical block of about 2,000 characters; each edit swaps `tick` and `tock`, so its size stays."""


def timed(op: Callable[[], None], *, ops: int, batch: int) -> tuple[float, float]:
    """Median and fastest batch, in microseconds per operation."""
    per_op = []
    for _ in range(ops // batch):
        started = time.perf_counter()
        for _ in range(batch):
            op()
        per_op.append((time.perf_counter() - started) / batch * 1e6)
    return statistics.median(per_op), min(per_op)


def run(home: Path, *, ops: int, batch: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    settings = Settings(home=home, default_model="scripted/bench")
    db = open_database(settings)
    request = CreateAgent(
        name="bench",
        model="scripted/bench",
        memory_blocks=[
            {"label": "human", "value": "Name: Ada. Likes tea."},
            {"label": "persona", "value": "I am a concise assistant."},
            {"label": "scratch", "value": SCRATCH},
        ],
        include_base_tools=False,
    )
    with db.write() as conn:
        agent_id = lifecycle.create_agent(conn, DEFAULT_ORG_ID, request, settings, None)
    session = load_session(db, DEFAULT_ORG_ID, agent_id, MessageCache())
    memory = session.memory
    scratch = memory.get("scratch").id
    results: list[dict[str, Any]] = []

    def record(name: str, op: Callable[[Connection], None]) -> None:
        with db.write() as conn:
            median, fastest = timed(lambda: op(conn), ops=ops, batch=batch)
        results.append({"operation": name, "median_us": round(median, 1), "fastest_us": round(fastest, 1)})

    def refresh(conn: Connection) -> None:
        memory.refresh(conn, agent_id)

    def save(conn: Connection) -> None:
        old, new = ("tick", "tock") if "tick" in memory.get("scratch").value else ("tock", "tick")
        memory.replace("scratch", old, new)
        memory.save(conn, DEFAULT_ORG_ID, agent_id)

    def save_after_other_writer(conn: Connection) -> None:
        conn.execute(update(t.blocks).where(t.blocks.c.id == scratch).values(version=t.blocks.c.version + 1))
        save(conn)

    def previous(conn: Connection) -> None:
        conn.execute(
            update(t.blocks)
            .where(t.blocks.c.id == scratch, t.blocks.c.organization_id == DEFAULT_ORG_ID)
            .values(value=memory.get("scratch").value + "x", version=t.blocks.c.version + 1)
        )
        block_rows.get_block(conn, DEFAULT_ORG_ID, scratch)

    record("refresh, nothing changed", refresh)
    record("save an edit, no other writer", save)
    record("save an edit, other writer", save_after_other_writer)
    record("previous whole-value write", previous)
    info = machine_info(db)
    db.dispose()
    return results, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.block_commit", description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    load = BackgroundLoad()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memfold-bench-") as tmp:
        results, machine = run(Path(tmp), ops=args.ops, batch=args.batch)
    machine["background_cpu_percent"] = load.percent()
    rows = ["| operation | median µs | fastest batch µs |", "|---|--:|--:|"]
    rows += [f"| {r['operation']} | {r['median_us']} | {r['fastest_us']} |" for r in results]
    report(
        "block_commit",
        "Shared blocks: version check and block save",
        table="\n".join(rows),
        machine=machine,
        command="python -m bench.block_commit " + " ".join(argv if argv is not None else sys.argv[1:]),
        settings={"ops": args.ops, "batch": args.batch},
        elapsed=time.perf_counter() - started,
        results=results,
        now=now,
        save=not args.no_save,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
