"""`python -m bench [name ...]`: run every benchmark (or the named ones) with its defaults."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import (
    archival_search,
    block_commit,
    db_copy,
    ingest,
    learning,
    mcp_sessions,
    multiprocess,
    pg_archival,
    recall_quality,
    run_queue,
    sandbox_overhead,
    sleeptime,
    step_history,
    step_overhead,
    stream_overhead,
    token_estimate,
)

BENCHMARKS: dict[str, Callable[[list[str]], int]] = {
    "step_overhead": step_overhead.main,
    "step_history": step_history.main,
    "token_estimate": token_estimate.main,
    "archival_search": archival_search.main,
    "pg_archival": pg_archival.main,
    "recall_quality": recall_quality.main,
    "block_commit": block_commit.main,
    "db_copy": db_copy.main,
    "ingest": ingest.main,
    "learning": learning.main,
    "run_queue": run_queue.main,
    "mcp_sessions": mcp_sessions.main,
    "multiprocess": multiprocess.main,
    "sandbox_overhead": sandbox_overhead.main,
    "stream_overhead": stream_overhead.main,
    "sleeptime": sleeptime.main,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run memfold's benchmarks.")
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"one of {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    status = 0
    for name in args.names or list(BENCHMARKS):
        print(f"# {name}\n", flush=True)
        status |= BENCHMARKS[name]([])
    return status


if __name__ == "__main__":
    sys.exit(main())
