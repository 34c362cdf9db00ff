"""The context window as the API shows it, and compaction on demand.

`ContextWindowOverview` has the fields of Letta's overview of the same name (`GET
/v1/agents/{id}/context`) plus memfold's budgets. `CompactionRequest`/`CompactionResponse`
are the body and answer of `POST /v1/agents/{id}/summarize` (`client.agents.messages.compact`
in letta-client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from memfold.schemas.base import RequestModel
from memfold.schemas.messages import LettaMessage


class FileStatus(BaseModel):
    """One file of the agent's folders in the context window (memfold's addition to the overview)."""

    file_id: str
    file_name: str
    """As the agent names it: `folder/file`."""
    folder_id: str
    folder_name: str
    processing_status: str
    is_open: bool
    start_line: int | None = None
    end_line: int | None = None
    total_lines: int | None = None
    last_accessed_at: datetime | None = None
    num_tokens: int
    """Tokens of its part of the `<files>` section (its window when open, one line when closed)."""


class ContextWindowOverview(BaseModel):
    """What the agent's next request would hold, by part, in estimated tokens (calibrated)."""

    context_window_size_max: int
    context_window_size_current: int
    num_messages: int
    """Messages in the context window (the summary included)."""
    num_archival_memory: int
    num_recall_memory: int
    """Messages the agent has ever exchanged (recall memory), in context or not."""
    num_tokens_external_memory_summary: int
    external_memory_summary: str
    num_tokens_system: int
    system_prompt: str
    num_tokens_core_memory: int
    core_memory: str
    num_tokens_summary_memory: int
    summary_memory: str | None = None
    num_tokens_functions_definitions: int
    functions_definitions: list[dict[str, Any]] | None = None
    num_tokens_messages: int
    messages: list[LettaMessage]
    # memfold's files part (the `<files>` section of the system prompt)
    num_tokens_files: int = 0
    """Tokens of the `<files>` section: attached folders, every file's status, open windows."""
    files_memory: str = ""
    """The `<files>` section as the model sees it ("" without folders)."""
    files: list[FileStatus] = Field(default_factory=list)
    # memfold's budgets
    context_window_budget: int
    """The most a request may take before the oldest messages are evicted."""
    compaction_target: int
    """What a compaction brings a request down to."""
    reply_reserve: int
    """Tokens always kept free for the reply."""
    token_calibration_factor: float
    """How much the estimates are raised after comparing them with the provider's counts."""


class CompactionSettings(RequestModel):
    """The parts of Letta's `CompactionSettings` memfold honours."""

    mode: Literal["all", "sliding_window", "self_compact_all", "self_compact_sliding_window"] = (
        "sliding_window"
    )
    sliding_window_percentage: float | None = Field(default=None, gt=0, lt=1)
    """Fraction of the context window the kept messages may fill (sliding window modes)."""
    clip_chars: int | None = Field(default=None, gt=0)
    prompt: str | None = None
    """The summarizer's instructions, instead of memfold's."""
    model: str | None = None
    """Model handle of the summarizer; the agent's own model by default."""


class CompactionRequest(RequestModel):
    compaction_settings: CompactionSettings | None = None


class CompactionResponse(BaseModel):
    num_messages_before: int
    num_messages_after: int
    summary: str
