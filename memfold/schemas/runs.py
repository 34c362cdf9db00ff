"""Runs: one agent turn (or one queued request), with its status, stop reason and timing.

The queue's internals (attempts, lease owner and expiry) are stored on the same row but are
not part of the contract and never leave the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from memfold.schemas.base import ResponseModel
from memfold.schemas.messages import StopReasonType

RunStatus = Literal["created", "running", "completed", "failed", "cancelled"]
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("created", "running")
"""What `active=true` filters for: runs that have not finished."""


class RequestConfig(BaseModel):
    """How the request that started the run wanted its messages shown."""

    use_assistant_message: bool | None = None
    assistant_message_tool_name: str | None = None
    assistant_message_tool_kwarg: str | None = None
    include_return_message_types: list[str] | None = None


class Run(ResponseModel):
    id: str
    agent_id: str
    status: RunStatus
    stop_reason: StopReasonType | None = None
    background: bool = False
    created_at: datetime
    completed_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    """The run's metadata; for a failed run, `error` holds what went wrong (as Letta reports it)."""
    request_config: RequestConfig | None = None
    total_duration_ns: int | None = None
    """From the start of work (or creation, when no worker recorded a start) to completion."""
    ttft_ns: int | None = None
    callback_url: str | None = None
    callback_sent_at: datetime | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    conversation_id: str | None = None
    base_template_id: str | None = None


class PromptTokensDetails(BaseModel):
    cached_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int | None = None


class RunUsage(BaseModel):
    """Token usage of a run: the sum over its steps."""

    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    step_count: int = 0
    """memfold's addition: how many steps (LLM calls) the sums cover."""
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
