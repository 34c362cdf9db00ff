"""Archival search latency at 10,000 and 100,000 passages, on SQLite with the local embedding.

A synthetic corpus (Zipf-distributed made-up words, 12-40 per passage, 0-2 of 40 tags,
creation dates spread over a year) is ingested in bulk into one archive: embedded with
`local/hash-384` and inserted 5,000 passages per transaction. Then `ArchivalStore.search`
-- the code path of the API route and of the `archival_memory_search` tool: query embedding,
BM25 over FTS5, vector search, reciprocal-rank fusion, fetching the rows -- is timed for
`--queries` queries in three shapes: no filter, one tag, and a one-month date range.

At 10,000 passages the vectors are searched exactly (numpy); at 100,000 an HNSW graph
(usearch) serves them. Its build time is reported separately (the first search after the
ingest waits for it here; the server builds it in the background and searches exactly
meanwhile). For comparison the 100,000 case is also run exactly, as without `memfold[vector]`.

    python -m bench.archival_search [--sizes 10000 100000] [--queries 200] [--top-k 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._report import save_result
from bench.step_overhead import BackgroundLoad, machine_info
from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalStore, PassageInput
from memfold.memory.embedding import embedding_config_for
from memfold.memory.vectors import HNSW_AVAILABLE, VectorCollections
from memfold.server.app import open_database
from memfold.store import archives as archive_rows
from memfold.store import passages as passage_rows
from memfold.store.archives import ArchiveRecord
from memfold.store.orgs import DEFAULT_ORG_ID

HANDLE = "local/hash-384"
TAGS = [f"topic-{i}" for i in range(40)]
START = datetime(2025, 1, 1, tzinfo=UTC)
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["an", "el", "or", "ix", "um"]


class Corpus:
    """Deterministic synthetic text: a Zipfian vocabulary of made-up words."""

    def __init__(self, seed: int = 7, vocabulary: int = 30_000) -> None:
        self.rng = random.Random(seed)
        words: list[str] = []
        seen: set[str] = set()
        while len(words) < vocabulary:
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 4)))
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(vocabulary)]
        total = sum(weights)
        self.cumulative = list(_accumulate(w / total for w in weights))

    def word(self) -> str:
        index = _bisect(self.cumulative, self.rng.random())
        return self.words[min(index, len(self.words) - 1)]

    def passage(self, index: int) -> PassageInput:
        text = " ".join(self.word() for _ in range(self.rng.randint(12, 40)))
        tags = self.rng.sample(TAGS, k=self.rng.choice((0, 0, 1, 1, 2)))
        created = START + timedelta(seconds=self.rng.randint(0, 365 * 86_400))
        return PassageInput(f"{text}.", tags, None, created)

    def query(self) -> str:
        # Mid-frequency words, as a person's query would use: not the commonest, not unseen ones.
        return " ".join(self.words[self.rng.randint(50, 5_000)] for _ in range(self.rng.randint(2, 5)))


def _accumulate(values: Any) -> Any:
    total = 0.0
    for value in values:
        total += value
        yield total


def _bisect(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative)
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@dataclass
class Latency:
    passages: int
    index: str
    shape: str
    queries: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    mean_results: float

    @classmethod
    def of(cls, passages: int, index: str, shape: str, durations: list[float], results: list[int]) -> Latency:
        cuts = statistics.quantiles(durations, n=100, method="inclusive")
        return cls(
            passages=passages,
            index=index,
            shape=shape,
            queries=len(durations),
            p50_ms=round(cuts[49] * 1000, 2),
            p95_ms=round(cuts[94] * 1000, 2),
            mean_ms=round(statistics.fmean(durations) * 1000, 2),
            mean_results=round(statistics.fmean(results), 1),
        )


async def ingest(
    store: ArchivalStore, archive: ArchiveRecord, corpus: Corpus, count: int, start: int
) -> float:
    """Insert `count` passages in bulk; the seconds it took."""
    began = time.perf_counter()
    for offset in range(0, count, 5000):
        items = [corpus.passage(start + i) for i in range(offset, min(count, offset + 5000))]
        passages = await store.prepare(HANDLE, items)

        def write(batch: list[Any] = passages) -> None:
            with store.db.write() as conn:
                passage_rows.insert_passages(conn, DEFAULT_ORG_ID, archive.id, batch)

        await asyncio.to_thread(write)
    return time.perf_counter() - began


async def measure(
    store: ArchivalStore, archive: ArchiveRecord, size: int, corpus: Corpus, queries: int, top_k: int
) -> list[Latency]:
    texts = [corpus.query() for _ in range(queries)]
    tags = [corpus.rng.choice(TAGS) for _ in range(queries)]
    months = [START + timedelta(days=30 * corpus.rng.randint(0, 10)) for _ in range(queries)]
    index = store.vectors.synced(
        VectorCollections.name("archive", archive.id, HANDLE), lambda a, n: [], lambda u: 0
    ).index
    kind = "HNSW (usearch)" if index is not None and index.is_hnsw else "exact (numpy)"
    shapes: dict[str, Callable[[int], dict[str, Any]]] = {
        "no filter": lambda i: {},
        "tag filter (1 of 40 tags)": lambda i: {"tags": [tags[i]]},
        "date range (30 days)": lambda i: {"start": months[i], "end": months[i] + timedelta(days=30)},
    }
    results = []
    for shape, filters in shapes.items():
        durations, counts = [], []
        for i, query in enumerate(texts):
            began = time.perf_counter()
            hits = await store.search([archive], query, top_k=top_k, **filters(i))
            durations.append(time.perf_counter() - began)
            counts.append(len(hits))
        results.append(Latency.of(size, kind, shape, durations, counts))
    return results


async def run(sizes: list[int], queries: int, top_k: int) -> tuple[list[Latency], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="memfold-bench-archival-") as tmp:
        db = open_database(Settings(home=Path(tmp)))
        registry = ModelRegistry(environ={})
        store = ArchivalStore(db, registry, VectorCollections(background=False))
        with db.write() as conn:
            archive = archive_rows.insert_archive(
                conn,
                DEFAULT_ORG_ID,
                "archive-bench",
                {"name": "bench", "embedding_config": embedding_config_for(HANDLE)},
            )
        corpus = Corpus()
        latencies: list[Latency] = []
        notes: dict[str, Any] = {"ingest": [], "first_search_s": {}}
        have = 0
        for size in sorted(sizes):
            seconds = await ingest(store, archive, corpus, size - have, have)
            notes["ingest"].append({"passages": size - have, "seconds": round(seconds, 1)})
            print(f"ingested {size - have} passages in {seconds:.1f} s", flush=True)
            have = size
            began = time.perf_counter()
            await store.search([archive], corpus.query(), top_k=top_k)  # loads vectors, builds HNSW if due
            notes["first_search_s"][str(size)] = round(time.perf_counter() - began, 2)
            print(f"first search at {size}: {notes['first_search_s'][str(size)]} s", flush=True)
            latencies.extend(await measure(store, archive, size, corpus, queries, top_k))
        if HNSW_AVAILABLE and max(sizes) >= 20_000:  # the same, searched exactly (no memfold[vector])
            exact = ArchivalStore(db, registry, VectorCollections(use_hnsw=False))
            await exact.search([archive], corpus.query(), top_k=top_k)
            latencies.extend(await measure(exact, archive, have, corpus, queries, top_k))
        notes["db_bytes"] = (Path(tmp) / "memfold.db").stat().st_size
        machine = machine_info(db)
        db.dispose()
        return latencies, {**notes, "machine": machine}


def markdown(latencies: list[Latency]) -> str:
    rows = [
        "| passages | vector index | query | queries | p50 ms | p95 ms | mean ms | results |",
        "|--:|---|---|--:|--:|--:|--:|--:|",
    ]
    rows += [
        f"| {x.passages:,} | {x.index} | {x.shape} | {x.queries} | {x.p50_ms:.2f} | {x.p95_ms:.2f} "
        f"| {x.mean_ms:.2f} | {x.mean_results} |"
        for x in latencies
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.archival_search", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200, help="timed queries per shape (default 200)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    load = BackgroundLoad()
    latencies, notes = asyncio.run(run(args.sizes, args.queries, args.top_k))
    notes["background_load_percent"] = load.percent()
    notes["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(markdown(latencies))
    print(json.dumps({k: v for k, v in notes.items() if k != "machine"}))
    if not args.no_save:
        save_result("archival_search", {"results": [asdict(x) for x in latencies], **notes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
