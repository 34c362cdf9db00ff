"""Tools an agent can call."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from memfold.schemas.base import ResponseModel

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
