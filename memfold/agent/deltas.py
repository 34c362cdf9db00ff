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

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal

from memfold.agent.stream import DeltaEvent
from memfold.agent.views import SEND_MESSAGE
from memfold.llm.base import ModelDelta
from memfold.schemas.messages import Message
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

__all__ = ["PartialObject", "StepDeltas"]

MESSAGE_ARG = "message"
"""The argument of `send_message` that is the assistant's words."""

_WHITESPACE = " \t\n\r"
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
_LITERAL = re.compile(r"[^ \t\n\r,\]}]+")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""`json.dumps` of one string (default `ensure_ascii`), the C function it uses."""

Mode = Literal["start", "object", "raw", "done", "broken"]
State = Literal["key_or_close", "key", "colon", "value", "value_or_close", "after", "string", "literal"]


class PartialObject:
    """A JSON object read piece by piece. `feed(piece)` returns what the piece adds to:

    - `shown`: the object as `json.dumps` writes it without the `dropped` top-level members (when the
      text does not start with `{`, the text itself: a view shows such arguments raw);
    - `fields`: the values of the top-level string members named in `fields`, decoded.

    Joined over all pieces, both are exactly what `json.dumps`/`json.loads` give for the whole text
    when it is a valid object. On invalid JSON, reading stops (nothing more is returned).
    """

    def __init__(self, *, fields: Collection[str] = (), dropped: Collection[str] = ()) -> None:
        self.fields = frozenset(fields)
        self.dropped = frozenset(dropped)
        self.mode: Mode = "start"
        self._state: State = "key_or_close"
        self._stack: list[list[int]] = []
        """Per open container: [1 if object else 0, items shown so far]."""
        self._lead: list[str] = []
        self._in_key = False
        self._key: list[str] = []
        self._member: str | None = None
        self._hidden = False
        self._opening = False
        """The object's "{" is still to show: it goes with the first member shown (or the "}"), so that
        pieces of a call's view do not start before the `thinking` that comes first."""
        self._capture: str | None = None
        self._escape: str | None = None
        """None outside an escape; "" just after a backslash; "u" and the hex digits read so far."""
        self._high: str | None = None
        self._literal: list[str] = []
        self._shown: list[str] = []
        self._fields: dict[str, list[str]] = {}

    def feed(self, piece: str) -> tuple[str, dict[str, str]]:
        if self.mode == "raw":
            return piece, {}
        self._shown, self._fields = [], {}
        i = 0
        while i < len(piece) and self.mode not in ("raw", "broken"):
            char = piece[i]
            if self.mode == "object":
                i = self._scan(piece, i)
            elif char in _WHITESPACE:
                self._lead.append(char)
                i += 1
            elif self.mode == "done":
                self.mode = "broken"  # data after the object: not JSON
            elif char == "{":
                self.mode = "object"
                self._stack.append([1, 0])
                self._state, self._opening = "key_or_close", True  # "{" waits for a shown member
                i += 1
            else:
                self.mode = "raw"
                self._shown = ["".join(self._lead), piece[i:]]
        return "".join(self._shown), {name: "".join(parts) for name, parts in self._fields.items()}

    # -- the structure ----------------------------------------------------------------------------

    def _scan(self, text: str, i: int) -> int:
        """Read from `text[i]` until the piece ends, the object closes, or the text is not JSON."""
        n = len(text)
        while i < n and self.mode == "object":
            state = self._state
            if state == "string":
                i = self._string(text, i)
                continue
            if state == "literal":
                found = _LITERAL.match(text, i)
                if found is not None:
                    self._literal.append(found.group())
                    i = found.end()
                if i < n:
                    self._end_literal()
                continue
            char = text[i]
            i += 1
            if char in _WHITESPACE:
                continue
            is_object = bool(self._stack[-1][0])
            if state in ("key_or_close", "key") and char == '"':
                self._in_key, self._key, self._state = True, [], "string"
            elif state == "colon" and char == ":":
                self._state = "value"
            elif state == "after" and char == ",":
                self._state = "key" if is_object else "value"
            elif char == "}" and is_object and state in ("key_or_close", "after"):
                self._close("}")
            elif char == "]" and not is_object and state in ("value_or_close", "after"):
                self._close("]")
            elif state in ("value", "value_or_close"):
                self._value(char)
            else:
                self.mode = "broken"
        return i

    def _value(self, char: str) -> None:
        stack = self._stack
        if not stack[-1][0] and not self._hidden:  # an array item
            self._show(", " if stack[-1][1] else "")
            stack[-1][1] += 1
        if char == '"':
            self._in_key, self._state = False, "string"
            top_member = len(stack) == 1 and self._member in self.fields
            self._capture = self._member if top_member else None
            self._show('"')
        elif char == "{":
            self._open(1, "{", "key_or_close")
        elif char == "[":
            self._open(0, "[", "value_or_close")
        else:
            self._literal, self._state = [char], "literal"

    def _open(self, is_object: int, opener: str, state: State) -> None:
        self._stack.append([is_object, 0])
        self._show(opener)
        self._state = state

    def _close(self, closer: str) -> None:
        self._stack.pop()
        self._show(closer)
        if not self._stack:
            self.mode = "done"
        else:
            self._value_done()

    def _value_done(self) -> None:
        self._state = "after"
        if len(self._stack) == 1:
            self._member, self._hidden = None, False

    def _end_literal(self) -> None:
        try:
            value = json.loads("".join(self._literal))
        except ValueError:
            self.mode = "broken"
            return
        self._show(json.dumps(value))
        self._value_done()

    def _end_key(self) -> None:
        key = "".join(self._key)
        top = self._stack[-1]
        if len(self._stack) == 1:
            self._member, self._hidden = key, key in self.dropped
        if not self._hidden:
            self._show((", " if top[1] else "") + _quote(key) + ": ")
            top[1] += 1
        self._state = "colon"

    def _show(self, text: str) -> None:
        if not self._hidden:
            if self._opening:
                self._opening = False
                self._shown.append("{")
            self._shown.append(text)

    # -- strings ----------------------------------------------------------------------------------

    def _string(self, text: str, i: int) -> int:
        """Read string content from `text[i]`; returns where reading stopped."""
        n = len(text)
        while i < n:
            if self._escape is not None:
                i = self._escaped(text, i)
                if self.mode == "broken":
                    return n
                continue
            char = text[i]
            if char == '"':
                self._flush_high()
                if self._in_key:
                    self._end_key()
                else:
                    self._show('"')
                    self._capture = None
                    self._value_done()
                return i + 1
            if char == "\\":
                self._escape = ""
                i += 1
                continue
            run = _PLAIN.match(text, i)
            if run is None:  # a raw control character: json.loads (strict) rejects it
                self.mode = "broken"
                return n
            self._chars(run.group())
            i = run.end()
        return i

    def _escaped(self, text: str, i: int) -> int:
        if self._escape == "":
            char = text[i]
            if char == "u":
                self._escape = "u"
            elif char in _ESCAPES:
                self._escape = None
                self._chars(_ESCAPES[char])
            else:
                self.mode = "broken"
            return i + 1
        assert self._escape is not None
        digits = text[i : i + 5 - len(self._escape)]
        self._escape += digits
        if len(self._escape) == 5:
            hex_digits, self._escape = self._escape[1:], None
            if not set(hex_digits) <= _HEX:
                self.mode = "broken"
            else:
                self._code_point(int(hex_digits, 16))
        return i + len(digits)

    def _code_point(self, code: int) -> None:
        """A `\\uXXXX` escape. A high surrogate waits for the next escape: followed by a low one they are
        one character, as json.loads reads them; otherwise each stands alone."""
        if self._high is not None:
            high, self._high = self._high, None
            if 0xDC00 <= code <= 0xDFFF:
                self._decoded(chr(0x10000 + ((ord(high) - 0xD800) << 10) + (code - 0xDC00)))
                return
            self._decoded(high)
        if 0xD800 <= code <= 0xDBFF:
            self._high = chr(code)
        else:
            self._decoded(chr(code))

    def _chars(self, chars: str) -> None:
        self._flush_high()
        self._decoded(chars)

    def _flush_high(self) -> None:
        if self._high is not None:
            high, self._high = self._high, None
            self._decoded(high)

    def _decoded(self, chars: str) -> None:
        if self._in_key:
            self._key.append(chars)
            return
        if self._capture is not None:
            self._fields.setdefault(self._capture, []).append(chars)
        self._show(_quote(chars)[1:-1])


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
