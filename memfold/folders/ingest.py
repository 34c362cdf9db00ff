"""The ingestion job of an uploaded file: parse, chunk, embed in batches, store; never in the request.

A file moves `pending` -> `parsing` -> `embedding` (with `total_chunks` and a growing
`chunks_embedded`) -> `completed`, or ends in `error` with a reason. Each batch of chunks is
embedded, then inserted together with the new `chunks_embedded` in one transaction that first
checks the file still exists, so a file deleted (or replaced) mid-way gets no more chunks. A
failure deletes every chunk already stored, so an `error` file has none.

Jobs are asyncio tasks of the server process (`FileIngestion`), at most `concurrency` at once.
The uploaded bytes live only in memory: a job cut short by a crash or shutdown cannot resume,
so at startup `recover_files()` ends every unfinished file in `error` ("upload it again") and deletes
its partial chunks.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from memfold.errors import MemfoldError, ProviderError
from memfold.folders.chunking import chunk_document, chunk_limits
from memfold.folders.document import FileParseError
from memfold.folders.parsing import parse_file
from memfold.memory.archival import ArchivalStore, PassageInput
from memfold.memory.embedding import embedding_handle
from memfold.memory.vectors import VectorCollections
from memfold.store import archives as archive_rows
from memfold.store import folders as folder_rows
from memfold.store import passages as passage_rows
from memfold.store.archives import ArchiveRecord
from memfold.store.engine import Database
from memfold.store.folders import FileRecord, FolderRecord
from memfold.store.passages import NewPassage

__all__ = ["BATCH_SIZE", "INTERRUPTED", "FileIngestion", "IngestJob", "forget_chunks", "recover_files"]

log = logging.getLogger(__name__)

BATCH_SIZE = 64
"""Chunks embedded (one embedder call) and stored (one transaction) at a time."""
INTERRUPTED = "processing was interrupted by a server restart; upload the file again"


class _Gone(Exception):
    """The file was deleted while it was being processed."""


@dataclass(frozen=True, slots=True)
class IngestJob:
    org_id: str
    folder: FolderRecord
    file: FileRecord
    data: bytes
    declared_type: str | None = None


class FileIngestion:
    """Runs ingestion jobs as background tasks of the server process."""

    def __init__(
        self, db: Database, archival: ArchivalStore, *, concurrency: int = 2, batch_size: int = BATCH_SIZE
    ) -> None:
        self.db = db
        self.archival = archival
        self.batch_size = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, job: IngestJob) -> asyncio.Task[None]:
        """Start `job` in the background; the request that uploaded the file returns at once."""
        task = asyncio.create_task(self.run(job), name=f"ingest {job.file.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Until every submitted job has ended (tests, benchmarks, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel running jobs; their files stay unfinished and `recover_files()` ends them at next start."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, job: IngestJob) -> None:
        """The whole job for one file; never raises (a failure is stored as the file's error)."""
        async with self._limit:
            try:
                await self._ingest(job)
            except _Gone:
                log.info("file %s was deleted while being processed", job.file.id)
            except FileParseError as e:
                await self._fail(job, str(e))
            except ProviderError as e:
                await self._fail(job, f"embedding failed: {e}")
            except MemfoldError as e:
                await self._fail(job, str(e))
            except Exception as e:  # a bug: keep the server up, tell the user, log the trace
                log.exception("ingestion of file %s failed", job.file.id)
                await self._fail(job, f"internal error while processing the file: {type(e).__name__}: {e}")

    async def _set(self, file_id: str, **values: object) -> None:
        def write() -> None:
            with self.db.write() as conn:
                if not folder_rows.update_file(conn, file_id, **values):
                    raise _Gone

        await asyncio.to_thread(write)

    async def _ingest(self, job: IngestJob) -> None:
        file, folder = job.file, job.folder
        await self._set(file.id, processing_status="parsing")
        size, overlap = chunk_limits(folder.chunk_size)

        def parse() -> tuple[str, list[str]]:
            document = parse_file(file.original_file_name, job.data, job.declared_type or file.file_type)
            return document.text, chunk_document(document, size, overlap)

        text, chunks = await asyncio.to_thread(parse)

        def archive_handle() -> str:
            with self.db.read() as conn:
                return embedding_handle(
                    archive_rows.get_archive(conn, job.org_id, folder.archive_id).embedding_config
                )

        handle = await asyncio.to_thread(archive_handle)
        await self._set(file.id, processing_status="embedding", total_chunks=len(chunks), chunks_embedded=0)
        tag = folder_rows.chunk_tag(file.id)
        for start in range(0, len(chunks), self.batch_size):
            items = [
                PassageInput(
                    chunk,
                    [tag],
                    {
                        "file_id": file.id,
                        "file_name": file.file_name,
                        "source_id": folder.id,
                        "chunk": start + i,
                    },
                )
                for i, chunk in enumerate(chunks[start : start + self.batch_size])
            ]
            passages = await self.archival.prepare(handle, items, split=False)
            await asyncio.to_thread(self._store_batch, job, passages, start + len(items))
        await self._set(file.id, processing_status="completed", content=text, error_message=None)

    def _store_batch(self, job: IngestJob, passages: list[NewPassage], done: int) -> None:
        with self.db.write() as conn:
            if not folder_rows.update_file(conn, job.file.id, chunks_embedded=done):
                raise _Gone
            passage_rows.insert_passages(conn, job.org_id, job.folder.archive_id, passages)

    async def _fail(self, job: IngestJob, reason: str) -> None:
        log.info("file %s (%s) ends in error: %s", job.file.id, job.file.file_name, reason)

        def write() -> tuple[ArchiveRecord, list[int]]:
            with self.db.write() as conn:
                archive = archive_rows.get_archive(conn, job.org_id, job.folder.archive_id)
                seqs = folder_rows.delete_chunks(conn, archive.id, job.file.id)
                folder_rows.update_file(
                    conn, job.file.id, processing_status="error", error_message=reason, chunks_embedded=0,
                    content=None,
                )  # fmt: skip
            return archive, seqs

        try:
            archive, seqs = await asyncio.to_thread(write)
        except Exception:  # the database itself failed: recovery at the next start ends the file
            log.exception("cannot record the failure of file %s", job.file.id)
            return
        forget_chunks(self.archival, archive, seqs)


def forget_chunks(archival: ArchivalStore, archive: ArchiveRecord, seqs: list[int]) -> None:
    """Drop deleted chunks from the in-process vector index of their archive."""
    if seqs:
        handle = embedding_handle(archive.embedding_config)
        archival.vectors.remove(VectorCollections.name("archive", archive.id, handle), seqs)


def recover_files(db: Database, archival: ArchivalStore) -> int:
    """End every file an earlier process left unfinished in `error` with its partial chunks
    deleted; how many. Call it at startup, before any new upload."""
    with db.write() as conn:
        unfinished = folder_rows.unfinished_files(conn)
        for file, archive_id in unfinished:
            folder_rows.delete_chunks(conn, archive_id, file.id)
            folder_rows.update_file(
                conn, file.id, processing_status="error", error_message=INTERRUPTED, chunks_embedded=0
            )
    for archive_id in {archive_id for _, archive_id in unfinished}:
        archival.forget_archive(archive_id)
    return len(unfinished)
