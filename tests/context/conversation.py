"""A scripted long conversation for the fake OpenAI server: user lines, and the model's side.

`Conversation` is a fake-server responder. It answers the agent's requests like a MemGPT
model would (a `send_message` reply; for a "Remember:" line, `core_memory_append` with a
heartbeat first; for a "Correction:" line, `core_memory_replace`), and the summarizer's
requests (no tools offered) with a short summary that keeps the facts it was shown.
It records every request it saw, so a test can check each of them afterwards.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_server import ErrorReply, FakeToolCall, Reply, TextReply, ToolCallsReply

WORDS = (
    "garden",
    "river",
    "coffee",
    "morning",
    "train",
    "ticket",
    "museum",
    "window",
    "winter",
    "summer",
    "laptop",
    "meeting",
    "budget",
    "recipe",
    "tomato",
    "bicycle",
    "library",
    "weekend",
    "concert",
    "guitar",
    "mountain",
    "island",
    "harbour",
    "market",
    "festival",
    "painting",
    "kitchen",
    "letter",
    "neighbour",
    "project",
    "deadline",
    "printer",
    "holiday",
    "airport",
    "suitcase",
    "jacket",
    "umbrella",
    "breakfast",
    "evening",
    "station",
    "bridge",
    "forest",
    "castle",
    "village",
    "lantern",
    "compass",
    "notebook",
    "pencil",
    "theatre",
    "ferry",
    "lighthouse",
    "orchard",
    "meadow",
    "cottage",
)
VERBS = (
    "visited",
    "planned",
    "fixed",
    "bought",
    "painted",
    "booked",
    "cooked",
    "found",
    "lost",
    "borrowed",
    "repaired",
    "cleaned",
)


def user_line(turn: int, rng: random.Random) -> str:
    """An ordinary user message of 12 to 45 words, with a number now and then."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(10, 40))]
    sentence = " ".join(words)
    extra = f" It cost {rng.randint(3, 9999)} euros on day {rng.randint(1, 28)}." if turn % 3 == 0 else ""
    return f"Turn {turn}: yesterday I {rng.choice(VERBS)} the {sentence}.{extra} What do you think?"


@dataclass
class Conversation:
    """The model's side of the conversation (see the module docstring)."""

    facts: list[str] = field(default_factory=list)
    agent_requests: list[dict[str, Any]] = field(default_factory=list)
    summarizer_requests: list[dict[str, Any]] = field(default_factory=list)
    summarizer_fails: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if not body.get("tools"):
                self.summarizer_requests.append(body)
                return self._summary(body)
            self.agent_requests.append(body)
            return self._agent(body)

    def _summary(self, body: dict[str, Any]) -> Reply:
        if self.summarizer_fails:
            return ErrorReply(500, "the summarizer model is down", type="server_error", retry_after_ms=1.0)
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        kept = sorted(set(re.findall(r"(?:Favourite|Sister|Lives|Works)[^\n\"\\]{0,40}", text)))
        turns = re.findall(r"Turn (\d+)", text)
        span = f"turns {turns[0]} to {turns[-1]}" if turns else "earlier turns"
        return TextReply(
            f"Summary of {span}: the user talked about daily errands, trips and purchases; the agent "
            f"replied briefly. Facts: {'; '.join(kept) or 'none new'}."
        )

    def _agent(self, body: dict[str, Any]) -> Reply:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return _call("send_message", thinking="Confirm.", message="Noted, I will remember that.")
        text = str(last.get("content") or "")
        if text.startswith("Remember: "):
            fact = text.removeprefix("Remember: ")
            return _call(
                "core_memory_append",
                thinking="Store it.",
                label="human",
                content=fact,
                request_heartbeat=True,
            )
        if text.startswith("Search: "):
            return _call(
                "conversation_search",
                thinking="Look it up.",
                query=text.removeprefix("Search: "),
                request_heartbeat=True,
            )
        if text.startswith("Correction: "):
            old, new = text.removeprefix("Correction: ").split(" -> ")
            return _call(
                "core_memory_replace",
                thinking="Fix it.",
                label="human",
                old_content=old,
                new_content=new,
                request_heartbeat=True,
            )
        turn = re.match(r"Turn (\d+)", text)
        return _call(
            "send_message", thinking="Reply.", message=f"Thanks for telling me about turn {turn and turn[1]}."
        )


def _call(name: str, **arguments: Any) -> ToolCallsReply:
    return ToolCallsReply([FakeToolCall(name, arguments)])


def tool_pairs_intact(body: dict[str, Any]) -> bool:
    """Every tool call is answered right after it, and every tool result follows its call."""
    messages = body["messages"]
    open_calls: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            if not open_calls or message["tool_call_id"] != open_calls.pop(0):
                return False
            continue
        if open_calls:
            return False
        if message["role"] == "assistant":
            open_calls = [call["id"] for call in message.get("tool_calls") or []]
    return not open_calls


def arguments_of(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = []
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            if call["function"]["name"] == name:
                found.append(json.loads(call["function"]["arguments"]))
    return found
