"""The eviction planner's invariants, on hand-made message lists."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from memfold.context.compiler import to_chat
from memfold.context.eviction import (
    MIN_CLIP_TOKENS,
    WindowBudget,
    clip_message,
    fit_messages,
    plan_eviction,
    units_of,
)
from memfold.context.tokens import estimate_message, estimate_text
from memfold.schemas.messages import Message, StoredToolCall

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def msg(
    role: str, content: str | None = "x", *, calls: int = 0, answers: str | None = None, n: int = 0
) -> Message:
    tool_calls = [
        StoredToolCall(id=f"call_{n}_{i}", name="core_memory_append", arguments="{}") for i in range(calls)
    ]
    return Message(
        id=f"message-{n}",
        agent_id="agent-1",
        role=role,  # type: ignore[arg-type]
        content=content,
        tool_calls=tool_calls or None,
        tool_call_id=answers,
        name="core_memory_append" if role == "tool" else None,
        created_at=NOW,
    )


def conversation(shape: str) -> list[Message]:
    """`shape` letters: u user, a assistant text, c assistant calling one tool + its result,
    2 assistant calling two tools + both results."""
    messages: list[Message] = []
    for letter in shape:
        n = len(messages)
        if letter == "u":
            messages.append(msg("user", n=n))
        elif letter == "a":
            messages.append(msg("assistant", n=n))
        else:
            calls = 2 if letter == "2" else 1
            call = msg("assistant", None, calls=calls, n=n)
            messages.append(call)
            for tool_call in call.tool_calls or []:
                messages.append(msg("tool", answers=tool_call.id, n=len(messages)))
    return messages


def cost(message: Message) -> int:
    return estimate_message(to_chat(message))


def pairs_intact(messages: list[Message], kept: list[int]) -> bool:
    """In the kept messages every tool result follows its call and every call has its results."""
    shown = [messages[i] for i in kept]
    open_calls: list[str] = []
    for message in shown:
        if message.role == "tool":
            if not open_calls or open_calls.pop(0) != message.tool_call_id:
                return False
        elif open_calls:
            return False
        if message.role == "assistant":
            open_calls = [c.id for c in message.tool_calls or []]
    return not open_calls


def test_units_keep_calls_with_their_results() -> None:
    messages = conversation("uc2ua")
    units = units_of(messages, [1] * len(messages))
    assert [(u.start, u.stop) for u in units] == [(0, 1), (1, 3), (3, 6), (6, 7), (7, 8)]
    assert [u.tokens for u in units] == [1, 2, 3, 1, 1]


def test_oldest_units_go_first_until_the_rest_fits() -> None:
    messages = conversation("uauauau")
    plan = plan_eviction(messages, [10] * 7, budget=35)
    assert plan.evict == [0, 1, 2, 3]
    assert plan.keep == [4, 5, 6]
    assert plan.kept_tokens == 30


def test_nothing_goes_when_it_fits() -> None:
    messages = conversation("uau")
    plan = plan_eviction(messages, [10] * 3, budget=30)
    assert plan.evict == [] and plan.keep == [0, 1, 2]


def test_a_tool_call_and_its_results_go_together() -> None:
    messages = conversation("u2u")  # user, call(2), result, result, user
    plan = plan_eviction(messages, [10] * 5, budget=25)
    assert plan.evict == [0, 1, 2, 3]
    assert pairs_intact(messages, plan.keep)


def test_the_newest_user_message_and_the_newest_unit_stay() -> None:
    messages = conversation("uauacc")  # a turn in progress: user 2, then two tool steps
    turn_input = 2
    plan = plan_eviction(messages, [100] * len(messages), budget=0, protected={turn_input})
    assert turn_input in plan.keep
    assert plan.keep == [2, 6, 7]  # the protected user message and the newest unit (call + result)
    assert pairs_intact(messages, plan.keep)


def test_keep_newest_false_evicts_everything_unprotected() -> None:
    messages = conversation("uac")
    plan = plan_eviction(messages, [10] * 4, budget=0, keep_newest=False)
    assert plan.keep == []


@pytest.mark.parametrize("seed", range(40))
def test_random_conversations_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    shape = "".join(rng.choice("uuacc2") for _ in range(rng.randint(1, 30)))
    messages = conversation(shape)
    costs = [rng.randint(1, 50) for _ in messages]
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    protected = {users[-1]} if users and rng.random() < 0.8 else set()
    budget = rng.randint(0, sum(costs))
    plan = plan_eviction(messages, costs, budget=budget, protected=protected)

    assert sorted(plan.evict + plan.keep) == list(range(len(messages)))
    assert pairs_intact(messages, plan.keep)
    assert protected <= set(plan.keep)
    last = units_of(messages, costs)[-1]
    assert set(range(last.start, last.stop)) <= set(plan.keep)
    assert plan.kept_tokens == sum(costs[i] for i in plan.keep)
    # Either the rest fits, or nothing more could go.
    evictable = [
        u
        for u in units_of(messages, costs)[:-1]
        if not any(u.start <= p < u.stop for p in protected) and u.start in plan.keep
    ]
    assert plan.kept_tokens <= budget or not evictable
    # Oldest first: nothing evictable that was kept is older than something evicted.
    if plan.evict and evictable:
        assert max(plan.evict) < min(u.start for u in evictable)


def test_budget_leaves_room_for_the_reply_and_shrinks_under_pressure() -> None:
    budget = WindowBudget.for_window(4000, threshold=0.9, target=0.6)
    assert budget.prompt == 3500 and budget.reply == 500  # the reply's room wins over 0.9 x 4000
    assert budget.prompt + budget.reply <= 4000
    assert budget.target == 2400 and budget.summary == 400
    harder = WindowBudget.for_window(4000, threshold=0.9, target=0.6, pressure=1)
    assert harder.prompt < budget.prompt and harder.target < budget.target
    big = WindowBudget.for_window(128_000, threshold=0.9, target=0.6)
    assert big.prompt == 115_200 and big.reply == 4096 and big.summary == 2048


def test_clipping_keeps_a_pointer_to_the_full_text() -> None:
    huge = msg("user", "lorem ipsum dolor " * 5000, n=9)
    clipped = clip_message(huge, 200)
    assert clipped.id == huge.id
    assert huge.content is not None and clipped.content is not None
    assert huge.content.startswith(clipped.content.split("\n[... clipped")[0])
    assert "message-9 in recall memory" in clipped.content
    assert f"{len(huge.content)} characters" in clipped.content
    assert estimate_text(clipped.content) <= 200
    assert len(huge.content) == 90_000  # the stored message is untouched


def test_clipping_tool_call_arguments() -> None:
    call = Message(
        id="message-3",
        agent_id="agent-1",
        role="assistant",
        tool_calls=[
            StoredToolCall(id="c", name="memory_rethink", arguments='{"new_memory": "' + "a b " * 4000 + '"}')
        ],
        created_at=NOW,
    )
    clipped = clip_message(call, 100)
    assert clipped.tool_calls is not None and "message-3 in recall memory" in clipped.tool_calls[0].arguments
    assert clipped.tool_calls[0].id == "c"


def test_fit_clips_only_the_largest_messages() -> None:
    messages = [
        msg("user", "small words here", n=0),
        msg("user", "big " * 3000, n=1),
        msg("user", "mid " * 100, n=2),
    ]
    costs = [cost(m) for m in messages]
    fitted, new_costs = fit_messages(messages, costs, 400, cost)
    assert fitted[0] is messages[0] and fitted[2] is messages[2]
    assert fitted[1].content is not None and "clipped" in fitted[1].content
    assert sum(new_costs) <= 400
    assert new_costs == [cost(m) for m in fitted]


def test_fit_leaves_messages_alone_when_they_fit() -> None:
    messages = conversation("uau")
    costs = [cost(m) for m in messages]
    fitted, new_costs = fit_messages(messages, costs, sum(costs), cost)
    assert fitted == messages and new_costs == costs


def test_fit_never_clips_below_the_floor() -> None:
    messages = [msg("user", "word " * 500, n=i) for i in range(10)]
    costs = [cost(m) for m in messages]
    _, new_costs = fit_messages(messages, costs, 100, cost)
    assert all(c >= MIN_CLIP_TOKENS for c in new_costs)
    assert sum(new_costs) > 100  # cannot fit: the caller reports the window as too small
