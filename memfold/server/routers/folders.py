"""/v1/folders: folders (each with its own archive and embedding) and the files uploaded to them.

An upload stores the file's row (`pending`) and answers at once; parsing, chunking and
embedding run as a background job (memfold.folders.ingest) whose progress the file's
`processing_status`, `total_chunks` and `chunks_embedded` show.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from sqlalchemy import Connection

from memfold.errors import BadRequestError, ConflictError
from memfold.folders import agent_files
from memfold.folders.chunking import DEFAULT_CHUNK_TOKENS
from memfold.folders.ingest import FileIngestion, IngestJob, forget_chunks
from memfold.folders.parsing import SUPPORTED_TYPES, file_type
from memfold.memory.embedding import embedding_config_for
from memfold.schemas.agents import EmbeddingConfig
from memfold.schemas.folders import CreateFolder, DuplicateHandling, FileMetadata, Folder, UpdateFolder
from memfold.server.deps import Context, OrgId
from memfold.store import archives as archive_rows
from memfold.store import folders as folder_rows
from memfold.store.archives import ArchiveRecord
from memfold.store.folders import FileRecord, FolderRecord
from memfold.store.paging import Order

router = APIRouter(tags=["folders"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def ingestion(request: Request) -> FileIngestion:
    service: FileIngestion = request.app.state.file_ingestion
    return service


def file_view(record: FileRecord, *, include_content: bool = False) -> FileMetadata:
    return FileMetadata(
        id=record.id,
        source_id=record.folder_id,
        folder_id=record.folder_id,
        file_name=record.file_name,
        original_file_name=record.original_file_name,
        file_path=record.original_file_name,
        file_type=record.file_type,
        file_size=record.file_size,
        processing_status=record.processing_status,
        error_message=record.error_message,
        total_chunks=record.total_chunks,
        chunks_embedded=record.chunks_embedded,
        content=record.content if include_content else None,
        content_hash=record.content_hash,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _view(conn: Connection, org: str, record: FolderRecord) -> Folder:
    return agent_files.folder_schema(conn, org, record)


# --- folders ---------------------------------------------------------------------------------


@router.post("/v1/folders/", response_model=Folder)
def create_folder(body: CreateFolder, ctx: Context, org: OrgId) -> Folder:
    if body.embedding_config is not None:
        config = body.embedding_config.model_dump(exclude_none=True)
    else:
        config = embedding_config_for(body.embedding)
    chunk_tokens = (
        body.embedding_chunk_size
        or (body.embedding_config.embedding_chunk_size if body.embedding_config else None)
        or DEFAULT_CHUNK_TOKENS
    )
    values = {
        "name": body.name,
        "description": body.description,
        "instructions": body.instructions,
        "metadata": body.metadata,
        "chunk_size": chunk_tokens,
    }
    with ctx.db.write() as conn:
        return _view(conn, org, folder_rows.insert_folder(conn, org, values, config))


@router.get("/v1/folders/", response_model=list[Folder])
def list_folders(
    ctx: Context,
    org: OrgId,
    name: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "asc",
    order_by: Literal["created_at"] = "created_at",
) -> list[Folder]:
    with ctx.db.read() as conn:
        records = folder_rows.list_folders(
            conn, org, name=name, before=before, after=after, limit=limit, order=order
        )
        return [_view(conn, org, r) for r in records]


@router.get("/v1/folders/{folder_id}", response_model=Folder)
def retrieve_folder(folder_id: str, ctx: Context, org: OrgId) -> Folder:
    with ctx.db.read() as conn:
        return _view(conn, org, folder_rows.get_folder(conn, org, folder_id))


@router.patch("/v1/folders/{folder_id}", response_model=Folder)
def modify_folder(folder_id: str, body: UpdateFolder, ctx: Context, org: OrgId) -> Folder:
    values = body.model_dump(exclude_unset=True)
    config = values.pop("embedding_config", None)
    if values.get("name", "") is None:
        del values["name"]
    with ctx.db.write() as conn:
        current = _view(conn, org, folder_rows.get_folder(conn, org, folder_id))
        if config is not None and EmbeddingConfig.model_validate(config).handle not in (
            None,
            current.embedding_config.handle,
        ):
            raise BadRequestError(
                "a folder's embedding cannot change (its chunks were embedded with it); "
                "create a new folder and upload the files again"
            )
        return _view(conn, org, folder_rows.update_folder(conn, org, folder_id, values))


@router.delete("/v1/folders/{folder_id}")
def delete_folder(folder_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    with ctx.db.write() as conn:
        agent_files.detach_everywhere(conn, org, folder_id)  # (agents without folders lose the file tools)
        folder = folder_rows.delete_folder(conn, org, folder_id)
    ctx.loop.external.archival.forget_archive(folder.archive_id)
    return {"id": folder_id, "deleted": True}


# --- files -----------------------------------------------------------------------------------


def _free_name(conn: Connection, folder_id: str, name: str) -> str:
    """`name`, or `stem (n).ext` with the smallest n that no file of the folder has."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    n = 1
    while True:
        candidate = f"{stem} ({n}).{extension}" if extension else f"{stem} ({n})"
        if folder_rows.file_by_name(conn, folder_id, candidate) is None:
            return candidate
        n += 1


@router.post("/v1/folders/{folder_id}/upload", response_model=FileMetadata)
async def upload_file(
    folder_id: str,
    request: Request,
    ctx: Context,
    org: OrgId,
    file: Annotated[UploadFile, File(description="The file to add to the folder.")],
    duplicate_handling: DuplicateHandling = "suffix",
    name: str | None = None,
) -> FileMetadata:
    """Store the file and start its processing in the background; poll the file for its status."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadRequestError(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    original = posixpath.basename((file.filename or "").replace("\\", "/")) or "upload"
    wanted = posixpath.basename((name or original).replace("\\", "/")) or original
    mime = file_type(original, file.content_type) or file_type(wanted, file.content_type)
    digest = hashlib.sha256(data).hexdigest()

    def store() -> tuple[FolderRecord, FileRecord, ArchiveRecord, list[int], bool]:
        replaced: list[int] = []
        with ctx.db.write() as conn:
            folder = folder_rows.get_folder(conn, org, folder_id)
            archive = archive_rows.get_archive(conn, org, folder.archive_id)
            file_name = wanted
            existing = folder_rows.file_by_name(conn, folder.id, wanted)
            if existing is not None:
                if duplicate_handling == "error":
                    raise ConflictError(f"a file named {wanted!r} already exists in folder {folder_id!r}")
                if duplicate_handling == "skip":
                    return folder, existing, archive, [], False
                if duplicate_handling == "replace":
                    replaced = folder_rows.delete_file(conn, folder, existing.id)
                else:
                    file_name = _free_name(conn, folder.id, wanted)
            supported = mime is not None
            known = ", ".join(sorted({e.lstrip(".") for e in SUPPORTED_TYPES}))
            record = folder_rows.insert_file(
                conn,
                org,
                folder.id,
                {
                    "file_name": file_name,
                    "original_file_name": original,
                    "file_type": mime or file.content_type,
                    "file_size": len(data),
                    "content_hash": digest,
                    "processing_status": "pending" if supported else "error",
                    "error_message": None
                    if supported
                    else f"unsupported file type {original!r} ({file.content_type or 'unknown'}); "
                    f"supported: {known}",
                    "total_chunks": 0 if not supported else None,
                    "chunks_embedded": 0,
                },
            )
        return folder, record, archive, replaced, supported

    folder, record, archive, replaced, start = await asyncio.to_thread(store)
    forget_chunks(ctx.loop.external.archival, archive, replaced)
    if start:
        ingestion(request).submit(IngestJob(org, folder, record, data, file.content_type))
    return file_view(record)


@router.get("/v1/folders/{folder_id}/files", response_model=list[FileMetadata])
def list_files(
    folder_id: str,
    ctx: Context,
    org: OrgId,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 1000,
    order: Order = "desc",
    order_by: Literal["created_at"] = "created_at",
    include_content: bool = False,
) -> list[FileMetadata]:
    with ctx.db.read() as conn:
        folder = folder_rows.get_folder(conn, org, folder_id)
        records = folder_rows.list_files(
            conn, folder.id, before=before, after=after, limit=limit, order=order
        )
    return [file_view(r, include_content=include_content) for r in records]


@router.get("/v1/folders/{folder_id}/files/{file_id}", response_model=FileMetadata)
def retrieve_file(
    folder_id: str, file_id: str, ctx: Context, org: OrgId, include_content: bool = False
) -> FileMetadata:
    with ctx.db.read() as conn:
        folder = folder_rows.get_folder(conn, org, folder_id)
        return file_view(folder_rows.get_file(conn, folder.id, file_id), include_content=include_content)


@router.delete("/v1/folders/{folder_id}/{file_id}", status_code=204)
def delete_file(folder_id: str, file_id: str, ctx: Context, org: OrgId) -> None:
    with ctx.db.write() as conn:
        folder = folder_rows.get_folder(conn, org, folder_id)
        archive = archive_rows.get_archive(conn, org, folder.archive_id)
        seqs = folder_rows.delete_file(conn, folder, file_id)
    forget_chunks(ctx.loop.external.archival, archive, seqs)
