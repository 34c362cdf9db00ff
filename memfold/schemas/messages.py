"""Messages: the stored, provider-neutral record and the typed views the API returns.

A stored `Message` (one row) can show as several API messages: an assistant turn that
reasoned and called `send_message` is one row but shows as a `reasoning_message` and an
`assistant_message`. The union `LettaMessage` is discriminated by `message_type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, TypeAdapter

from memfold.schemas.base import RequestModel, ResponseModel

MessageRole = Literal["system", "user", "assistant", "tool", "summary", "approval"]
"""`summary`: the running summary of evicted messages (Letta's role of the same name). `approval`:
a person's answer to tool calls that waited for approval (kept in history, never sent to a model)."""
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
    approval: dict[str, Any] | None = None
    """On an assistant message: `{"pending": [tool call ids]}`, the calls that waited for a person (or
    for the client, `"client": [...]`). On an `approval` message: `{"request_id", "decisions"}`."""
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


class ApprovalRequestMessage(_LettaMessageBase):
    """Tool calls the model made that wait for a person's approval (or for the client to run them)."""

    message_type: Literal["approval_request_message"] = "approval_request_message"
    tool_call: ToolCallView
    tool_calls: list[ToolCallView] | None = None


class ApprovalDecision(BaseModel):
    """One call's answer: approved or denied (`type` "approval"), or the client's result ("tool")."""

    type: Literal["approval", "tool"] = "approval"
    tool_call_id: str
    approve: bool | None = None
    reason: str | None = None
    tool_return: str | None = None
    status: Literal["success", "error"] | None = None


class ApprovalResponseMessage(_LettaMessageBase):
    message_type: Literal["approval_response_message"] = "approval_response_message"
    approval_request_id: str | None = None
    approvals: list[ApprovalDecision] | None = None
    approve: bool | None = None
    reason: str | None = None


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
    | ApprovalRequestMessage
    | ApprovalResponseMessage
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


class ApprovalReturn(RequestModel):
    type: Literal["approval"] = "approval"
    tool_call_id: str
    approve: bool
    reason: str | None = None


class ToolReturnInput(RequestModel):
    """The result of a client-side tool (or of a call the client ran instead of approving it)."""

    type: Literal["tool"] = "tool"
    tool_call_id: str
    tool_return: str | list[TextContent]
    status: Literal["success", "error"] = "success"
    stdout: list[str] | None = None
    stderr: list[str] | None = None

    def text(self) -> str:
        if isinstance(self.tool_return, str):
            return self.tool_return
        return "\n".join(part.text for part in self.tool_return)


Decision = Annotated[ApprovalReturn | ToolReturnInput, Field(discriminator="type")]


class ApprovalCreate(RequestModel):
    """The answer to an approval request: one `approve`/`reason` for every waiting call, or one
    decision per call in `approvals`."""

    type: Literal["approval"]
    approval_request_id: str | None = None
    approve: bool | None = None
    reason: str | None = None
    approvals: list[Decision] | None = None
    otid: str | None = None


class ToolReturnCreate(RequestModel):
    """Results of client-side tools (the same as an approval whose decisions are tool returns)."""

    type: Literal["tool_return"]
    tool_returns: list[ToolReturnInput]
    otid: str | None = None

    def as_approval(self) -> ApprovalCreate:
        return ApprovalCreate(type="approval", approvals=list(self.tool_returns), otid=self.otid)


def _input_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("approval", "tool_return") else "message"


InputMessage = Annotated[
    Annotated[MessageCreate, Tag("message")]
    | Annotated[ApprovalCreate, Tag("approval")]
    | Annotated[ToolReturnCreate, Tag("tool_return")],
    Discriminator(_input_kind),
]


class ClientTool(RequestModel):
    """A tool the client runs: offered to the model for this request; a call to it stops the turn
    (stop reason `requires_approval`) until the client sends the result back."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class LettaRequest(RequestModel):
    messages: list[InputMessage] | None = None
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
    client_tools: list[ClientTool] | None = None

    def new_messages(self) -> list[MessageCreate | ApprovalCreate]:
        """The request's input: new messages, or the answer to an approval request."""
        if self.messages:
            return [m.as_approval() if isinstance(m, ToolReturnCreate) else m for m in self.messages]
        if self.input is not None:
            return [MessageCreate(role="user", content=self.input)]
        return []


class ResetMessagesRequest(RequestModel):
    add_default_initial_messages: bool = False


def as_json(messages: list[Any]) -> Any:
    return LETTA_MESSAGES.dump_python(messages, mode="json")
