"""Reading a JSON object while it arrives in pieces: the values of its string members, decoded as
they come (escapes such as `\\uXXXX` and surrogate pairs split between pieces included, exactly as
`json.loads` decodes them), and the object re-written piece by piece the way `json.dumps` would write
it without some members. Used for the arguments of tool calls streamed by a model (agent/deltas.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Literal

__all__ = ["PartialObject"]

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
