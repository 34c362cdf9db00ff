"""Tools an agent can call, and the requests that create, change, search and run them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, Field

from memfold.schemas.base import RequestModel, ResponseModel

ToolType = Literal[
    "custom",
    "letta_core",
    "letta_memory_core",
    "letta_multi_agent_core",
    "letta_sleeptime_core",
    "letta_voice_sleeptime_core",
    "letta_builtin",
    "letta_files_core",
    "external_mcp",
]

DEFAULT_RETURN_CHAR_LIMIT = 6000
MAX_RETURN_CHAR_LIMIT = 1_000_000


class PipRequirement(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class Tool(ResponseModel):
    id: str
    name: str
    description: str | None = None
    tool_type: ToolType = "custom"
    source_type: str | None = "python"
    source_code: str | None = None
    json_schema: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    return_char_limit: int = DEFAULT_RETURN_CHAR_LIMIT
    pip_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    metadata: dict[str, Any] | None = Field(default=None, serialization_alias="metadata_")
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_builtin(self) -> bool:
        """Built-ins (Letta's `letta_*` types) run in the server and belong to it: they cannot be
        changed or deleted through the API."""
        return self.tool_type.startswith("letta_")


def _metadata_field() -> Any:
    """`metadata` as Letta's SDK sends it on update (`metadata_`), or plainly."""
    return Field(default=None, validation_alias=AliasChoices("metadata", "metadata_"))


class CreateTool(RequestModel):
    """`POST /v1/tools` and `PUT /v1/tools` (upsert by name).

    The schema is generated from `source_code` (its last top-level function, or the one `name`
    gives) unless `json_schema` is given; `args_json_schema` replaces only the parameters."""

    source_code: str = Field(min_length=1, max_length=200_000)
    name: str | None = None
    description: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    source_type: str = "python"
    tags: list[str] | None = Field(default=None, max_length=100)
    return_char_limit: int = Field(default=DEFAULT_RETURN_CHAR_LIMIT, ge=1, le=MAX_RETURN_CHAR_LIMIT)
    pip_requirements: list[PipRequirement] | None = None
    default_requires_approval: bool | None = None
    metadata: dict[str, Any] | None = _metadata_field()


class UpdateTool(RequestModel):
    """`PATCH /v1/tools/{id}`: only the fields sent change. New `source_code` regenerates the schema
    (unless `json_schema` is sent too)."""

    source_code: str | None = Field(default=None, min_length=1, max_length=200_000)
    description: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    source_type: str | None = None
    tags: list[str] | None = Field(default=None, max_length=100)
    return_char_limit: int | None = Field(default=None, ge=1, le=MAX_RETURN_CHAR_LIMIT)
    pip_requirements: list[PipRequirement] | None = None
    default_requires_approval: bool | None = None
    metadata: dict[str, Any] | None = _metadata_field()


class ToolSearchRequest(RequestModel):
    query: str | None = None
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"
    tags: list[str] | None = None
    tool_types: list[str] | None = None
    limit: int = Field(default=50, ge=1, le=100)


class ToolSearchResult(ResponseModel):
    tool: Tool
    combined_score: float
    embedded_text: str | None = None
    fts_rank: int | None = None
    vector_rank: int | None = None
