"""The token estimate never undercounts real BPE tokenizers, and calibration only ever raises it."""

from __future__ import annotations

import pytest

from memfold.context.tokens import (
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    Calibration,
    estimate_message,
    estimate_request,
    estimate_text,
    estimate_tools,
    truncate_to_tokens,
)
from memfold.llm.base import ChatMessage, ModelRequest, ToolCall, ToolSpec
from tests.context.token_samples import COUNTS, SAMPLES


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_estimate_is_at_least_cl100k_and_o200k(name: str) -> None:
    estimate = estimate_text(SAMPLES[name])
    assert estimate >= max(COUNTS[name]), (name, estimate, COUNTS[name])


def test_estimate_is_not_wildly_high_for_english_and_code() -> None:
    for name in ("english", "english_formal", "python", "javascript", "json_tool_call", "json_schema"):
        assert estimate_text(SAMPLES[name]) <= 1.6 * max(COUNTS[name]), name


def test_repeated_text_costs_in_proportion() -> None:
    text = SAMPLES["english"]
    assert estimate_text(text * 20) <= 20 * estimate_text(text) + 20


def test_empty_and_message_overheads() -> None:
    assert estimate_text("") == estimate_text(None) == 0
    assert estimate_message(ChatMessage("user", "")) == MESSAGE_OVERHEAD
    call = ToolCall(id="call_1", name="send_message", arguments='{"message": "hello there"}')
    plain = estimate_message(ChatMessage("assistant", None))
    assert estimate_message(ChatMessage("assistant", None, tool_calls=[call])) > plain + estimate_text(
        call.arguments
    )


def test_request_is_the_sum_of_its_parts() -> None:
    tool = ToolSpec("send_message", "Send a message.", {"type": "object", "properties": {}})
    messages = [ChatMessage("system", "You are kind."), ChatMessage("user", SAMPLES["english"])]
    request = ModelRequest(messages=messages, tools=[tool])
    assert estimate_request(request) == REQUEST_OVERHEAD + estimate_tools([tool]) + sum(
        estimate_message(m) for m in messages
    )


@pytest.mark.parametrize("name", ["english", "python", "chinese", "emoji"])
def test_truncate_to_tokens_fits_the_budget(name: str) -> None:
    text = SAMPLES[name] * 10
    for budget in (0, 1, 17, 100):
        cut = truncate_to_tokens(text, budget)
        assert text.startswith(cut)
        assert estimate_text(cut) <= budget
    assert truncate_to_tokens(text, 10_000) == text


def test_calibration_rises_at_once_and_falls_slowly_never_below_one() -> None:
    calibration = Calibration()
    assert calibration.apply(1000) == 1000
    calibration.observe(estimated=1000, reported=800)  # we overcount: stays at 1.0
    assert calibration.factor == 1.0
    calibration.observe(estimated=1000, reported=1300)  # provider counts more: up at once, with margin
    assert calibration.factor == pytest.approx(1.3 * Calibration.MARGIN)
    high = calibration.factor
    calibration.observe(estimated=1000, reported=900)
    assert 1.0 < calibration.factor < high  # decays, slowly
    assert calibration.factor > high - 0.1
    for _ in range(200):
        calibration.observe(estimated=1000, reported=500)
    assert calibration.factor == 1.0
    calibration.observe(estimated=0, reported=100)  # nothing to learn from
    calibration.observe(estimated=100, reported=0)
    assert calibration.factor == 1.0 and calibration.observations == 203


def test_an_overflow_raises_the_factor() -> None:
    calibration = Calibration()
    calibration.overflowed()
    assert calibration.factor == pytest.approx(1.25)
    for _ in range(50):
        calibration.overflowed()
    assert calibration.factor == Calibration.CEILING
