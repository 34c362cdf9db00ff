"""The Agent File (`.af`) format as Letta writes it: pydantic models of the current generation.

A file holds entities with file-local ids (`agent-0`, `block-0`, `tool-0`, `message-0`, ...)
that refer to each other: an agent lists its `block_ids`, `tool_ids` and
`in_context_message_ids`, and carries its `messages`. Import reads these leniently (unknown
fields are ignored: Letta adds fields over time); export writes the same shape.

memfold's extension: `memfold_archival_passages`, the archival memory of the file's agents
(Letta's export leaves it out). Each entry names its agent by file-local id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PASSAGES_KEY",
    "AgentEntry",
    "AgentFile",
    "BlockEntry",
    "MessageEntry",
    "PassageEntry",
    "ToolCallEntry",
    "ToolEntry",
    "ToolReturnEntry",
    "as_utc",
]

PASSAGES_KEY = "memfold_archival_passages"
"""The top-level key of memfold's extension: archival passages, which Letta's export drops."""

LettaRole = Literal["system", "user", "assistant", "tool", "function", "approval", "summary"]


def as_utc(value: datetime | None) -> datetime | None:
    """Letta writes naive timestamps in UTC (older files) or aware ones; memfold stores aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FileModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class BlockEntry(FileModel):
    id: str = Field(min_length=1)
    label: str = Field(min_length=1, max_length=200)
    value: str = ""
    limit: int | None = Field(default=None, gt=0)
    description: str | None = None
    read_only: bool | None = False
    hidden: bool | None = None
    template_name: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = Field(default=None, alias="metadata_")

    @field_validator("value", mode="before")
    @classmethod
    def _null_value(cls, value: Any) -> Any:
        return "" if value is None else value


class ToolEntry(FileModel):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    tool_type: str | None = None
    description: str | None = None
    source_type: str | None = None
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = Field(default=None, gt=0)
    pip_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    metadata: dict[str, Any] | None = Field(default=None, alias="metadata_")


class FunctionEntry(FileModel):
    name: str = Field(min_length=1)
    arguments: str = "{}"

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_text(cls, value: Any) -> Any:
        if value is None:
            return "{}"
        return value if isinstance(value, str) else json.dumps(value)


class ToolCallEntry(FileModel):
    id: str = Field(min_length=1)
    type: str = "function"
    function: FunctionEntry


class ToolReturnEntry(FileModel):
    tool_call_id: str | None = None
    status: Literal["success", "error"] = "success"
    func_response: str | None = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None


class MessageEntry(FileModel):
    id: str = Field(min_length=1)
    role: LettaRole
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    agent_id: str | None = None
    model: str | None = None
    tool_calls: list[ToolCallEntry] | None = None
    tool_call_id: str | None = None
    tool_returns: list[ToolReturnEntry] | None = None
    created_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_field(cls, data: Any) -> Any:
        """The oldest files kept a message's text in `text`, not `content`."""
        if isinstance(data, dict) and data.get("content") is None and isinstance(data.get("text"), str):
            return {**data, "content": data["text"]}
        return data


class AgentEntry(FileModel):
    id: str = Field(min_length=1)
    name: str | None = None
    agent_type: str | None = None
    system: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = Field(default=None, alias="metadata_")
    llm_config: dict[str, Any] | None = None
    embedding_config: dict[str, Any] | None = None
    model: str | None = None
    embedding: str | None = None
    context_window_limit: int | None = None
    tool_rules: list[dict[str, Any]] | None = None
    tool_exec_environment_variables: dict[str, str | None] | None = None
    secrets: dict[str, str | None] | None = None
    timezone: str | None = None
    include_base_tools: bool | None = False
    memory_blocks: list[dict[str, Any]] = Field(default_factory=list)
    block_ids: list[str] = Field(default_factory=list)
    tool_ids: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    source_ids: list[str] = Field(default_factory=list)
    group_ids: list[str] = Field(default_factory=list)
    files_agents: list[dict[str, Any]] = Field(default_factory=list)
    in_context_message_ids: list[str] = Field(default_factory=list)
    messages: list[MessageEntry] = Field(default_factory=list)

    @field_validator("tool_exec_environment_variables", "secrets", mode="before")
    @classmethod
    def _variables(cls, value: Any) -> Any:
        """Older files list variables as `[{"key": ..., "value": ...}]`; the current one maps them."""
        if isinstance(value, list):
            return {str(v.get("key")): v.get("value") for v in value if isinstance(v, dict) and v.get("key")}
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if isinstance(value, list):  # some older files wrote tags as {"tag": ...} objects
            return [v.get("tag") if isinstance(v, dict) else v for v in value]
        return value

    @field_validator(
        "memory_blocks", "block_ids", "tool_ids", "tools", "source_ids", "group_ids", "files_agents",
        "in_context_message_ids", "messages", mode="before",
    )  # fmt: skip
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value


class PassageEntry(FileModel):
    agent_id: str = Field(min_length=1)
    text: str
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None


class AgentFile(FileModel):
    """A whole `.af` file (current generation, which the older one is converted to on import)."""

    agents: list[AgentEntry]
    groups: list[dict[str, Any]] = Field(default_factory=list)
    blocks: list[BlockEntry] = Field(default_factory=list)
    files: list[dict[str, Any]] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[ToolEntry] = Field(default_factory=list)
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None
    archival_passages: list[PassageEntry] = Field(default_factory=list, alias=PASSAGES_KEY)

    @field_validator(
        "groups", "blocks", "files", "sources", "tools", "mcp_servers", "archival_passages", mode="before"
    )
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value
