"""Steps: one LLM call of an agent and what came of it (token usage, timing, stop reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from memfold.schemas.base import ResponseModel
from memfold.schemas.messages import StopReasonType

StepStatus = Literal["pending", "success", "failed", "cancelled"]


class Step(ResponseModel):
    id: str
    agent_id: str
    run_id: str | None = None
    status: StepStatus
    stop_reason: StopReasonType | None = None
    model: str
    """The model's name at its provider (`gpt-4o-mini`)."""
    model_handle: str
    """`provider/model`, as agents are configured."""
    model_endpoint: str | None = None
    provider_name: str
    provider_id: str | None = None
    provider_category: str | None = None
    context_window_limit: int | None = None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None
    error_type: str | None = None
    error_data: dict[str, Any] | None = None
    feedback: Literal["positive", "negative"] | None = None
    """memfold records no feedback: always null."""
    tags: list[str] | None = None
    origin: str | None = None
    project_id: str | None = None
    tid: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    messages: list[Any] | None = None
    """Deprecated in Letta; use `GET /v1/steps/{step_id}/messages`. Always null."""
    # memfold's additions (clients that do not know them ignore them)
    created_at: datetime
    """When the step was committed."""
    llm_request_ns: int | None = None
    """Time spent waiting for the LLM, in nanoseconds (millisecond resolution)."""
    step_ns: int | None = None
    """Time the step took as recorded (millisecond resolution)."""


class StepMetrics(BaseModel):
    """Timing of one step (`GET /v1/steps/{step_id}/metrics`)."""

    id: str
    agent_id: str | None = None
    run_id: str | None = None
    provider_id: str | None = None
    llm_request_ns: int | None = None
    llm_request_start_ns: int | None = None
    step_ns: int | None = None
    step_start_ns: int | None = None
    tool_execution_ns: int | None = None
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
