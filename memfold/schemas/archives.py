"""Archival memory in the API: archives, passages, and search results (Letta's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from memfold.schemas.agents import EmbeddingConfig
from memfold.schemas.base import RequestModel, ResponseModel

TagMatchMode = Literal["any", "all"]


class Passage(ResponseModel):
    """One passage. `embedding` is not returned (null): vectors are large and rarely wanted."""

    id: str
    text: str
    archive_id: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    embedding: list[float] | None = None
    embedding_config: EmbeddingConfig | None = None
    is_deleted: bool = False
    file_id: str | None = None
    file_name: str | None = None
    source_id: str | None = None


class Archive(ResponseModel):
    id: str
    name: str
    description: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    embedding_config: EmbeddingConfig | None = None
    metadata: dict[str, Any] | None = None
    vector_db_provider: Literal["native", "tpuf", "pinecone"] = "native"


class CreateArchive(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    embedding: str | None = None
    """Embedding model handle, e.g. `openai/text-embedding-3-small` (default: the local embedding)."""
    embedding_config: EmbeddingConfig | None = None


class UpdateArchive(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None


class CreateAgentPassage(RequestModel):
    """`POST /v1/agents/{id}/archival-memory`."""

    text: str = Field(min_length=1)
    created_at: datetime | None = None
    tags: list[str] | None = None


class CreateArchivePassage(RequestModel):
    """`POST /v1/archives/{id}/passages` (and each item of `/passages/batch`)."""

    text: str = Field(min_length=1)
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class CreateArchivePassages(RequestModel):
    passages: list[CreateArchivePassage] = Field(min_length=1, max_length=1000)


class ArchivalSearchResult(BaseModel):
    id: str
    content: str
    timestamp: str
    """When the passage was created, ISO 8601 in the agent's time zone."""
    tags: list[str] | None = None


class ArchivalSearchResponse(BaseModel):
    count: int
    results: list[ArchivalSearchResult]


class PassageSearchRequest(RequestModel):
    """`POST /v1/passages/search`: an agent's archives, one archive, or every archive of the organization."""

    query: str | None = None
    agent_id: str | None = None
    archive_id: str | None = None
    tags: list[str] | None = None
    tag_match_mode: TagMatchMode = "any"
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class PassageSearchItem(BaseModel):
    passage: Passage
    score: float
    metadata: dict[str, Any] | None = None
