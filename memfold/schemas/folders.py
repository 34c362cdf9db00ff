"""Folders and their files in the API (Letta's `Folder` and `FileMetadata` shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from memfold.schemas.agents import EmbeddingConfig
from memfold.schemas.base import RequestModel, ResponseModel

__all__ = ["CreateFolder", "DuplicateHandling", "FileMetadata", "Folder", "ProcessingStatus", "UpdateFolder"]

ProcessingStatus = Literal["pending", "parsing", "embedding", "completed", "error"]
DuplicateHandling = Literal["skip", "error", "suffix", "replace"]


class Folder(ResponseModel):
    """A named collection of files whose chunks are embedded with the folder's `embedding_config`."""

    id: str
    name: str
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding_config: EmbeddingConfig
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None


class CreateFolder(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding: str | None = None
    """Embedding model handle, e.g. `openai/text-embedding-3-small` (default: the local embedding)."""
    embedding_chunk_size: int | None = Field(default=None, ge=50, le=8192)
    """Target chunk size in tokens (about 4 characters each); default 300."""
    embedding_config: EmbeddingConfig | None = None


class UpdateFolder(RequestModel):
    """The embedding of a folder is fixed at creation (its chunks were embedded with it)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding_config: EmbeddingConfig | None = None


class FileMetadata(ResponseModel):
    id: str
    source_id: str
    folder_id: str | None = None
    file_name: str | None = None
    original_file_name: str | None = None
    file_path: str | None = None
    file_type: str | None = None
    file_size: int | None = None
    file_creation_date: str | None = None
    file_last_modified_date: str | None = None
    processing_status: ProcessingStatus | None = None
    error_message: str | None = None
    total_chunks: int | None = None
    chunks_embedded: int | None = None
    content: str | None = None
    content_hash: str | None = None
    """SHA-256 of the uploaded bytes (a memfold extension: lets a client skip unchanged files)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
