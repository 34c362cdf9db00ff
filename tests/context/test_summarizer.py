"""The summarizer: one bounded call folding evicted messages into the summary, and its fallback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from memfold.context.summarizer import TRUNCATED, Summarizer, fallback_summary, transcript_lines
from memfold.context.tokens import estimate_request, estimate_text
from memfold.errors import ProviderError
from memfold.llm.scripted import ScriptedModel, text_response
from memfold.schemas.messages import Message, StoredToolCall

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def history(turns: int, words: int = 5) -> list[Message]:
    messages: list[Message] = []
    for i in range(turns):
        at = START + timedelta(minutes=i)
        call = StoredToolCall(
            id=f"call_{i}",
            name="send_message",
            arguments=json.dumps({"thinking": "secret plan", "message": f"answer {i}"}),
        )
        messages += [
            Message(
                id=f"m-u{i}",
                agent_id="a",
                role="user",
                content=f"question {i} " + "word " * words,
                created_at=at,
            ),
            Message(id=f"m-a{i}", agent_id="a", role="assistant", tool_calls=[call], created_at=at),
            Message(
                id=f"m-t{i}",
                agent_id="a",
                role="tool",
                name="send_message",
                tool_call_id=f"call_{i}",
                content="Sent message successfully.",
                tool_status="success",
                created_at=at,
            ),
        ]
    return messages


def test_transcript_shows_what_was_said_and_done() -> None:
    edit = Message(
        id="m-e",
        agent_id="a",
        role="assistant",
        tool_calls=[
            StoredToolCall(
                id="c",
                name="core_memory_append",
                arguments=json.dumps(
                    {"thinking": "x", "label": "human", "content": "Likes tea", "request_heartbeat": True}
                ),
            )
        ],
        created_at=START,
    )
    result = Message(
        id="m-r",
        agent_id="a",
        role="tool",
        name="core_memory_append",
        tool_call_id="c",
        content="Appended.",
        tool_status="success",
        created_at=START,
    )
    lines = transcript_lines([*history(1), edit, result])
    assert lines == [
        "[2026-11-22 09:00] user: question 0 word word word word word ",
        "[2026-11-22 09:00] agent: answer 0",
        '[2026-11-22 09:00] agent called core_memory_append({"label": "human", "content": "Likes tea"})',
        "[2026-11-22 09:00] core_memory_append returned (success): Appended.",
    ]


async def test_fold_makes_one_bounded_call_without_tools() -> None:
    model = ScriptedModel(lambda request: text_response("The user asked three questions."))
    result = await Summarizer(model).fold("Earlier: hello.", history(3), max_tokens=200, prompt_budget=3000)
    assert result.summarized and result.text == "The user asked three questions."
    request = model.last_request
    assert request.tools == [] and request.max_tokens == 200
    assert request.messages[0].role == "system" and "at most 120 words" in (request.messages[0].content or "")
    user = request.messages[1].content or ""
    assert "<previous_summary>\nEarlier: hello.\n</previous_summary>" in user
    assert "question 2" in user and "answer 2" in user
    assert "secret plan" not in user  # private reasoning stays out


async def test_a_long_summary_is_truncated_and_says_so() -> None:
    model = ScriptedModel(lambda request: text_response("blah " * 2000))
    result = await Summarizer(model).fold(None, history(2), max_tokens=100, prompt_budget=3000)
    assert result.summarized
    assert result.text.endswith(TRUNCATED)
    assert estimate_text(result.text) <= 100


async def test_the_transcript_is_clipped_to_fit_the_prompt_budget() -> None:
    model = ScriptedModel(lambda request: text_response("short"))
    evicted = history(40, words=200)
    await Summarizer(model).fold("prev", evicted, max_tokens=100, prompt_budget=1500)
    assert estimate_request(model.last_request) <= 1500
    assert "[...]" in (model.last_request.messages[1].content or "")


async def test_a_failed_call_falls_back_to_a_deterministic_marker() -> None:
    model = ScriptedModel().enqueue(ProviderError("down", provider="scripted", status=503))
    evicted = history(4)
    result = await Summarizer(model).fold("The user is Ada.", evicted, max_tokens=120, prompt_budget=3000)
    assert not result.summarized and result.error == "down"
    assert result.text.startswith("[12 earlier messages (2026-11-22 09:00 to 2026-11-22 09:03 UTC)")
    assert "without a summary (the summarizer failed)" in result.text
    assert "recall memory" in result.text
    assert result.text.endswith("The user is Ada.")
    assert estimate_text(result.text) <= 120


async def test_an_empty_answer_falls_back_too() -> None:
    model = ScriptedModel(lambda request: text_response("  "))
    result = await Summarizer(model).fold(None, history(1), max_tokens=120, prompt_budget=3000)
    assert not result.summarized and "the summarizer answered nothing" in result.text


def test_fallback_keeps_what_fits_of_the_previous_summary() -> None:
    previous = "fact " * 1000
    text = fallback_summary(previous, history(2), 150, "testing")
    assert estimate_text(text) <= 150
    assert text.endswith(TRUNCATED)
    assert fallback_summary(previous, history(2), 150, "testing") == text  # deterministic
