"""Folders and their files. A folder owns an archive (created and deleted with it) that holds
its files' chunks as passages tagged `file:<file id>`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from memfold.errors import ConflictError, NotFoundError
from memfold.schemas.base import utcnow
from memfold.store import archives as archive_rows
from memfold.store import tables as t
from memfold.store.paging import Order, paginate
from memfold.store.passages import as_utc

__all__ = [
    "UNFINISHED",
    "FileRecord",
    "FolderRecord",
    "chunk_tag",
    "count_files",
    "delete_chunks",
    "delete_file",
    "delete_folder",
    "file_by_name",
    "find_file",
    "get_file",
    "get_folder",
    "insert_file",
    "insert_folder",
    "list_files",
    "list_folders",
    "new_file_id",
    "new_folder_id",
    "unfinished_files",
    "update_file",
    "update_folder",
]

UNFINISHED = ("pending", "parsing", "embedding")
"""Statuses of a file whose ingestion job has not ended."""


def new_folder_id() -> str:
    return f"source-{uuid.uuid4()}"


def new_file_id() -> str:
    return f"file-{uuid.uuid4()}"


def chunk_tag(file_id: str) -> str:
    """The tag every chunk (passage) of a file carries."""
    return f"file:{file_id}"


@dataclass(slots=True)
class FolderRecord:
    id: str
    organization_id: str
    archive_id: str
    name: str
    description: str | None
    instructions: str | None
    metadata: dict[str, Any] | None
    chunk_size: int
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class FileRecord:
    id: str
    organization_id: str
    folder_id: str
    file_name: str
    original_file_name: str
    file_type: str | None
    file_size: int
    content_hash: str
    processing_status: str
    error_message: str | None
    total_chunks: int | None
    chunks_embedded: int | None
    content: str | None
    created_at: datetime
    updated_at: datetime


_FOLDER_FIELDS = tuple(f.name for f in fields(FolderRecord))
_FILE_FIELDS = tuple(f.name for f in fields(FileRecord))


def _folder(row: Any) -> FolderRecord:
    values = {name: row[name] for name in _FOLDER_FIELDS}
    values["created_at"], values["updated_at"] = as_utc(row["created_at"]), as_utc(row["updated_at"])
    return FolderRecord(**values)


def _file(row: Any) -> FileRecord:
    values = {name: row[name] for name in _FILE_FIELDS}
    values["created_at"], values["updated_at"] = as_utc(row["created_at"]), as_utc(row["updated_at"])
    return FileRecord(**values)


# --- folders ---------------------------------------------------------------------------------


def _check_name_free(conn: Connection, org_id: str, name: str, folder_id: str | None = None) -> None:
    query = select(t.folders.c.id).where(t.folders.c.organization_id == org_id, t.folders.c.name == name)
    if folder_id is not None:
        query = query.where(t.folders.c.id != folder_id)
    if conn.execute(query).first() is not None:
        raise ConflictError(f"a folder named {name!r} already exists")


def insert_folder(
    conn: Connection, org_id: str, values: dict[str, Any], embedding_config: dict[str, Any]
) -> FolderRecord:
    """A new folder (`name`, `description`, `instructions`, `metadata`, `chunk_size`) and its archive."""
    _check_name_free(conn, org_id, values["name"])
    folder_id = new_folder_id()
    archive = archive_rows.insert_archive(
        conn,
        org_id,
        f"archive-{uuid.uuid4()}",
        {
            "name": f"folder {values['name']}",
            "description": f"Chunks of the files of folder {folder_id}",
            "embedding_config": embedding_config,
            "metadata": {"folder_id": folder_id},
        },
    )
    now = utcnow()
    conn.execute(
        insert(t.folders).values(
            id=folder_id,
            organization_id=org_id,
            archive_id=archive.id,
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    return get_folder(conn, org_id, folder_id)


def get_folder(conn: Connection, org_id: str, folder_id: str) -> FolderRecord:
    row = (
        conn.execute(
            select(t.folders).where(t.folders.c.id == folder_id, t.folders.c.organization_id == org_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError.for_id("folder", folder_id)
    return _folder(row)


def list_folders(
    conn: Connection,
    org_id: str,
    *,
    name: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 50,
    order: Order = "asc",
) -> list[FolderRecord]:
    query = select(t.folders).where(t.folders.c.organization_id == org_id)
    if name is not None:
        query = query.where(t.folders.c.name == name)
    query = paginate(
        conn, query, t.folders, t.folders.c.created_at, before=before, after=after, limit=limit, order=order
    )
    return [_folder(row) for row in conn.execute(query).mappings()]


def update_folder(conn: Connection, org_id: str, folder_id: str, values: dict[str, Any]) -> FolderRecord:
    folder = get_folder(conn, org_id, folder_id)
    if values.get("name") is not None:
        _check_name_free(conn, org_id, values["name"], folder_id)
    if values:
        conn.execute(
            update(t.folders).where(t.folders.c.id == folder_id).values(updated_at=utcnow(), **values)
        )
    return get_folder(conn, org_id, folder.id)


def delete_folder(conn: Connection, org_id: str, folder_id: str) -> FolderRecord:
    """Delete the folder, its files and its archive (with every chunk)."""
    folder = get_folder(conn, org_id, folder_id)
    conn.execute(delete(t.folder_files).where(t.folder_files.c.folder_id == folder.id))
    conn.execute(delete(t.folders).where(t.folders.c.id == folder.id))
    archive_rows.delete_archive(conn, org_id, folder.archive_id)
    return folder


def count_files(conn: Connection, folder_id: str) -> int:
    query = select(func.count()).select_from(t.folder_files).where(t.folder_files.c.folder_id == folder_id)
    return int(conn.execute(query).scalar_one())


# --- files -----------------------------------------------------------------------------------


def insert_file(conn: Connection, org_id: str, folder_id: str, values: dict[str, Any]) -> FileRecord:
    now = utcnow()
    file_id = new_file_id()
    conn.execute(
        insert(t.folder_files).values(
            id=file_id, organization_id=org_id, folder_id=folder_id, created_at=now, updated_at=now, **values
        )
    )
    return get_file(conn, folder_id, file_id)


def find_file(conn: Connection, folder_id: str, file_id: str) -> FileRecord | None:
    query = select(t.folder_files).where(
        t.folder_files.c.id == file_id, t.folder_files.c.folder_id == folder_id
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else _file(row)


def get_file(conn: Connection, folder_id: str, file_id: str) -> FileRecord:
    record = find_file(conn, folder_id, file_id)
    if record is None:
        raise NotFoundError.for_id("file", file_id)
    return record


def file_by_name(conn: Connection, folder_id: str, name: str) -> FileRecord | None:
    query = select(t.folder_files).where(
        t.folder_files.c.folder_id == folder_id, t.folder_files.c.file_name == name
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else _file(row)


def list_files(
    conn: Connection,
    folder_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int | None = 1000,
    order: Order = "desc",
) -> list[FileRecord]:
    query = select(t.folder_files).where(t.folder_files.c.folder_id == folder_id)
    query = paginate(
        conn,
        query,
        t.folder_files,
        t.folder_files.c.created_at,
        before=before,
        after=after,
        limit=limit,
        order=order,
    )
    return [_file(row) for row in conn.execute(query).mappings()]


def update_file(conn: Connection, file_id: str, **values: Any) -> bool:
    """Set `values` on the file; False when it no longer exists (deleted while being processed)."""
    result = conn.execute(
        update(t.folder_files).where(t.folder_files.c.id == file_id).values(updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)


def delete_chunks(conn: Connection, archive_id: str, file_id: str) -> list[int]:
    """Delete every chunk of the file; the `seq`s of the deleted passages (for the vector index)."""
    tagged = select(t.passage_tags.c.passage_seq).where(
        t.passage_tags.c.archive_id == archive_id, t.passage_tags.c.tag == chunk_tag(file_id)
    )
    seqs = [int(row[0]) for row in conn.execute(tagged)]
    for i in range(0, len(seqs), 500):
        conn.execute(delete(t.passages).where(t.passages.c.seq.in_(seqs[i : i + 500])))
    return seqs


def delete_file(conn: Connection, folder: FolderRecord, file_id: str) -> list[int]:
    """Delete the file and its chunks; the deleted chunks' `seq`s."""
    get_file(conn, folder.id, file_id)
    seqs = delete_chunks(conn, folder.archive_id, file_id)
    conn.execute(delete(t.folder_files).where(t.folder_files.c.id == file_id))
    return seqs


def unfinished_files(conn: Connection) -> list[tuple[FileRecord, str]]:
    """Every file whose ingestion never ended, with its folder's archive id."""
    query = (
        select(t.folder_files, t.folders.c.archive_id)
        .join(t.folders, t.folders.c.id == t.folder_files.c.folder_id)
        .where(t.folder_files.c.processing_status.in_(UNFINISHED))
    )
    return [(_file(row), str(row["archive_id"])) for row in conn.execute(query).mappings()]
