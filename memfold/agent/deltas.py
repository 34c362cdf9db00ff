"""Token deltas: the pieces of one LLM call, as the pieces of the views of the step's assistant message.

The stored assistant message shows as views (`agent/views.py`): its reasoning, one view per tool call
(`send_message` as the assistant's words, other calls with their arguments minus `thinking` and
`request_heartbeat`), and plain text. `StepDeltas` turns the model's `ModelDelta`s into `DeltaEvent`s
that extend those views, so that the pieces of a view, put together, are the view's final text:

- native reasoning extends the reasoning; native text is the reply (native mode) or, in MemGPT mode
  once tool calls follow, more reasoning, as `act` makes it (text without tool calls in MemGPT mode is
  a slip, sent whole with the message);
- in a tool call's JSON arguments, the `thinking` string extends the reasoning (when nothing above
  takes precedence, as in `act`); `send_message`'s `message` string is the assistant's words (kind
  `assistant` with the call's id: the server shows them as a tool call's arguments when the client
  does not want assistant messages); other calls' arguments, as the view writes them (`json.dumps`
  without the loop's own members), extend their tool call view.

`PartialObject` reads the arguments as they arrive, in one pass, decoding string escapes (including
`\\uXXXX` and surrogate pairs split between pieces) exactly as `json.loads` does. What cannot be known
while streaming (a call's arguments that turn out not to be JSON, native reasoning that comes after
`thinking` was sent) is settled by the complete message: the server sends what the pieces did not
show (server/streaming.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from memfold.agent.partial_json import PartialObject
from memfold.agent.stream import DeltaEvent
from memfold.agent.views import SEND_MESSAGE
from memfold.llm.base import ModelDelta
from memfold.schemas.messages import Message
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

__all__ = ["PartialObject", "StepDeltas"]

MESSAGE_ARG = "message"
"""The argument of `send_message` that is the assistant's words."""


@dataclass(slots=True)
class _Call:
    reader: PartialObject
    id: str | None = None
    name: str | None = None
    early: list[str] = field(default_factory=list)
    """Pieces that came before the call's id and name."""
    thought: bool = False
    """Some of this call's `thinking` has been sent as reasoning."""


ReasoningSource = Literal["native", "content", "thinking", "stale"]


class StepDeltas:
    """The `ModelDelta`s of one step's LLM call as `DeltaEvent`s of the step's assistant message
    (`message_id`, chosen before the call). `feed` is the model's `on_delta`.

    `waits(tool name)`: calls that wait for approval (or for the client) show whole, never in pieces.
    `held`: messages the turn shows before this step's (its input); they and the step's `compactions`
    are announced just before the first delta, so a reader sees the turn in order. `released` says
    whether they were (if not, the loop shows them after the call, as without deltas).
    """

    def __init__(
        self,
        message_id: str,
        *,
        memgpt: bool,
        waits: Callable[[str], bool],
        emit: Callable[[DeltaEvent], None],
        announce: Callable[[Message], None],
        held: list[Message] | None = None,
    ) -> None:
        self.message_id = message_id
        self.memgpt = memgpt
        self.waits = waits
        self.emit = emit
        self.announce = announce
        self.held: list[Message] = list(held or ())
        self.compactions: list[Message] = []
        """Compactions made before the call (the loop sets it): announced before `held`."""
        self.released = False
        self._source: ReasoningSource | None = None
        """What the reasoning sent so far is made of; "stale" once it can no longer match `act`'s."""
        self._reasoned = False
        self._content: list[str] = []
        self._calls: dict[int, _Call] = {}

    def feed(self, delta: ModelDelta) -> None:
        if delta.kind == "tool_call":
            self._tool_call(delta)
        elif not delta.text:
            return
        elif delta.kind == "reasoning":
            self._reasoning(delta.text, "native")
        elif not self.memgpt:
            self._send("assistant", delta.text)
        else:  # MemGPT mode: reasoning once a tool call follows, else a slip sent whole at the end
            self._content.append(delta.text)
            if self._calls:
                self._content_as_reasoning()

    def release(self) -> None:
        if not self.released:
            self.released = True
            for message in [*self.compactions, *self.held]:
                self.announce(message)

    def _tool_call(self, delta: ModelDelta) -> None:
        call = self._calls.get(delta.index)
        if call is None:
            reader = PartialObject(
                fields=(THINKING_PARAM, MESSAGE_ARG), dropped=(THINKING_PARAM, HEARTBEAT_PARAM)
            )
            call = self._calls[delta.index] = _Call(reader)
            if self._content:
                self._content_as_reasoning()
        call.id = call.id or delta.tool_call_id
        call.name = call.name or delta.tool_name
        if call.id is None or call.name is None:
            call.early.append(delta.text)
            return
        text = "".join([*call.early, delta.text]) if call.early else delta.text
        call.early.clear()
        if not text:
            return
        shown, fields = call.reader.feed(text)
        if thinking := fields.get(THINKING_PARAM):
            self._thinking(call, thinking)
        if self.waits(call.name):
            return
        if call.name == SEND_MESSAGE:
            if said := fields.get(MESSAGE_ARG):
                self._send("assistant", said, call)
        elif shown:
            self._send("tool_call", shown, call)

    def _reasoning(self, text: str, source: ReasoningSource) -> None:
        if self._source not in (None, source):
            self._source = "stale"  # e.g. native reasoning after `thinking` was sent: act keeps the native
            return
        self._source = source
        self._reasoned = True
        self._send("reasoning", text)

    def _content_as_reasoning(self) -> None:
        """MemGPT mode, text with tool calls: the reasoning is native reasoning + newline + the text."""
        text = "".join(self._content)
        self._content.clear()
        if self._source in (None, "native"):
            text = "\n" + text if self._reasoned else text
            self._source = None
        self._reasoning(text, "content")

    def _thinking(self, call: _Call, text: str) -> None:
        if self._source not in (None, "thinking"):
            return  # native reasoning (or MemGPT text) is the reasoning: `thinking` is not shown
        if not call.thought and self._reasoned:
            text = "\n" + text  # the thoughts of several calls, one per line
        call.thought = True
        self._reasoning(text, "thinking")

    def _send(
        self, kind: Literal["assistant", "reasoning", "tool_call"], text: str, call: _Call | None = None
    ) -> None:
        self.release()
        tool_call_id, tool_name = (call.id, call.name) if call is not None else (None, None)
        self.emit(DeltaEvent(self.message_id, kind, text, tool_call_id, tool_name))
