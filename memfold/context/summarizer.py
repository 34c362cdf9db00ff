"""The recursive summary: evicted messages are folded into the running summary by an LLM call.

One call per compaction, on the agent's own model: the previous summary and a transcript of
the evicted messages in, the new summary out (bounded with `max_tokens`). The transcript is
fitted to the window first: when it is too long, the longest lines are clipped.

The summary never blocks a turn: when the call fails, or answers nothing, a deterministic
summary takes its place -- a marker saying how many messages (and from when) were evicted
unsummarized and that recall memory still holds them, followed by as much of the previous
summary as fits. A summary over its budget is truncated, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from memfold.context.tokens import Calibration, estimate_request, estimate_text, truncate_to_tokens
from memfold.errors import ProviderError
from memfold.llm.base import ChatMessage, Model, ModelRequest
from memfold.schemas.messages import Message
from memfold.tools.executor import HEARTBEAT_PARAM, THINKING_PARAM

__all__ = ["SUMMARIZER_PROMPT", "Summarizer", "SummaryResult", "fallback_summary", "transcript_lines"]

SUMMARIZER_PROMPT = """\
You keep the running summary of a conversation between an AI agent and its user. The summary \
stands in for messages that no longer fit in the agent's context window, so write it for the \
agent to read later.

Fold the new messages into the previous summary and write one updated summary:
- keep what will matter later: facts about the user and the world, names, numbers and dates, \
decisions, promises, open questions and unfinished tasks;
- keep the order of events where it matters; drop greetings, filler and repetition;
- refer to "the user" and "the agent"; no preamble, no closing remarks;
- at most {words} words."""

TRUNCATED = " [summary truncated to fit the context window]"
LINE_FLOOR = 24
"""A transcript line is never clipped below this many tokens."""


@dataclass(frozen=True, slots=True)
class SummaryResult:
    text: str
    summarized: bool
    """False when the deterministic fallback wrote it (the model failed or answered nothing)."""
    error: str | None = None


def _when(message: Message) -> str:
    return f"{message.created_at:%Y-%m-%d %H:%M}"


def _shown_arguments(raw: str) -> str:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if not isinstance(parsed, dict):
        return raw
    return json.dumps({k: v for k, v in parsed.items() if k not in (THINKING_PARAM, HEARTBEAT_PARAM)})


def _assistant_lines(message: Message) -> list[str]:
    lines: list[str] = []
    if message.content:
        lines.append(f"[{_when(message)}] agent: {message.content}")
    for call in message.tool_calls or []:
        if call.name == "send_message":
            try:
                said = json.loads(call.arguments).get("message")
            except (json.JSONDecodeError, AttributeError):
                said = None
            if isinstance(said, str):
                lines.append(f"[{_when(message)}] agent: {said}")
                continue
        lines.append(f"[{_when(message)}] agent called {call.name}({_shown_arguments(call.arguments)})")
    return lines


def transcript_lines(messages: Sequence[Message]) -> list[str]:
    """The evicted messages as the summarizer reads them: one line per utterance or tool event."""
    lines: list[str] = []
    for m in messages:
        if m.role == "user":
            who = f"user ({m.name or m.sender_id})" if m.sender_id or m.name else "user"
            lines.append(f"[{_when(m)}] {who}: {m.content or ''}")
        elif m.role == "assistant":
            lines.extend(_assistant_lines(m))
        elif m.role == "tool":
            if m.name == "send_message" and m.tool_status != "error":
                continue
            lines.append(
                f"[{_when(m)}] {m.name or 'tool'} returned ({m.tool_status or 'success'}): {m.content}"
            )
        elif m.role == "summary":
            lines.append(f"(an earlier summary) {m.content or ''}")
        else:
            lines.append(f"[{_when(m)}] {m.role}: {m.content or ''}")
    return lines


def _fit_lines(lines: list[str], available: int) -> list[str]:
    """Clip the longest lines (and, failing that, drop the oldest) so the lines fit `available` tokens."""
    costs = [estimate_text(line) + 1 for line in lines]
    if sum(costs) <= available:
        return lines
    low, high = LINE_FLOOR, max(costs)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(c, cap) for c in costs) <= available:
            low = cap
        else:
            high = cap - 1
    fitted = [
        truncate_to_tokens(line, low - 8) + " [...]" if cost > low else line
        for line, cost in zip(lines, costs, strict=True)
    ]
    dropped = 0
    while sum(estimate_text(line) + 1 for line in fitted) > available and len(fitted) > 1:
        fitted.pop(0)
        dropped += 1
    if dropped:
        fitted.insert(0, f"({dropped} earlier lines left out)")
    return fitted


def fallback_summary(previous: str | None, evicted: Sequence[Message], budget: int, reason: str) -> str:
    """The deterministic summary: a marker for the unsummarized messages, then the previous summary."""
    marker = f"[{len(evicted)} earlier messages"
    if evicted:
        marker += f" ({_when(evicted[0])} to {_when(evicted[-1])} UTC)"
    marker += (
        f" were evicted from the context window without a summary ({reason}); they remain in "
        "recall memory: search it when they matter.]"
    )
    marker = truncate_to_tokens(marker, budget)
    if not previous:
        return marker
    room = budget - estimate_text(marker) - estimate_text(TRUNCATED) - 2
    if room <= 0:
        return marker
    kept = truncate_to_tokens(previous, room)
    return f"{marker}\n{kept}{TRUNCATED if kept != previous else ''}"


class Summarizer:
    """Folds evicted messages into the running summary with one call to `model`."""

    def __init__(self, model: Model, *, prompt: str | None = None) -> None:
        self.model = model
        self.prompt = prompt or SUMMARIZER_PROMPT

    def request(self, previous: str | None, lines: list[str], max_tokens: int) -> ModelRequest:
        words = max(20, int(max_tokens * 0.6))
        system = self.prompt.format(words=words) if "{words}" in self.prompt else self.prompt
        body = "\n".join(lines)
        user = (
            f"<previous_summary>\n{previous or '(none yet)'}\n</previous_summary>\n\n"
            f"<new_messages>\n{body}\n</new_messages>\n\nWrite the updated summary."
        )
        return ModelRequest(
            messages=[ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)],
            max_tokens=max_tokens,
        )

    async def fold(
        self,
        previous: str | None,
        evicted: Sequence[Message],
        *,
        max_tokens: int,
        prompt_budget: int,
        calibration: Calibration | None = None,
    ) -> SummaryResult:
        """The new summary of `previous` + `evicted`, at most `max_tokens` tokens by our estimate.

        `prompt_budget` bounds the summarizer's own request (after calibration)."""
        calibration = calibration or Calibration()
        empty = self.request(previous, [], max_tokens)
        available = int(prompt_budget / calibration.factor) - estimate_request(empty)
        lines = _fit_lines(transcript_lines(evicted), max(available, LINE_FLOOR))
        request = self.request(previous, lines, max_tokens)
        try:
            response = await self.model.complete(request)
        except ProviderError as e:
            reason = "the summarizer failed"
            return SummaryResult(fallback_summary(previous, evicted, max_tokens, reason), False, e.message)
        calibration.observe(estimate_request(request), response.usage.prompt_tokens)
        text = (response.content or "").strip()
        if not text:
            reason = "the summarizer answered nothing"
            return SummaryResult(fallback_summary(previous, evicted, max_tokens, reason), False, reason)
        if estimate_text(text) > max_tokens:
            text = truncate_to_tokens(text, max_tokens - estimate_text(TRUNCATED)).rstrip() + TRUNCATED
        return SummaryResult(text, True)
