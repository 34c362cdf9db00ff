"""Agents: the persistent entity, and the requests that create and change it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memfold.schemas.base import RequestModel, ResponseModel
from memfold.schemas.blocks import Block, CreateBlock
from memfold.schemas.groups import Group
from memfold.schemas.tool_rules import ToolRule, ToolRuleList
from memfold.schemas.tools import Tool

AgentType = Literal[
    "memgpt_agent",
    "memgpt_v2_agent",
    "letta_v1_agent",
    "react_agent",
    "workflow_agent",
    "split_thread_agent",
    "sleeptime_agent",
    "voice_convo_agent",
    "voice_sleeptime_agent",
]
SUPPORTED_AGENT_TYPES: frozenset[str] = frozenset({"memgpt_agent", "memgpt_v2_agent", "letta_v1_agent"})
DEFAULT_AGENT_TYPE: AgentType = "memgpt_v2_agent"


class LLMConfig(BaseModel):
    """The model an agent runs on, in Letta's shape. `handle` is the `provider/model` string."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    model: str
    model_endpoint_type: str
    context_window: int
    handle: str | None = None
    model_endpoint: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    put_inner_thoughts_in_kwargs: bool | None = True
    enable_reasoner: bool | None = None


class EmbeddingConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    embedding_model: str
    embedding_endpoint_type: str
    embedding_dim: int
    embedding_endpoint: str | None = None
    embedding_chunk_size: int | None = 300
    batch_size: int | None = 32
    handle: str | None = None


class Memory(BaseModel):
    blocks: list[Block]
    file_blocks: list[Any] = Field(default_factory=list)
    agent_type: str | None = None


class EnvironmentVariable(BaseModel):
    key: str
    value: str
    description: str | None = None


class AgentState(ResponseModel):
    id: str
    name: str
    agent_type: str
    system: str
    description: str | None = None
    model: str
    embedding: str | None = None
    llm_config: LLMConfig
    embedding_config: EmbeddingConfig | None = None
    blocks: list[Block]
    memory: Memory
    tools: list[Tool]
    sources: list[Any] = Field(default_factory=list)
    tags: list[str]
    tool_rules: list[ToolRule] = Field(default_factory=list)
    message_ids: list[str]
    metadata: dict[str, Any] | None = None
    timezone: str | None = None
    tool_exec_environment_variables: list[EnvironmentVariable] = Field(default_factory=list)
    last_stop_reason: str | None = None
    last_run_completion: datetime | None = None
    last_run_duration_ms: int | None = None
    enable_sleeptime: bool | None = None
    max_files_open: int | None = None
    """Files that may be open at once (the effective value; derived when never set)."""
    per_file_view_window_char_limit: int | None = None
    """Characters of one open file's window (the effective value; derived when never set)."""
    managed_group: Group | None = None
    multi_agent_group: Group | None = None
    """Letta's deprecated name of `managed_group` (the same group)."""
    created_at: datetime
    updated_at: datetime


class CreateAgent(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    agent_type: AgentType = DEFAULT_AGENT_TYPE
    system: str | None = None
    description: str | None = None
    model: str | None = None
    llm_config: LLMConfig | None = None
    embedding: str | None = None
    embedding_config: EmbeddingConfig | None = None
    context_window_limit: int | None = Field(default=None, ge=256)
    memory_blocks: list[CreateBlock] = Field(default_factory=list)
    block_ids: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    tool_ids: list[str] = Field(default_factory=list)
    include_base_tools: bool = True
    tool_rules: ToolRuleList | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    timezone: str | None = None
    tool_exec_environment_variables: dict[str, str] | None = None
    secrets: dict[str, str] | None = None
    initial_message_sequence: list[dict[str, Any]] | None = None
    folder_ids: list[str] | None = None
    source_ids: list[str] | None = None
    """Letta's deprecated name of `folder_ids`."""
    max_files_open: int | None = Field(default=None, ge=1, le=100)
    per_file_view_window_char_limit: int | None = Field(default=None, ge=100, le=1_000_000)
    enable_sleeptime: bool | None = None
    """Also create a sleep-time agent that shares the blocks and revises them in the background."""


class UpdateAgent(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    system: str | None = None
    description: str | None = None
    model: str | None = None
    llm_config: LLMConfig | None = None
    embedding: str | None = None
    embedding_config: EmbeddingConfig | None = None
    context_window_limit: int | None = Field(default=None, ge=256)
    block_ids: list[str] | None = None
    tool_ids: list[str] | None = None
    tool_rules: ToolRuleList | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    timezone: str | None = None
    message_ids: list[str] | None = None
    tool_exec_environment_variables: dict[str, str] | None = None
    secrets: dict[str, str] | None = None
    folder_ids: list[str] | None = None
    source_ids: list[str] | None = None
    max_files_open: int | None = Field(default=None, ge=1, le=100)
    per_file_view_window_char_limit: int | None = Field(default=None, ge=100, le=1_000_000)
    enable_sleeptime: bool | None = None
