"""Folder ingestion throughput (MB/min, chunks/s) and search latency over what was ingested.

A synthetic corpus of Markdown files (headings every few paragraphs, Zipf-distributed made-up
words, the generator of bench.archival_search) is uploaded through the real API
(`POST /v1/folders/{id}/upload`, multipart, in-process over httpx's ASGI transport) to one
folder with the local embedding `local/hash-384` and the default chunk size (300 tokens,
about 1,200 characters). The clock runs from the first upload to the moment every file is
`completed`: parsing, chunking, embedding in batches and storing, by the background jobs
(two at a time, the server's default). Then `--queries` hybrid searches run over the
folder's archive (the path of `/v1/passages/search`).

    python -m bench.ingest [--mb 4] [--file-kb 256] [--queries 100]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.step_overhead import machine_info
from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.server.app import create_app
from memfold.store import archives as archive_rows
from memfold.store import folders as folder_rows
from memfold.store.orgs import DEFAULT_ORG_ID

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


class Corpus:
    """Deterministic made-up words with a Zipfian frequency, so BM25 and vectors have work to do."""

    def __init__(self, seed: int = 7, vocabulary: int = 20_000) -> None:
        self.rng = random.Random(seed)
        words = {"".join(self.rng.choices(_SYLLABLES, k=self.rng.randint(2, 4))) for _ in range(vocabulary)}
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        self.cumulative = list(
            itertools.accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(len(self.words)))
        )

    def sentence(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=n))

    def word(self) -> str:
        return self.sentence(1)

    def query(self) -> str:
        return " ".join(self.words[self.rng.randint(50, 5_000)] for _ in range(self.rng.randint(2, 5)))


def markdown_file(corpus: Corpus, size: int, index: int) -> bytes:
    parts = [f"# Document {index}"]
    length = 0
    section = 0
    while length < size:
        if len(parts) % 6 == 1:
            section += 1
            parts.append(f"## Section {section} {corpus.word()}")
        sentences = [
            corpus.sentence(corpus.rng.randint(6, 18)).capitalize() + "."
            for _ in range(corpus.rng.randint(2, 7))
        ]
        parts.append(" ".join(sentences))
        length += len(parts[-1]) + 2
    return "\n\n".join(parts).encode()


async def measure(total_mb: float, file_kb: int, queries: int, home: Path) -> dict[str, Any]:
    corpus = Corpus()
    files = [markdown_file(corpus, file_kb * 1024, i) for i in range(max(1, int(total_mb * 1024 // file_kb)))]
    size = sum(len(f) for f in files)
    app = create_app(Settings(home=home), ModelRegistry(environ={}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client,
    ):
        folder = (await client.post("/v1/folders/", json={"name": "bench"})).json()
        started = time.perf_counter()
        ids = []
        for i, data in enumerate(files):
            response = await client.post(
                f"/v1/folders/{folder['id']}/upload", files={"file": (f"doc-{i}.md", data, "text/markdown")}
            )
            ids.append(response.json()["id"])
        uploaded = time.perf_counter() - started
        await app.state.file_ingestion.wait()
        elapsed = time.perf_counter() - started
        listed = (await client.get(f"/v1/folders/{folder['id']}/files")).json()
        statuses = {f["processing_status"] for f in listed}
        chunks = sum(f["total_chunks"] or 0 for f in listed)
        if statuses != {"completed"} or len(listed) != len(ids):
            raise SystemExit(f"ingestion did not complete: {statuses}")

        db = app.state.memfold.db
        archival = app.state.memfold.loop.external.archival
        with db.read() as conn:
            archive = archive_rows.get_archive(
                conn, DEFAULT_ORG_ID, folder_rows.get_folder(conn, DEFAULT_ORG_ID, folder["id"]).archive_id
            )
        await archival.search([archive], corpus.query(), top_k=10)  # loads the vector index
        latencies = []
        for _ in range(queries):
            query = corpus.query()
            t0 = time.perf_counter()
            await archival.search([archive], query, top_k=10)
            latencies.append((time.perf_counter() - t0) * 1000)
        info = machine_info(db)
    latencies.sort()
    return {
        "files": len(files),
        "mb": round(size / 1_000_000, 2),
        "chunks": chunks,
        "upload_s": round(uploaded, 2),
        "ingest_s": round(elapsed, 2),
        "mb_per_min": round(size / 1_000_000 / elapsed * 60, 1),
        "chunks_per_s": round(chunks / elapsed, 1),
        "search_p50_ms": round(statistics.median(latencies), 1),
        "search_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "machine": info,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--mb", type=float, default=4.0, help="corpus size in MB (default 4)")
    parser.add_argument("--file-kb", type=int, default=256, help="size of each file in KB (default 256)")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        r = asyncio.run(measure(args.mb, args.file_kb, args.queries, Path(home)))
    print(f"{r['files']} Markdown files, {r['mb']} MB, {r['chunks']} chunks, local/hash-384, SQLite\n")
    print("| MB/min | chunks/s | ingest wall time | search p50 | search p95 |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {r['mb_per_min']} | {r['chunks_per_s']} | {r['ingest_s']} s | "
        f"{r['search_p50_ms']} ms | {r['search_p95_ms']} ms |"
    )
    print()
    for key, value in r["machine"].items():
        print(f"- {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
