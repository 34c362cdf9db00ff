"""Folders attached to agents, and each agent's view of their files (open or closed, its window,
last access). A file is the agent's while its folder is attached; the rows go with the file, the
folder or the agent (foreign keys cascade)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from memfold.schemas.base import utcnow
from memfold.store import tables as t
from memfold.store.folders import FolderRecord
from memfold.store.passages import as_utc

__all__ = [
    "AgentFile",
    "agent_file_list",
    "agents_of_folder",
    "attach_folder",
    "close_files",
    "contents",
    "detach_folder",
    "folders_of_agent",
    "folders_of_agents",
    "is_attached",
    "open_file",
]


@dataclass(slots=True)
class AgentFile:
    """One file of a folder attached to the agent, with the agent's state of it (no text)."""

    file_id: str
    file_name: str
    folder_id: str
    folder_name: str
    processing_status: str
    error_message: str | None
    created_at: datetime
    is_open: bool
    start_line: int | None
    end_line: int | None
    total_lines: int | None
    visible_content: str | None
    last_accessed_at: datetime | None

    @property
    def path(self) -> str:
        """How the agent names the file: `folder/file`."""
        return f"{self.folder_name}/{self.file_name}"


_FOLDER_FIELDS = tuple(f.name for f in fields(FolderRecord))


def _folder(row: Any) -> FolderRecord:
    values = {name: row[name] for name in _FOLDER_FIELDS}
    values["created_at"], values["updated_at"] = as_utc(row["created_at"]), as_utc(row["updated_at"])
    return FolderRecord(**values)


# --- folders ---------------------------------------------------------------------------------


def is_attached(conn: Connection, agent_id: str, folder_id: str) -> bool:
    query = select(t.agent_folders.c.folder_id).where(
        t.agent_folders.c.agent_id == agent_id, t.agent_folders.c.folder_id == folder_id
    )
    return conn.execute(query).first() is not None


def attach_folder(conn: Connection, agent_id: str, folder_id: str) -> bool:
    """Attach the folder; False when it already was."""
    if is_attached(conn, agent_id, folder_id):
        return False
    conn.execute(insert(t.agent_folders).values(agent_id=agent_id, folder_id=folder_id, created_at=utcnow()))
    return True


def detach_folder(conn: Connection, agent_id: str, folder_id: str) -> bool:
    """Detach the folder and forget the agent's state of its files; False when it was not attached."""
    conn.execute(
        delete(t.agent_files).where(
            t.agent_files.c.agent_id == agent_id, t.agent_files.c.folder_id == folder_id
        )
    )
    result = conn.execute(
        delete(t.agent_folders).where(
            t.agent_folders.c.agent_id == agent_id, t.agent_folders.c.folder_id == folder_id
        )
    )
    return bool(result.rowcount)


def agents_of_folder(conn: Connection, folder_id: str) -> list[str]:
    """The ids of the agents the folder is attached to, in the order they attached it."""
    query = (
        select(t.agent_folders.c.agent_id)
        .where(t.agent_folders.c.folder_id == folder_id)
        .order_by(t.agent_folders.c.created_at, t.agent_folders.c.agent_id)
    )
    return [str(row[0]) for row in conn.execute(query)]


def folders_of_agents(conn: Connection, agent_ids: list[str]) -> dict[str, list[FolderRecord]]:
    """Each agent's attached folders, in the order they were attached."""
    result: dict[str, list[FolderRecord]] = {agent_id: [] for agent_id in agent_ids}
    if not agent_ids:
        return result
    query = (
        select(t.agent_folders.c.agent_id, t.folders)
        .join(t.folders, t.folders.c.id == t.agent_folders.c.folder_id)
        .where(t.agent_folders.c.agent_id.in_(agent_ids))
        .order_by(t.agent_folders.c.created_at, t.folders.c.name)
    )
    for row in conn.execute(query).mappings():
        result[row["agent_id"]].append(_folder(row))
    return result


def folders_of_agent(conn: Connection, agent_id: str) -> list[FolderRecord]:
    return folders_of_agents(conn, [agent_id])[agent_id]


# --- files -----------------------------------------------------------------------------------

_FILE_COLUMNS = (
    t.folder_files.c.id.label("file_id"),
    t.folder_files.c.file_name,
    t.folder_files.c.folder_id,
    t.folders.c.name.label("folder_name"),
    t.folder_files.c.processing_status,
    t.folder_files.c.error_message,
    t.folder_files.c.created_at,
    t.agent_files.c.is_open,
    t.agent_files.c.start_line,
    t.agent_files.c.end_line,
    t.agent_files.c.total_lines,
    t.agent_files.c.visible_content,
    t.agent_files.c.last_accessed_at,
)


def _agent_file(row: Any) -> AgentFile:
    accessed = row["last_accessed_at"]
    return AgentFile(
        file_id=row["file_id"],
        file_name=row["file_name"],
        folder_id=row["folder_id"],
        folder_name=row["folder_name"],
        processing_status=row["processing_status"],
        error_message=row["error_message"],
        created_at=as_utc(row["created_at"]),
        is_open=bool(row["is_open"]),
        start_line=row["start_line"],
        end_line=row["end_line"],
        total_lines=row["total_lines"],
        visible_content=row["visible_content"],
        last_accessed_at=as_utc(accessed) if accessed is not None else None,
    )


def agent_file_list(
    conn: Connection, agent_id: str, *, is_open: bool | None = None, file_ids: list[str] | None = None
) -> list[AgentFile]:
    """The files of the agent's folders (oldest first, then by name), with its state of each."""
    state = and_(t.agent_files.c.agent_id == agent_id, t.agent_files.c.file_id == t.folder_files.c.id)
    query = (
        select(*_FILE_COLUMNS)
        .select_from(t.agent_folders)
        .join(t.folders, t.folders.c.id == t.agent_folders.c.folder_id)
        .join(t.folder_files, t.folder_files.c.folder_id == t.agent_folders.c.folder_id)
        .outerjoin(t.agent_files, state)
        .where(t.agent_folders.c.agent_id == agent_id)
        .order_by(t.folder_files.c.created_at, t.folder_files.c.id)
    )
    if is_open is True:
        query = query.where(t.agent_files.c.is_open.is_(True))
    elif is_open is False:
        query = query.where((t.agent_files.c.is_open.is_(None)) | (t.agent_files.c.is_open.is_(False)))
    if file_ids is not None:
        query = query.where(t.folder_files.c.id.in_(file_ids))
    return [_agent_file(row) for row in conn.execute(query).mappings()]


def contents(conn: Connection, file_ids: list[str]) -> dict[str, str]:
    """The parsed text of the files that have one (processing completed)."""
    found: dict[str, str] = {}
    for i in range(0, len(file_ids), 500):
        query = select(t.folder_files.c.id, t.folder_files.c.content).where(
            t.folder_files.c.id.in_(file_ids[i : i + 500]), t.folder_files.c.content.is_not(None)
        )
        found.update({row[0]: row[1] for row in conn.execute(query)})
    return found


def open_file(
    conn: Connection,
    agent_id: str,
    file: AgentFile,
    *,
    start_line: int,
    end_line: int,
    total_lines: int,
    visible: str,
    at: datetime,
) -> None:
    """Mark the file open with this window, last used `at`."""
    values = {
        "is_open": True,
        "start_line": start_line,
        "end_line": end_line,
        "total_lines": total_lines,
        "visible_content": visible,
        "last_accessed_at": at,
    }
    result = conn.execute(
        update(t.agent_files)
        .where(t.agent_files.c.agent_id == agent_id, t.agent_files.c.file_id == file.file_id)
        .values(**values)
    )
    if not result.rowcount:
        conn.execute(
            insert(t.agent_files).values(
                agent_id=agent_id, file_id=file.file_id, folder_id=file.folder_id, **values
            )
        )


def close_files(conn: Connection, agent_id: str, file_ids: list[str] | None = None) -> int:
    """Close the given files (every open file with None); how many were open."""
    query = update(t.agent_files).where(
        t.agent_files.c.agent_id == agent_id, t.agent_files.c.is_open.is_(True)
    )
    if file_ids is not None:
        query = query.where(t.agent_files.c.file_id.in_(file_ids))
    result = conn.execute(query.values(is_open=False, visible_content=None))
    return int(result.rowcount)
