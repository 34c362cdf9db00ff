"""Folders attached to agents, and the agent's files: `/v1/agents/{id}/folders` (list, attach,
detach), `/v1/agents/{id}/files` (list with open status, open, close, close-all) and
`/v1/folders/{id}/agents` (the agents a folder is attached to). Shapes of letta-client 1.12.

Opening through the API shows the file from its first line (as much as the agent's view limit
allows) and, like the `open_files` tool, closes the least recently used file past the limit;
the answer is the names of the files closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from memfold.agent import lifecycle
from memfold.errors import NotFoundError
from memfold.folders import agent_files
from memfold.folders.agent_files import FileRequest, open_windows
from memfold.folders.views import numbered
from memfold.schemas.agents import AgentState
from memfold.schemas.folders import Folder
from memfold.server.deps import Context, OrgId
from memfold.store import agent_files as rows
from memfold.store import agents as agent_rows
from memfold.store import folders as folder_rows
from memfold.store.agent_files import AgentFile
from memfold.store.paging import Order

router = APIRouter(tags=["agents"])


class AgentFileView(BaseModel):
    """Letta's `FileListResponse`: one file of the agent's folders and its state."""

    id: str
    """Of the agent-file relation (memfold: `<agent id>:<file id>`)."""
    file_id: str
    file_name: str
    folder_id: str
    folder_name: str
    is_open: bool
    start_line: int | None = None
    end_line: int | None = None
    last_accessed_at: datetime | None = None
    visible_content: str | None = None


class AgentFilePage(BaseModel):
    files: list[AgentFileView]
    next_cursor: str | None = None
    has_more: bool = False


def _page(items: list[str], before: str | None, after: str | None, limit: int | None) -> tuple[int, int]:
    """The slice [start, end) of `items` (ids in order) after/before the given cursors."""
    start, end = 0, len(items)
    if after is not None:
        if after not in items:
            raise NotFoundError(f"no item {after!r} to page after")
        start = items.index(after) + 1
    if before is not None:
        if before not in items:
            raise NotFoundError(f"no item {before!r} to page before")
        end = items.index(before)
        if limit is not None:
            start = max(start, end - limit)
    if limit is not None:
        end = min(end, start + limit)
    return start, max(start, end)


# --- folders of an agent -----------------------------------------------------------------------


@router.get("/v1/agents/{agent_id}/folders", response_model=list[Folder])
def list_agent_folders(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
    order_by: Literal["created_at"] = "created_at",
) -> list[Folder]:
    """The folders attached to the agent (newest first by default)."""
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        folders = sorted(rows.folders_of_agent(conn, agent_id), key=lambda f: (f.created_at, f.id))
        if order == "desc":
            folders.reverse()
        start, end = _page([f.id for f in folders], before, after, limit)
        return [agent_files.folder_schema(conn, org, f) for f in folders[start:end]]


@router.patch("/v1/agents/{agent_id}/folders/attach/{folder_id}", response_model=AgentState)
def attach_folder(agent_id: str, folder_id: str, ctx: Context, org: OrgId) -> AgentState:
    """Attach a folder: its files become the agent's, with the file tools."""
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        agent_files.attach_folder(conn, org, agent_id, folder_id)
        return lifecycle.agent_state(conn, org, agent_id)


@router.patch("/v1/agents/{agent_id}/folders/detach/{folder_id}", response_model=AgentState)
def detach_folder(agent_id: str, folder_id: str, ctx: Context, org: OrgId) -> AgentState:
    """Detach a folder and close its files; the file tools go with the last folder."""
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        agent_files.detach_folder(conn, org, agent_id, folder_id)
        return lifecycle.agent_state(conn, org, agent_id)


@router.get("/v1/folders/{folder_id}/agents", response_model=list[str])
def list_folder_agents(
    folder_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
) -> list[str]:
    """The ids of the agents the folder is attached to."""
    with ctx.db.read() as conn:
        ids = rows.agents_of_folder(conn, folder_rows.get_folder(conn, org, folder_id).id)
    start, end = _page(ids, before, after, limit)
    return ids[start:end]


# --- files of an agent -------------------------------------------------------------------------


def _file_view(agent_id: str, file: AgentFile) -> AgentFileView:
    visible = numbered(file.visible_content or "", file.start_line or 1) if file.is_open else None
    return AgentFileView(
        id=f"{agent_id}:{file.file_id}",
        file_id=file.file_id,
        file_name=file.path,
        folder_id=file.folder_id,
        folder_name=file.folder_name,
        is_open=file.is_open,
        start_line=file.start_line if file.is_open else None,
        end_line=file.end_line if file.is_open else None,
        last_accessed_at=file.last_accessed_at,
        visible_content=visible,
    )


@router.get("/v1/agents/{agent_id}/files", response_model=AgentFilePage)
def list_agent_files(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    cursor: str | None = None,
    is_open: bool | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 20,
    order: Order = "desc",
    order_by: Literal["created_at"] = "created_at",
) -> AgentFilePage:
    """The files of the agent's folders with their open/closed status (cursors are file ids)."""
    with ctx.db.read() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        files = rows.agent_file_list(conn, agent_id, is_open=is_open)
    if order == "desc":
        files.reverse()
    start, end = _page([f.file_id for f in files], before, after or cursor, limit)
    page = files[start:end]
    more = end < len(files)
    return AgentFilePage(
        files=[_file_view(agent_id, f) for f in page],
        next_cursor=page[-1].file_id if more and page else None,
        has_more=more,
    )


def _agent_file(conn_files: list[AgentFile], file_id: str, agent_id: str) -> AgentFile:
    for file in conn_files:
        if file.file_id == file_id:
            return file
    raise NotFoundError(f"file {file_id!r} is not in a folder attached to agent {agent_id!r}")


@router.patch("/v1/agents/{agent_id}/files/close-all", response_model=list[str])
def close_all_files(agent_id: str, ctx: Context, org: OrgId) -> list[str]:
    """Close every open file of the agent; the names of the files closed."""
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        names = [f.path for f in rows.agent_file_list(conn, agent_id, is_open=True)]
        rows.close_files(conn, agent_id)
    return names


@router.patch("/v1/agents/{agent_id}/files/{file_id}/open", response_model=list[str])
def open_file(agent_id: str, file_id: str, ctx: Context, org: OrgId) -> list[str]:
    """Open the file from its first line; the names of the files closed to stay within the limit."""
    with ctx.db.write() as conn:
        agent = agent_rows.get_agent(conn, org, agent_id)
        file = _agent_file(rows.agent_file_list(conn, agent_id), file_id, agent_id)
        result = open_windows(conn, agent, [FileRequest(file)])
    return [f.path for f in result.closed]


@router.patch("/v1/agents/{agent_id}/files/{file_id}/close")
def close_file(agent_id: str, file_id: str, ctx: Context, org: OrgId) -> dict[str, str]:
    """Close the file (it stays listed, closed)."""
    with ctx.db.write() as conn:
        agent_rows.get_agent(conn, org, agent_id)
        file = _agent_file(rows.agent_file_list(conn, agent_id), file_id, agent_id)
        rows.close_files(conn, agent_id, [file.file_id])
    return {"message": f"closed {file.path}"}
