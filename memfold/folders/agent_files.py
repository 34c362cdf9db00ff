"""Folders attached to an agent, and what the agent does with their files: open a window of lines,
grep, search by meaning.

- Attaching a folder attaches the file tools (`FILE_TOOLS`) to the agent; detaching its last
  folder detaches them. Detaching a folder closes its files (the agent's state of them is dropped).
- Open files are rows of `agent_files`: the window (first and last line, the visible text, the
  file's line count) and the last access. At most `max_files_open` are open: opening more closes
  the least recently used (an explicit open, by the tool or the API, is a use).
- `AgentFiles` is one agent's view, used by the file tools (memfold.tools.files) during a step.
  Their writes (open/close) commit at once, not with the step: the open set is a view, like a
  cursor, not memory; a step that fails after opening a file leaves it open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from memfold.context.tokens import estimate_text
from memfold.errors import NotFoundError, ToolError
from memfold.folders.grep import GrepFile, grep, included
from memfold.folders.views import (
    FileWindow,
    file_limits,
    files_budget,
    locate,
    numbered,
    render_file,
    render_files,
    view_window,
)
from memfold.memory.archival import ArchivalStore
from memfold.schemas.agents import AgentState, EmbeddingConfig
from memfold.schemas.base import utcnow
from memfold.schemas.context import FileStatus
from memfold.schemas.folders import Folder
from memfold.store import agent_files as rows
from memfold.store import archives as archive_rows
from memfold.store import folders as folder_rows
from memfold.store import tools as tool_rows
from memfold.store.agent_files import AgentFile
from memfold.store.agents import AgentRecord
from memfold.store.engine import Database
from memfold.store.folders import FolderRecord

__all__ = [
    "FILE_TOOLS",
    "AgentFiles",
    "FileRequest",
    "FilesView",
    "OpenResult",
    "attach_folder",
    "detach_everywhere",
    "detach_folder",
    "file_statuses",
    "files_view",
    "open_windows",
]

FILE_TOOLS = ("open_files", "grep_files", "semantic_search_files")
DEFAULT_SEARCH_LIMIT = 5
MAX_SEARCH_LIMIT = 20
MAX_HIT_CHARS = 1_200


# --- attaching folders -----------------------------------------------------------------------


def attach_folder(conn: Connection, org_id: str, agent_id: str, folder_id: str) -> FolderRecord:
    """Attach the folder (idempotent) and the file tools."""
    folder = folder_rows.get_folder(conn, org_id, folder_id)
    rows.attach_folder(conn, agent_id, folder.id)
    for tool in tool_rows.tools_by_name(conn, org_id, list(FILE_TOOLS)).values():
        tool_rows.attach_tool(conn, agent_id, tool.id)
    return folder


def detach_folder(conn: Connection, org_id: str, agent_id: str, folder_id: str) -> None:
    """Detach the folder, closing its files; the file tools go with the last folder."""
    folder_rows.get_folder(conn, org_id, folder_id)
    if not rows.detach_folder(conn, agent_id, folder_id):
        raise NotFoundError(f"folder {folder_id!r} is not attached to agent {agent_id!r}")
    if not rows.folders_of_agent(conn, agent_id):
        for tool in tool_rows.tools_by_name(conn, org_id, list(FILE_TOOLS)).values():
            tool_rows.detach_tool(conn, agent_id, tool.id)


def detach_everywhere(conn: Connection, org_id: str, folder_id: str) -> None:
    """Detach the folder from every agent (before it is deleted)."""
    for agent_id in rows.agents_of_folder(conn, folder_id):
        detach_folder(conn, org_id, agent_id, folder_id)


AGENT_SETTINGS = ("max_files_open", "per_file_view_window_char_limit")
"""The agent fields that bound its open files."""


def replace_folders(
    conn: Connection, org_id: str, agent_id: str, folder_ids: list[str] | None, source_ids: list[str] | None
) -> None:
    """Make `folder_ids` (+ Letta's older `source_ids`) the agent's folders, when either is given (an
    update): detach the others, attach these."""
    if folder_ids is None and source_ids is None:
        return
    wanted = list(dict.fromkeys([*(folder_ids or []), *(source_ids or [])]))
    for folder_id in wanted:
        folder_rows.get_folder(conn, org_id, folder_id)  # NotFoundError before any change
    for folder in rows.folders_of_agent(conn, agent_id):
        if folder.id not in wanted:
            detach_folder(conn, org_id, agent_id, folder.id)
    for folder_id in wanted:
        attach_folder(conn, org_id, agent_id, folder_id)


def folder_schema(conn: Connection, org_id: str, folder: FolderRecord) -> Folder:
    archive = archive_rows.get_archive(conn, org_id, folder.archive_id)
    config = {**archive.embedding_config, "embedding_chunk_size": folder.chunk_size}
    return Folder(
        id=folder.id,
        name=folder.name,
        description=folder.description,
        instructions=folder.instructions,
        metadata=folder.metadata,
        embedding_config=EmbeddingConfig.model_validate(config),
        created_at=folder.created_at,
        updated_at=folder.updated_at,
    )


def add_folder_fields(conn: Connection, records: list[AgentRecord], states: list[AgentState]) -> None:
    """Fill the agents' `sources` (attached folders), `memory.file_blocks` (their files, with the
    window of the open ones) and effective file limits."""
    folders = rows.folders_of_agents(conn, [r.id for r in records])
    for record, state in zip(records, states, strict=True):
        state.max_files_open, state.per_file_view_window_char_limit = file_limits(record)
        attached = folders[record.id]
        if not attached:
            continue
        state.sources = [
            folder_schema(conn, record.organization_id, f).model_dump(mode="json") for f in attached
        ]
        state.memory.file_blocks = [
            {
                "label": f.path,
                "file_id": f.file_id,
                "source_id": f.folder_id,
                "is_open": f.is_open,
                "value": numbered(f.visible_content or "", f.start_line or 1) if f.is_open else "",
                "last_accessed_at": f.last_accessed_at.isoformat() if f.last_accessed_at else None,
            }
            for f in rows.agent_file_list(conn, record.id)
        ]


# --- what the context shows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilesView:
    folders: list[FolderRecord]
    files: list[AgentFile]
    max_open: int
    text: str
    """The `<files>` part of the system prompt ("" without folders)."""


def files_view(conn: Connection, agent: AgentRecord) -> FilesView:
    folders = rows.folders_of_agent(conn, agent.id)
    max_open, _ = file_limits(agent)
    if not folders:
        return FilesView([], [], max_open, "")
    files = rows.agent_file_list(conn, agent.id)
    return FilesView(folders, files, max_open, render_files(folders, files, max_open, files_budget(agent)))


def file_statuses(view: FilesView, scale: Callable[[int], int]) -> list[FileStatus]:
    """The context overview's list of files, with the (calibrated, by `scale`) tokens each takes."""
    return [
        FileStatus(
            file_id=f.file_id,
            file_name=f.path,
            folder_id=f.folder_id,
            folder_name=f.folder_name,
            processing_status=f.processing_status,
            is_open=f.is_open,
            start_line=f.start_line if f.is_open else None,
            end_line=f.end_line if f.is_open else None,
            total_lines=f.total_lines,
            last_accessed_at=f.last_accessed_at,
            num_tokens=scale(estimate_text(render_file(f))),
        )
        for f in view.files
    ]


# --- opening ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRequest:
    file: AgentFile
    offset: int | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class OpenResult:
    opened: list[tuple[AgentFile, FileWindow]]
    closed: list[AgentFile]
    """Files closed to make room (least recently used) or by `close_others`."""


def open_windows(
    conn: Connection, agent: AgentRecord, requests: list[FileRequest], *, close_others: bool = False
) -> OpenResult:
    """Open each requested file at its window, then close the least recently used open files past
    the agent's limit. All checks come before any write: a bad request changes nothing."""
    max_open, char_limit = file_limits(agent)
    ids = [r.file.file_id for r in requests]
    if len(set(ids)) != len(ids):
        raise ToolError("the same file is requested twice; ask for each file once")
    if len(requests) > max_open:
        raise ToolError(f"at most {max_open} files can be open at once; you asked for {len(requests)}")
    texts = rows.contents(conn, ids)
    windows: list[tuple[AgentFile, FileWindow]] = []
    for request in requests:
        file = request.file
        if file.file_id not in texts:
            state = file.processing_status
            why = (
                f"failed: {file.error_message}" if state == "error" else f"is still being processed ({state})"
            )
            raise ToolError(f"{file.path} cannot be opened: it {why}")
        window = view_window(texts[file.file_id], request.offset, request.length, char_limit)
        windows.append((file, window))
    now = utcnow()
    for i, (file, window) in enumerate(windows):  # later requests count as used later
        rows.open_file(
            conn,
            agent.id,
            file,
            start_line=window.start_line,
            end_line=window.end_line,
            total_lines=window.total_lines,
            visible=window.text,
            at=now + timedelta(microseconds=i),
        )
    others = [f for f in rows.agent_file_list(conn, agent.id, is_open=True) if f.file_id not in set(ids)]
    others.sort(key=lambda f: (f.last_accessed_at or now, f.file_id))
    closing = others if close_others else others[: max(0, len(others) + len(windows) - max_open)]
    if closing:
        rows.close_files(conn, agent.id, [f.file_id for f in closing])
    return OpenResult(windows, closing)


def describe_open(result: OpenResult) -> str:
    lines = []
    for file, window in result.opened:
        if window.total_lines == 0:
            lines.append(f"Opened {file.path} (an empty file).")
            continue
        note = (
            f"; the view limit stopped it there: open with offset={window.end_line + 1} to read on"
            if window.cut
            else ""
        )
        lines.append(
            f"Opened {file.path}: lines {window.start_line}-{window.end_line} of {window.total_lines}{note}."
        )
    if result.closed:
        lines.append("Closed: " + ", ".join(f.path for f in result.closed) + ".")
    lines.append("Open files show under <files> in your context.")
    return " ".join(lines)


# --- one agent's view, for its tools ----------------------------------------------------------


class AgentFiles:
    """The files of one agent's folders, as its file tools see them."""

    def __init__(self, db: Database, archival: ArchivalStore, org_id: str, agent: AgentRecord) -> None:
        self.db = db
        self.archival = archival
        self.org_id = org_id
        self.agent = agent

    def _files(self) -> list[AgentFile]:
        with self.db.read() as conn:
            return rows.agent_file_list(conn, self.agent.id)

    @staticmethod
    def resolve(files: list[AgentFile], name: str) -> AgentFile:
        """The file a name means: `folder/file`, or a bare file name that only one folder has."""
        wanted = name.strip()
        exact = [f for f in files if f.path == wanted]
        if exact:
            return exact[0]
        by_name = [f for f in files if f.file_name == wanted]
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            paths = ", ".join(f.path for f in by_name)
            raise ToolError(f"{wanted!r} is in several folders ({paths}); name it as folder/file")
        if not files:
            raise ToolError("no folder with files is attached to you")
        known = ", ".join(f.path for f in files[:20]) + (" ..." if len(files) > 20 else "")
        raise ToolError(f"there is no file {wanted!r}; your files: {known}")

    async def open(self, requests: list[tuple[str, int | None, int | None]], close_others: bool) -> str:
        if not requests:
            raise ToolError("file_requests is empty: name at least one file to open")

        def run() -> str:
            with self.db.write() as conn:
                files = rows.agent_file_list(conn, self.agent.id)
                wanted = [FileRequest(self.resolve(files, n), o, ln) for n, o, ln in requests]
                return describe_open(open_windows(conn, self.agent, wanted, close_others=close_others))

        return await asyncio.to_thread(run)

    async def grep(self, pattern: str, include: str | None, context_lines: int, offset: int) -> str:
        def run() -> str:
            files = [f for f in self._files() if included(f.path, include)]
            if not files:
                raise ToolError(
                    f"no file matches include={include!r}" if include else "no folder with files is attached"
                )
            with self.db.read() as conn:
                texts = rows.contents(conn, [f.file_id for f in files])
            searched = [GrepFile(f.path, texts[f.file_id]) for f in files if f.file_id in texts]
            return grep(searched, pattern, context_lines=context_lines, offset=offset)

        return await asyncio.to_thread(run)

    async def search(self, query: str, limit: int | None) -> str:
        if not query.strip():
            raise ToolError("query is empty: say what to look for")
        count = DEFAULT_SEARCH_LIMIT if limit is None else limit
        if count < 1:
            raise ToolError("limit must be at least 1")
        count = min(count, MAX_SEARCH_LIMIT)

        def folders() -> tuple[list[FolderRecord], list[archive_rows.ArchiveRecord], list[AgentFile]]:
            with self.db.read() as conn:
                attached = rows.folders_of_agent(conn, self.agent.id)
                archives = [archive_rows.get_archive(conn, self.org_id, f.archive_id) for f in attached]
                return attached, archives, rows.agent_file_list(conn, self.agent.id)

        attached, archives, files = await asyncio.to_thread(folders)
        if not attached:
            raise ToolError("no folder is attached to you")
        hits = await self.archival.search(archives, query, top_k=count)
        by_id = {f.file_id: f for f in files}
        found = [(hit, by_id.get(str((hit.passage.metadata or {}).get("file_id")))) for hit in hits]
        found = [(hit, file) for hit, file in found if file is not None]
        if not found:
            return f"No passages of your files match {query!r}."

        def texts() -> dict[str, str]:
            with self.db.read() as conn:
                return rows.contents(conn, list({file.file_id for _, file in found if file is not None}))

        contents = await asyncio.to_thread(texts)
        parts = [f"{len(found)} best passages for {query!r}, best first:"]
        for rank, (hit, file) in enumerate(found, start=1):
            assert file is not None
            chunk = (hit.passage.metadata or {}).get("chunk")
            where = locate(contents.get(file.file_id, ""), hit.passage.text)
            lines = f", lines {where[0]}-{where[1]}" if where else ""
            text = hit.passage.text
            if len(text) > MAX_HIT_CHARS:
                text = f"{text[:MAX_HIT_CHARS]} [... {len(text) - MAX_HIT_CHARS} more characters]"
            parts.append(f"[{rank}] {file.path} (chunk {chunk}{lines}):\n{text}")
        return "\n\n".join(parts)
