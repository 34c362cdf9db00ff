"""Learning from a folder: an agent reads a folder's chunks one at a time, as a background run, and
records what matters in its own memory.

`start_learning` queues one durable run (`request.kind = "learn_folder"`); `FolderLearning` executes
it for the run workers (memfold/runs/workers.py dispatches by kind). Each chunk is one ordinary
turn of the agent (`AgentLoop.send`): a user message that says what it is ("chunk 3 of 40 of file
payments.md") and asks the agent to keep what matters in its memory blocks and archival memory,
so its usual tools, eviction and summaries apply. Files go in upload order, chunks in file order.

Progress is derived from committed state: a chunk's message carries the otid
`learn:<run id>:<passage id>` and lands with its turn's first step, atomically, so after a crash
the run continues with the first chunk whose message is not stored (none is read twice); a turn a
crash cut short after that first step is finished first, without its input. The run's metadata
(`metadata.learning`) shows chunks done / total and the current file; it is rewritten before each
chunk. Chunks an agent has already learned from the folder (in any earlier learning run) are
skipped unless `relearn` is asked, so a failed or cancelled learning is resumed by starting it again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from memfold.agent.loop import AgentLoop
from memfold.errors import BadRequestError, ConflictError, MemfoldError
from memfold.runs import queue
from memfold.schemas.base import utcnow
from memfold.schemas.messages import MessageCreate
from memfold.schemas.runs import ACTIVE_STATUSES
from memfold.store import agents as agent_rows
from memfold.store import folders as folder_rows
from memfold.store import tables as t
from memfold.store.engine import Database
from memfold.store.folders import FolderRecord

__all__ = ["LEARN_KIND", "MAX_STALLED_STARTS", "Chunk", "FolderLearning", "chunk_message", "start_learning"]

log = logging.getLogger("memfold.learning")

LEARN_KIND = "learn_folder"
"""The `kind` of a learning run's stored request."""
MARKER = "learn:"
"""Prefix of the otid of every chunk message: `learn:<run id>:<passage id>`."""
MAX_STALLED_STARTS = 3
"""A learning run started this many times in a row without learning a chunk (it crashed its process
each time) is failed instead of tried again."""
FAILED_STOPS = ("llm_api_error", "context_window_overflow_in_system_prompt", "error")
"""Stop reasons of a chunk's turn that end the learning run as failed."""


@dataclass(frozen=True, slots=True)
class Chunk:
    passage_id: str
    file_id: str
    file_name: str
    index: int
    """1-based position in its file."""
    of: int
    """How many chunks its file has."""


def chunk_message(
    chunk: Chunk, folder_name: str, number: int, total: int, text: str, otid: str
) -> MessageCreate:
    """The user message that hands the agent one chunk to learn from."""
    header = (
        f"[Learning from folder {folder_name!r}: chunk {chunk.index} of {chunk.of} of file "
        f"{chunk.file_name} ({number} of {total} overall)]"
    )
    instruction = (
        "This is part of a document you are studying, not a message from a person, and nobody is "
        "waiting for a reply. Read it and keep what matters in your memory: put the key facts that "
        "should always be in front of you (who, what, rules, numbers, decisions) into your core memory "
        "blocks, and insert the details you may need to look up later into archival memory, in your "
        "own words and with enough context to stand alone. Skip what you already know."
    )
    return MessageCreate(role="user", content=f"{header}\n{instruction}\n\n---\n{text}", otid=otid)


def marker(run_id: str, passage_id: str) -> str:
    return f"{MARKER}{run_id}:{passage_id}"


def plan(conn: Connection, folder: FolderRecord) -> list[Chunk]:
    """Every chunk of the folder's processed files: files in upload order, chunks in file order."""
    chunks: list[Chunk] = []
    for file in folder_rows.list_files(conn, folder.id, limit=None, order="asc"):
        if file.processing_status != "completed":
            continue
        query = (
            select(t.passages.c.id)
            .join(t.passage_tags, t.passage_tags.c.passage_seq == t.passages.c.seq)
            .where(
                t.passage_tags.c.archive_id == folder.archive_id,
                t.passage_tags.c.tag == folder_rows.chunk_tag(file.id),
            )
            .order_by(t.passages.c.seq)
        )
        ids = [str(row[0]) for row in conn.execute(query)]
        chunks.extend(Chunk(p, file.id, file.file_name, i + 1, len(ids)) for i, p in enumerate(ids))
    return chunks


def learned(conn: Connection, agent_id: str) -> list[tuple[str, str, str | None]]:
    """(learning run id, passage id, the chunk turn's run id) of every chunk message the agent has."""
    query = select(t.messages.c.otid, t.messages.c.run_id).where(
        t.messages.c.agent_id == agent_id, t.messages.c.otid.like(f"{MARKER}%")
    )
    found: list[tuple[str, str, str | None]] = []
    for otid, turn_run in conn.execute(query):
        run_id, _, passage_id = str(otid).removeprefix(MARKER).partition(":")
        found.append((run_id, passage_id, turn_run))
    return found


def start_learning(conn: Connection, org_id: str, agent_id: str, folder_id: str, *, relearn: bool) -> str:
    """Queue a learning run of the agent over the folder; its id. The folder need not be attached."""
    agent_rows.get_agent(conn, org_id, agent_id)
    folder = folder_rows.get_folder(conn, org_id, folder_id)
    for file in folder_rows.list_files(conn, folder.id, limit=None):
        if file.processing_status in folder_rows.UNFINISHED:
            raise ConflictError(
                f"file {file.file_name!r} of folder {folder.name!r} is still being processed "
                f"({file.processing_status}); start learning when it has completed"
            )
    chunks = plan(conn, folder)
    if not chunks:
        raise BadRequestError(f"folder {folder.name!r} has no processed file to learn from")
    known = set() if relearn else {passage for _, passage, _ in learned(conn, agent_id)}
    done = sum(1 for chunk in chunks if chunk.passage_id in known)
    c = t.runs.c
    active = conn.execute(
        select(c.id, c.request).where(c.agent_id == agent_id, c.status.in_(ACTIVE_STATUSES))
    )
    for run_id, request in active:
        if (
            isinstance(request, dict)
            and request.get("kind") == LEARN_KIND
            and request.get("folder_id") == folder.id
        ):
            raise ConflictError(f"the agent is already learning from folder {folder.name!r} (run {run_id})")
    request = {"kind": LEARN_KIND, "folder_id": folder.id, "relearn": relearn}
    progress = {
        "folder_id": folder.id,
        "folder_name": folder.name,
        "chunks_done": done,
        "chunks_total": len(chunks),
    }
    return queue.enqueue(conn, org_id, agent_id, request, metadata={"learning": progress})


class FolderLearning:
    """Executes learning runs (registered with the run workers under `LEARN_KIND`)."""

    def __init__(self, db: Database, loop: AgentLoop) -> None:
        self.db = db
        self.loop = loop

    async def execute(self, claim: queue.Claim) -> None:
        """Learn the run's remaining chunks, then complete it. Raises (a `MemfoldError` with the reason)
        to fail the run; progress stays, so a new learning run resumes it."""
        run_id = claim.run_id
        self.loop.active_runs.add(run_id)  # the dispatcher renews the leases of active runs
        try:
            await self._learn(claim)
        finally:
            self.loop.active_runs.discard(run_id)
            self.loop.cancelled.discard(run_id)

    async def _learn(self, claim: queue.Claim) -> None:
        run_id = claim.run_id
        folder, chunks, done, unfinished, progress = await asyncio.to_thread(self._resume, claim)
        for turn_run in unfinished:  # a chunk's turn cut short by a crash: finish it, without its input
            await self._turn(claim, [], turn_run, progress, "a chunk whose turn was interrupted")
        total = len(chunks)
        count = sum(1 for c in chunks if c.passage_id in done)
        for chunk in chunks:
            if chunk.passage_id in done:
                continue
            if run_id in self.loop.cancelled:
                break
            progress.update(chunks_done=count, current_file=chunk.file_name, current_chunk=chunk.index)
            text = await asyncio.to_thread(self._prepare, run_id, chunk.passage_id, progress)
            if text is None:  # the chunk's file was deleted (or replaced) since the run started
                total -= 1
                progress["chunks_total"] = total
                continue
            otid = marker(run_id, chunk.passage_id)
            message = chunk_message(chunk, folder.name, count + 1, total, text, otid)
            where = f"chunk {chunk.index} of {chunk.of} of file {chunk.file_name}"
            await self._turn(claim, [message], None, progress, where, done_after=count + 1)
            count += 1
        cancelled = run_id in self.loop.cancelled and count < total
        progress.update(chunks_done=count, chunks_total=total, current_file=None, current_chunk=None)
        await asyncio.to_thread(self._finish, run_id, progress, "cancelled" if cancelled else "completed")

    async def _turn(
        self,
        claim: queue.Claim,
        inputs: list[MessageCreate],
        turn_run: str | None,
        progress: dict[str, Any],
        where: str,
        *,
        done_after: int | None = None,
    ) -> None:
        """One turn of the agent. Raises `MemfoldError` with the reason when it failed; when its input
        had committed by then, the progress says so (`done_after`) first."""
        try:
            result = await self.loop.send(claim.organization_id, claim.agent_id, inputs, run_id=turn_run)
        except MemfoldError as e:  # raised before anything of the turn committed
            raise MemfoldError(f"learning stopped at {where}: {e.message}") from e
        except Exception as e:  # a bug: still say where
            raise MemfoldError(f"learning stopped at {where}: {type(e).__name__}: {e}") from e
        if result.stop_reason in FAILED_STOPS:
            reason = await asyncio.to_thread(self._run_error, result.run_id) or result.stop_reason
        elif result.stop_reason == "requires_approval":
            reason = "the agent is waiting for approval of a tool call; answer it, then start learning again"
        else:
            return
        if done_after is not None:
            progress["chunks_done"] = done_after
            await asyncio.to_thread(self._save, claim.run_id, progress)
        raise MemfoldError(f"learning stopped at {where}: {reason}")

    # --- database side (run in a worker thread) ---------------------------------------------------

    def _resume(
        self, claim: queue.Claim
    ) -> tuple[FolderRecord, list[Chunk], set[str], list[str], dict[str, Any]]:
        request = claim.request
        with self.db.write() as conn:
            folder = folder_rows.get_folder(conn, claim.organization_id, str(request.get("folder_id")))
            chunks = plan(conn, folder)
            relearn = bool(request.get("relearn"))
            done: set[str] = set()
            turn_runs: set[str] = set()
            for learning_run, passage_id, turn_run in learned(conn, claim.agent_id):
                if learning_run == claim.run_id and turn_run is not None:
                    turn_runs.add(turn_run)
                if not relearn or learning_run == claim.run_id:
                    done.add(passage_id)
            unfinished = [
                str(r)
                for r in conn.execute(
                    select(t.runs.c.id).where(
                        t.runs.c.id.in_(sorted(turn_runs)), t.runs.c.status == "running"
                    )
                ).scalars()
            ]
            row = conn.execute(select(t.runs.c.metadata).where(t.runs.c.id == claim.run_id)).scalar_one()
            metadata: dict[str, Any] = dict(row) if isinstance(row, dict) else {}
            progress: dict[str, Any] = dict(metadata.get("learning") or {})
            count = sum(1 for c in chunks if c.passage_id in done)
            stalled = int(progress.get("stalled_starts", 0))
            stalled = stalled + 1 if claim.attempts > 1 and progress.get("done_at_start") == count else 0
            if stalled >= MAX_STALLED_STARTS:
                raise MemfoldError(
                    f"the learning run was started {MAX_STALLED_STARTS} times in a row without learning a "
                    "chunk; giving up"
                )
            progress.update(
                folder_id=folder.id,
                folder_name=folder.name,
                chunks_done=count,
                chunks_total=len(chunks),
                done_at_start=count,
                stalled_starts=stalled,
            )
            self._write(conn, claim.run_id, progress)
        return folder, chunks, done, unfinished, progress

    def _prepare(self, run_id: str, passage_id: str, progress: dict[str, Any]) -> str | None:
        """Record the progress (the chunk about to be learned) and read the chunk's text; None when the
        chunk no longer exists. Raises when the run was ended meanwhile (e.g. its agent was deleted)."""
        with self.db.write() as conn:
            if not self._write(conn, run_id, progress):
                raise MemfoldError("the learning run was ended while it ran")
            text = conn.execute(select(t.passages.c.text).where(t.passages.c.id == passage_id)).scalar()
        return None if text is None else str(text)

    def _write(self, conn: Connection, run_id: str, progress: dict[str, Any]) -> bool:
        c = t.runs.c
        row = conn.execute(select(c.metadata).where(c.id == run_id)).scalar()
        metadata = {**(row if isinstance(row, dict) else {}), "learning": dict(progress)}
        result = conn.execute(
            update(t.runs).where(c.id == run_id, c.status == "running").values(metadata=metadata)
        )
        return bool(result.rowcount)

    def _save(self, run_id: str, progress: dict[str, Any]) -> None:
        with self.db.write() as conn:
            self._write(conn, run_id, progress)

    def _finish(self, run_id: str, progress: dict[str, Any], status: str) -> None:
        with self.db.write() as conn:
            self._write(conn, run_id, progress)
            stop = "cancelled" if status == "cancelled" else "end_turn"
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.status == "running")
                .values(status=status, stop_reason=stop, completed_at=utcnow())
            )
        log.info(
            "learning run %s %s (%s of %s chunks)",
            run_id,
            status,
            progress["chunks_done"],
            progress["chunks_total"],
        )

    def _run_error(self, run_id: str) -> str | None:
        with self.db.read() as conn:
            error = conn.execute(select(t.runs.c.error).where(t.runs.c.id == run_id)).scalar()
        return None if error is None else str(error)
