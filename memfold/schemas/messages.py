"""Messages: the stored, provider-neutral record and the typed views the API returns.

A stored `Message` (one row) can show as several API messages: an assistant turn that
reasoned and called `send_message` is one row but shows as a `reasoning_message` and an
`assistant_message`. The union `LettaMessage` is discriminated by `message_type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from memfold.schemas.base import RequestModel, ResponseModel

MessageRole = Literal["system", "user", "assistant", "tool", "summary"]
"""`summary`: the running summary of evicted messages (Letta's role of the same name)."""
StopReasonType = Literal[
    "end_turn",
    "error",
    "llm_api_error",
    "invalid_llm_response",
    "invalid_tool_call",
    "max_steps",
    "max_tokens_exceeded",
    "no_tool_call",
    "tool_rule",
    "cancelled",
    "requires_approval",
    "context_window_overflow_in_system_prompt",
]


class StoredToolCall(BaseModel):
    id: str
    name: str
    arguments: str


class Message(ResponseModel):
    """One stored message. Every message an agent ever exchanged stays (recall memory)."""

    id: str
    agent_id: str
    role: MessageRole
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[StoredToolCall] | None = None
    tool_call_id: str | None = None
    tool_status: Literal["success", "error"] | None = None
    name: str | None = None
    sender_id: str | None = None
    otid: str | None = None
    step_id: str | None = None
    run_id: str | None = None
    is_err: bool | None = None
    created_at: datetime
    seq: int | None = None


# --- what the API returns -------------------------------------------------------------


class _LettaMessageBase(BaseModel):
    id: str
    date: datetime
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    step_id: str | None = None
    run_id: str | None = None
    seq_id: int | None = None
    is_err: bool | None = None


class SystemMessage(_LettaMessageBase):
    message_type: Literal["system_message"] = "system_message"
    content: str


class UserMessage(_LettaMessageBase):
    message_type: Literal["user_message"] = "user_message"
    content: str


class AssistantMessage(_LettaMessageBase):
    message_type: Literal["assistant_message"] = "assistant_message"
    content: str


class ReasoningMessage(_LettaMessageBase):
    message_type: Literal["reasoning_message"] = "reasoning_message"
    reasoning: str
    source: Literal["reasoner_model", "non_reasoner_model"] = "non_reasoner_model"
    signature: str | None = None


class ToolCallView(BaseModel):
    name: str
    arguments: str
    tool_call_id: str


class ToolCallMessage(_LettaMessageBase):
    message_type: Literal["tool_call_message"] = "tool_call_message"
    tool_call: ToolCallView
    tool_calls: list[ToolCallView] | None = None


class ToolReturnMessage(_LettaMessageBase):
    message_type: Literal["tool_return_message"] = "tool_return_message"
    tool_return: str
    status: Literal["success", "error"]
    tool_call_id: str
    stdout: list[str] | None = None
    stderr: list[str] | None = None


class SummaryMessage(_LettaMessageBase):
    """The running summary of the messages evicted from the context window."""

    message_type: Literal["summary_message"] = "summary_message"
    summary: str


LettaMessage = Annotated[
    SystemMessage
    | UserMessage
    | AssistantMessage
    | ReasoningMessage
    | ToolCallMessage
    | ToolReturnMessage
    | SummaryMessage,
    Field(discriminator="message_type"),
]
LETTA_MESSAGES: TypeAdapter[list[LettaMessage]] = TypeAdapter(list[LettaMessage])


class Ping(BaseModel):
    """A keep-alive event of a stream during a long step."""

    message_type: Literal["ping"] = "ping"
    id: str
    date: datetime


class StopReason(BaseModel):
    message_type: Literal["stop_reason"] = "stop_reason"
    stop_reason: StopReasonType


class UsageStatistics(BaseModel):
    message_type: Literal["usage_statistics"] = "usage_statistics"
    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    step_count: int = 0
    run_ids: list[str] | None = None


class LettaResponse(BaseModel):
    messages: list[LettaMessage]
    stop_reason: StopReason
    usage: UsageStatistics


# --- what the API accepts -------------------------------------------------------------


class TextContent(RequestModel):
    type: Literal["text"] = "text"
    text: str


class MessageCreate(RequestModel):
    role: Literal["user", "system", "assistant"] = "user"
    content: str | list[TextContent]
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class LettaRequest(RequestModel):
    messages: list[MessageCreate] | None = None
    input: str | list[TextContent] | None = None
    max_steps: int | None = Field(default=None, gt=0)
    use_assistant_message: bool = True
    include_return_message_types: list[str] | None = None
    include_compaction_messages: bool = False
    streaming: bool = False
    """On `POST /messages`: answer with the same Server-Sent Events as `/messages/stream`."""
    stream_tokens: bool = False
    include_pings: bool = True
    background: bool = False

    def new_messages(self) -> list[MessageCreate]:
        if self.messages:
            return self.messages
        if self.input is not None:
            return [MessageCreate(role="user", content=self.input)]
        return []


class ResetMessagesRequest(RequestModel):
    add_default_initial_messages: bool = False


def as_json(messages: list[Any]) -> Any:
    return LETTA_MESSAGES.dump_python(messages, mode="json")
