"""Token deltas: the partial-JSON reader against json.loads/json.dumps, and the translation of a model's
pieces into pieces of the assistant message's views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memfold.agent.deltas import StepDeltas
from memfold.agent.partial_json import PartialObject
from memfold.agent.stream import DeltaEvent
from memfold.llm.base import ModelDelta, ModelResponse, ToolCall
from memfold.llm.scripted import stream_pieces, tool_call
from memfold.schemas.messages import Message

FIELDS = ("thinking", "message")
DROPPED = ("thinking", "request_heartbeat")


def read(text: str, cuts: list[int]) -> tuple[str, dict[str, str], str]:
    """Feed `text` cut at `cuts`; returns what was shown, the fields, and the reader's final mode."""
    reader = PartialObject(fields=FIELDS, dropped=DROPPED)
    shown: list[str] = []
    fields: dict[str, str] = {}
    start = 0
    for end in [*sorted(cuts), len(text)]:
        piece_shown, piece_fields = reader.feed(text[start:end])
        shown.append(piece_shown)
        for name, value in piece_fields.items():
            fields[name] = fields.get(name, "") + value
        start = end
    return "".join(shown), fields, reader.mode


def expected(text: str) -> tuple[str, dict[str, str]]:
    """What the views make of the whole text: json.dumps without the loop's members, and the fields."""
    value = json.loads(text)
    shown = json.dumps({k: v for k, v in value.items() if k not in DROPPED})
    fields = {k: value[k] for k in FIELDS if isinstance(value.get(k), str)}
    return shown, fields


def every_cut(text: str) -> list[list[int]]:
    """One piece per character, and every single cut."""
    return [list(range(1, len(text))), *[[i] for i in range(len(text) + 1)]]


# -- the reader: properties ------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # includes lone surrogates and control characters
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(any_char)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(any_char, max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
members = st.dictionaries(
    st.sampled_from(["thinking", "message", "request_heartbeat", "label", "x", "\u00e9\U0001f600"])
    | st.text(any_char, max_size=8),
    values,
    max_size=6,
)
writings = st.sampled_from(
    [
        {},
        {"ensure_ascii": False},
        {"indent": 2},
        {"separators": (",", ":")},
        {"indent": "\t", "ensure_ascii": False},
    ]
)


@settings(max_examples=400, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=members, style=writings, data=st.data())
def test_pieces_add_up_to_what_json_makes_of_the_whole(
    obj: dict[str, Any], style: dict[str, Any], data: Any
) -> None:
    text = json.dumps(obj, **style)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    shown, fields, mode = read(text, cuts)
    want_shown, want_fields = expected(text)
    assert shown == want_shown
    assert {k: v for k, v in fields.items() if v} == {k: v for k, v in want_fields.items() if v}
    assert mode == "done"


@settings(max_examples=300, database=None, deadline=None)
@given(text=st.text(any_char, max_size=12), data=st.data())
def test_a_string_field_decodes_like_json_loads_wherever_it_is_cut(text: str, data: Any) -> None:
    raw = '{"message": ' + json.dumps(text) + "}"  # ASCII: every non-ASCII character is a \uXXXX escape
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=len(raw)))
    shown, fields, _ = read(raw, cuts)
    assert fields.get("message", "") == text
    assert shown == raw


# -- the reader: the hard cases, at every cut --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ('{"message": "a\\u00e9b"}', "a\u00e9b"),
        ('{"message": "\\ud83d\\ude00!"}', "\U0001f600!"),  # a surrogate pair: one character
        ('{"message": "\\ud83dx"}', "\ud83dx"),  # a lone high surrogate stays alone
        ('{"message": "\\ud83d\\n"}', "\ud83d\n"),
        ('{"message": "\\ud83d\\ud83d\\ude00"}', "\ud83d\U0001f600"),  # the second high one pairs
        ('{"message": "\\ude00\\ud83d"}', "\ude00\ud83d"),
        ('{"message": "\\"\\\\\\/\\b\\f\\n\\r\\t"}', '"\\/\b\f\n\r\t'),
        ('{"message": "\\u00E9\\u20AC"}', "\u00e9\u20ac"),  # upper-case hex
        ('{"message":"raw \u00e9 \U0001f600 \x7f"}', "raw \u00e9 \U0001f600 \x7f"),
    ],
)
def test_escapes_split_anywhere(raw: str, decoded: str) -> None:
    assert json.loads(raw)["message"] == decoded  # the case itself is right
    for cuts in every_cut(raw):
        shown, fields, mode = read(raw, cuts)
        assert (shown, fields.get("message"), mode) == (json.dumps({"message": decoded}), decoded, "done")


def test_members_the_view_drops_are_left_out_wherever_they_are() -> None:
    raw = '{ "thinking" : "x" , "a" : [1, {"thinking": "kept"}], "request_heartbeat" : true, "b": {} }'
    for cuts in every_cut(raw):
        shown, fields, _ = read(raw, cuts)
        assert shown == '{"a": [1, {"thinking": "kept"}], "b": {}}'
        assert fields == {"thinking": "x"}  # only the top-level member is the reasoning


def test_numbers_and_literals_are_written_as_json_dumps_writes_them() -> None:
    raw = '{"a": 1.50, "b": 1E2, "c": -0, "d": 12345678901234567890, "e": true, "f": null, "g": 1e400}'
    for cuts in every_cut(raw):
        assert read(raw, cuts)[0] == json.dumps(json.loads(raw))


def test_fields_that_are_not_strings_give_nothing() -> None:
    raw = '{"thinking": 5, "message": ["x"], "other": "y"}'
    shown, fields, _ = read(raw, [3, 9])
    assert fields == {}
    assert shown == '{"message": ["x"], "other": "y"}'


@pytest.mark.parametrize("raw", ["[1, 2]", '  "just text"', "not json at all", "  7"])
def test_arguments_that_are_not_an_object_are_shown_raw(raw: str) -> None:
    for cuts in every_cut(raw):
        assert read(raw, cuts)[:2] == (raw, {})


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": tru}',
        '{"a": 1,}',
        '{"a" 1}',
        '{"a": "line\nbreak"}',  # a raw control character
        '{"a": "\\x"}',
        '{"a": "\\u12G4"}',
        '{"a": 01}',
        '{"a": 1}{"b": 2}',
        '{"a": [1}',
    ],
)
def test_reading_stops_at_invalid_json(raw: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    for cuts in every_cut(raw):
        assert read(raw, cuts)[2] == "broken"
    reader = PartialObject(fields=FIELDS, dropped=DROPPED)
    reader.feed(raw)
    assert reader.feed(', "message": "more"}') == ("", {})  # nothing after the fault


def test_an_unfinished_object_shows_what_it_has_and_the_brace_waits_for_a_shown_member() -> None:
    shown, fields, mode = read('{"thinking": "half a thou', [5])
    assert (shown, fields, mode) == ("", {"thinking": "half a thou"}, "object")
    reader = PartialObject(fields=FIELDS, dropped=DROPPED)
    assert reader.feed('{"thinking": "T", "la') == ("", {"thinking": "T"})
    assert reader.feed('bel": "hu') == ('{"label": "hu', {})


# -- the translator ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[DeltaEvent | Message] = []

    def texts(self) -> dict[tuple[str, str | None], str]:
        out: dict[tuple[str, str | None], str] = {}
        for e in self.events:
            if isinstance(e, DeltaEvent):
                key = (e.kind, e.tool_call_id)
                out[key] = out.get(key, "") + e.text
        return out


def translate(
    response: ModelResponse,
    *,
    memgpt: bool = True,
    waits: frozenset[str] = frozenset(),
    held: list[Message] | None = None,
    order: list[ModelDelta] | None = None,
) -> Recorder:
    recorder = Recorder()
    deltas = StepDeltas(
        "message-1",
        memgpt=memgpt,
        waits=waits.__contains__,
        emit=recorder.events.append,
        announce=recorder.events.append,
        held=held,
    )
    for delta in order if order is not None else model_pieces(response):
        deltas.feed(delta)
    assert all(e.message_id == "message-1" for e in recorder.events if isinstance(e, DeltaEvent))
    return recorder


def model_pieces(response: ModelResponse) -> list[ModelDelta]:
    """The pieces a streaming model sends: reasoning, text, then each call (id and name first)."""
    out = [ModelDelta("reasoning", p) for p in stream_pieces(response.reasoning or "")]
    out += [ModelDelta("content", p) for p in stream_pieces(response.content or "")]
    for index, call in enumerate(response.tool_calls):
        out.append(ModelDelta("tool_call", "", index, call.id, call.name))
        out += [ModelDelta("tool_call", p, index, call.id, call.name) for p in stream_pieces(call.arguments)]
    return out


def call(name: str, id: str, **arguments: Any) -> ToolCall:
    return ToolCall(id, name, json.dumps(arguments))


def test_memgpt_send_message_gives_reasoning_words_and_the_call_as_shown() -> None:
    message = 'Hello \U0001f600, "friend"\n'
    response = ModelResponse(
        tool_calls=[
            call("send_message", "c1", thinking="Greet \u00e9.", message=message, request_heartbeat=False)
        ]
    )
    texts = translate(response).texts()
    # The words once: the server shows them as the call's arguments when asked to (tool_call view).
    assert texts == {("reasoning", None): "Greet \u00e9.", ("assistant", "c1"): message}


def test_the_thoughts_of_several_calls_are_one_per_line() -> None:
    response = ModelResponse(
        tool_calls=[
            call("remember", "c1", thinking="First.", fact="tea"),
            call("remember", "c2", thinking="", fact="jazz"),
            call("send_message", "c3", thinking="Third.", message="ok"),
        ]
    )
    texts = translate(response).texts()
    assert texts[("reasoning", None)] == "First.\nThird."
    assert texts[("tool_call", "c1")] == '{"fact": "tea"}'
    assert texts[("tool_call", "c2")] == '{"fact": "jazz"}'


@pytest.mark.parametrize(("native", "reasoning"), [(None, "Some text."), ("Native.", "Native.\nSome text.")])
def test_memgpt_text_before_tool_calls_is_reasoning_and_thinking_then_is_not(
    native: str | None, reasoning: str
) -> None:
    response = ModelResponse(
        content="Some text.",
        reasoning=native,
        tool_calls=[call("send_message", "c1", thinking="T", message="m")],
    )
    texts = translate(response).texts()
    assert texts[("reasoning", None)] == reasoning
    assert texts[("assistant", "c1")] == "m"


def test_memgpt_text_without_tool_calls_is_not_streamed() -> None:
    held = [_message("message-user")]
    recorder = translate(ModelResponse(content="A slip: plain text."), held=held)
    assert recorder.events == []  # nothing, not even the held input: the loop shows them as usual


def test_native_mode_text_is_the_reply_and_native_reasoning_the_reasoning() -> None:
    response = ModelResponse(content="The answer \u00e9.", reasoning="Let me think.")
    texts = translate(response, memgpt=False).texts()
    assert texts == {("assistant", None): "The answer \u00e9.", ("reasoning", None): "Let me think."}

    with_call = ModelResponse(reasoning="Look it up.", tool_calls=[call("search", "c9", query="tea", page=2)])
    texts = translate(with_call, memgpt=False).texts()
    assert texts == {("reasoning", None): "Look it up.", ("tool_call", "c9"): '{"query": "tea", "page": 2}'}


def test_calls_that_wait_for_approval_are_not_streamed_but_their_thinking_is() -> None:
    response = ModelResponse(
        tool_calls=[call("delete_everything", "c1", thinking="Risky.", confirm=True, request_heartbeat=True)]
    )
    texts = translate(response, waits=frozenset({"delete_everything"})).texts()
    assert texts == {("reasoning", None): "Risky."}


def test_held_messages_are_announced_once_before_the_first_piece() -> None:
    held = [_message("message-user")]
    recorder = translate(ModelResponse(tool_calls=[call("send_message", "c1", message="hi")]), held=held)
    assert recorder.events[0] is held[0]
    assert sum(1 for e in recorder.events if isinstance(e, Message)) == 1
    assert isinstance(recorder.events[1], DeltaEvent)


def test_pieces_that_come_before_the_calls_name_wait_for_it() -> None:
    arguments = json.dumps({"thinking": "T", "message": "Hi"})
    order = [
        ModelDelta("tool_call", arguments[:5], 0, None, None),
        ModelDelta("tool_call", arguments[5:12], 0, "c1", None),
        ModelDelta("tool_call", arguments[12:], 0, "c1", "send_message"),
    ]
    texts = translate(ModelResponse(), order=order).texts()
    assert texts == {("reasoning", None): "T", ("assistant", "c1"): "Hi"}


def test_native_reasoning_after_thinking_stops_the_reasoning_pieces() -> None:
    arguments = json.dumps({"thinking": "From the call.", "message": "Hi"})
    order = [
        ModelDelta("tool_call", arguments, 0, "c1", "send_message"),
        ModelDelta("reasoning", "Native, late."),
        ModelDelta("reasoning", " More."),
    ]
    texts = translate(ModelResponse(), order=order).texts()
    # act keeps the native reasoning; the pieces sent cannot be taken back, so none follow (the server
    # then sends the final reasoning whole).
    assert texts[("reasoning", None)] == "From the call."


def _message(message_id: str) -> Message:
    return Message(id=message_id, agent_id="agent-1", role="user", content="hi", created_at=datetime.now(UTC))


def test_tool_call_helper_arguments_round_trip() -> None:
    made = tool_call("send_message", message="x")
    assert translate(ModelResponse(tool_calls=[made])).texts()[("assistant", made.id)] == "x"
