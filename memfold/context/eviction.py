"""Which messages leave the context window, and how what stays is made to fit.

Messages are evicted in *units*: an assistant message that called tools together with the
results of those calls, or any other message alone, so a tool call is never separated from
its result. Units go oldest first. Protected messages (the input of the turn in progress)
and the newest unit (the latest tool result the model must see to go on) never go. When
what is left still does not fit -- one message larger than the window, say -- the largest
messages are clipped in the request (never in the store), each with a pointer to its full
text in recall memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from memfold.context.tokens import estimate_text, truncate_to_tokens
from memfold.schemas.messages import Message, StoredToolCall

__all__ = [
    "EvictionPlan",
    "Unit",
    "WindowBudget",
    "clip_message",
    "fit_messages",
    "plan_eviction",
    "units_of",
]

MIN_CLIP_TOKENS = 48
"""A clipped message keeps at least this many tokens of its text."""


@dataclass(frozen=True, slots=True)
class WindowBudget:
    """Token budgets of one agent's requests, derived from its context window.

    - `prompt`: the most a request may take: `threshold` x window, and never the room kept
      for the reply (an eighth of the window, 128 to 4,096 tokens);
    - `target`: what a compaction brings the request down to;
    - `summary`: the most the running summary may take (a tenth of the window, 64 to 2,048).

    `pressure` (after the provider still rejected a request as too long) shrinks the prompt
    and target budgets by a quarter per level.
    """

    window: int
    prompt: int
    target: int
    summary: int
    reply: int

    @classmethod
    def for_window(cls, window: int, *, threshold: float, target: float, pressure: int = 0) -> WindowBudget:
        reply = min(4096, max(128, window // 8))
        scale = 0.75**pressure
        prompt = int(min(window * threshold, window - reply) * scale)
        summary = min(2048, max(64, window // 10))
        goal = int(min(window * target * scale, prompt * 0.85))
        return cls(window=window, prompt=max(prompt, 1), target=max(goal, 1), summary=summary, reply=reply)


@dataclass(frozen=True, slots=True)
class Unit:
    """Messages `start:stop` of a list, evicted together; `tokens` is their estimate."""

    start: int
    stop: int
    tokens: int


def units_of(messages: Sequence[Message], costs: Sequence[int]) -> list[Unit]:
    """Group messages into eviction units: a tool-calling assistant message with the results after it."""
    units: list[Unit] = []
    i, n = 0, len(messages)
    while i < n:
        j = i + 1
        calls = messages[i].tool_calls if messages[i].role == "assistant" else None
        if calls:
            ids = {call.id for call in calls}
            while j < n and messages[j].role == "tool" and messages[j].tool_call_id in ids:
                j += 1
        units.append(Unit(i, j, sum(costs[i:j])))
        i = j
    return units


@dataclass(frozen=True, slots=True)
class EvictionPlan:
    evict: list[int]
    """Indices of the messages to evict, ascending."""
    keep: list[int]
    """Indices of the messages that stay, ascending."""
    kept_tokens: int


def plan_eviction(
    messages: Sequence[Message],
    costs: Sequence[int],
    *,
    budget: int,
    protected: Collection[int] = (),
    keep_newest: bool = True,
) -> EvictionPlan:
    """Evict whole units, oldest first, until the rest takes at most `budget` tokens (or nothing
    evictable is left). Units holding a `protected` index stay, and so does the newest unit
    unless `keep_newest` is false."""
    units = units_of(messages, costs)
    remaining = sum(costs)
    evicted: set[int] = set()
    last = len(units) - 1
    for position, unit in enumerate(units):
        if remaining <= budget:
            break
        if (keep_newest and position == last) or any(unit.start <= p < unit.stop for p in protected):
            continue
        evicted.update(range(unit.start, unit.stop))
        remaining -= unit.tokens
    keep = [i for i in range(len(messages)) if i not in evicted]
    return EvictionPlan(evict=sorted(evicted), keep=keep, kept_tokens=remaining)


def _pointer(message: Message, length: int) -> str:
    return (
        f"\n[... clipped to fit the context window: {length} characters in all; the full text is "
        f"message {message.id} in recall memory]"
    )


def _clip_text(text: str, tokens: int, pointer: str) -> str:
    room = max(MIN_CLIP_TOKENS, tokens - estimate_text(pointer))
    return truncate_to_tokens(text, room) + pointer


def clip_message(message: Message, tokens: int) -> Message:
    """A copy of `message` whose text takes about `tokens` tokens, with a pointer to the full text
    in recall memory. Tool-call arguments are clipped the same way when they are the bulk."""
    update: dict[str, object] = {}
    content = message.content or ""
    arguments = sum(len(call.arguments) for call in message.tool_calls or [])
    if len(content) >= arguments:
        update["content"] = _clip_text(content, tokens, _pointer(message, len(content)))
    else:
        share = max(MIN_CLIP_TOKENS, tokens // max(1, len(message.tool_calls or [])))
        update["tool_calls"] = [
            StoredToolCall(
                id=call.id,
                name=call.name,
                arguments=_clip_text(call.arguments, share, _pointer(message, len(call.arguments))),
            )
            if estimate_text(call.arguments) > share
            else call
            for call in message.tool_calls or []
        ]
    return message.model_copy(update=update)


def fit_messages(
    messages: Sequence[Message],
    costs: Sequence[int],
    available: int,
    cost_of: Callable[[Message], int],
) -> tuple[list[Message], list[int]]:
    """Clip the largest messages so that all of them take at most `available` tokens.

    Water-filling: every message keeps its size up to a common cap, chosen as high as the
    room allows; only messages above the cap are clipped (to no less than `MIN_CLIP_TOKENS`
    of text). `cost_of` prices a clipped copy. Returns the messages (clipped copies where
    needed) and their costs; the total can stay above `available` only when even minimal
    clips do not fit.
    """
    fitted, new_costs = list(messages), list(costs)
    if sum(costs) <= available or not messages:
        return fitted, new_costs
    low, high = MIN_CLIP_TOKENS, max(costs)
    while low < high:  # the largest cap that fits, before overheads
        cap = (low + high + 1) // 2
        if sum(min(c, cap) for c in costs) <= available:
            low = cap
        else:
            high = cap - 1
    cap = low
    for _ in range(4):
        fitted, new_costs = [], []
        for message, cost in zip(messages, costs, strict=True):
            if cost > cap:
                clipped = clip_message(message, cap)
                fitted.append(clipped)
                new_costs.append(cost_of(clipped))
            else:
                fitted.append(message)
                new_costs.append(cost)
        excess = sum(new_costs) - available
        if excess <= 0 or cap <= MIN_CLIP_TOKENS:
            break
        clipped_count = sum(1 for c in costs if c > cap) or 1
        cap = max(MIN_CLIP_TOKENS, cap - excess // clipped_count - 1)
    return fitted, new_costs
