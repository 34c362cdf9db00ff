"""Acceptance: a 1,000-turn conversation in a 4,000-token window, through the real `openai` SDK.

1,000 user turns make 2,000 user and assistant messages (3,000+ stored rows with the tool
calls and results). The fake OpenAI server counts tokens its own way (a word-piece
approximation of BPE that runs above cl100k on English, code and JSON) and rejects, as OpenAI
does, any request over 4,000 tokens. memfold has to keep every request under that by its own
estimate alone: evicting, summarizing through the same fake, never splitting a tool call from
its result -- and the agent must still edit its memory at the end and find, with
conversation_search, what the user said at turn 5.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from memfold.config import Settings
from memfold.context.compiler import SUMMARY_HEADER
from memfold.llm.providers import ModelRegistry
from memfold.server.app import create_app
from memfold.store import tables as t
from tests.context.conversation import Conversation, tool_pairs_intact, user_line
from tests.fakes.openai_server import FakeOpenAIServer, count_prompt_tokens

WINDOW = 4000
TURNS = 1000
FACTS = {
    5: "Favourite colour: blue",
    250: "Sister: Marta, visits in May",
    500: "Lives in Lisbon, near the river",
    990: "Works at a robotics company",
}
CORRECTION = (995, "Favourite colour: blue -> Favourite colour: green")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def fake_app(tmp_path: Path, openai_env: FakeOpenAIServer) -> Iterator[FastAPI]:
    """The app, with a registry built from the environment: provider `openai` is the fake."""
    settings = Settings(home=tmp_path / "home", default_model="openai/gpt-4o-mini")
    application = create_app(settings, ModelRegistry(settings=settings))
    yield application
    application.state.memfold.db.dispose()


@pytest.fixture
async def client(fake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://memfold.test", timeout=60) as http:
        yield http


async def new_agent(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/v1/agents/",
        json={
            "name": "long-talker",
            "agent_type": "memgpt_agent",
            "model": "openai/gpt-4o-mini",
            "context_window_limit": WINDOW,
            "memory_blocks": [
                {"label": "human", "value": "Name: Ada"},
                {"label": "persona", "value": "I am Sam, a concise assistant."},
            ],
            "tools": ["send_message", "core_memory_append", "core_memory_replace", "conversation_search"],
            "include_base_tools": False,
        },
    )
    assert response.status_code == 200, response.text
    agent_id: str = response.json()["id"]
    return agent_id


async def say(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["stop_reason"]["stop_reason"] == "end_turn", body
    assert body["messages"][-1]["message_type"] == "assistant_message", body
    return body


def line_for(turn: int, rng: random.Random) -> str:
    if turn in FACTS:
        return f"Remember: {FACTS[turn]}"
    if turn == CORRECTION[0]:
        return f"Correction: {CORRECTION[1]}"
    return user_line(turn, rng)


def assert_every_request_fit(fake: FakeOpenAIServer, conversation: Conversation) -> None:
    requests = fake.chat_requests
    assert len(requests) == len(conversation.agent_requests) + len(conversation.summarizer_requests)
    for body in requests:
        prompt = count_prompt_tokens(body)
        assert prompt + int(body.get("max_tokens") or 0) <= WINDOW, prompt
        assert body["messages"][0]["role"] == "system"
    for body in conversation.agent_requests:
        assert tool_pairs_intact(body), body["messages"]


async def test_a_thousand_turns_in_a_4000_token_window(
    client: httpx.AsyncClient, fake_app: FastAPI, openai_env: FakeOpenAIServer
) -> None:
    conversation = Conversation()
    openai_env.responder = conversation
    openai_env.max_prompt_tokens = WINDOW
    agent_id = await new_agent(client)
    rng = random.Random(2026)

    for turn in range(1, TURNS + 1):  # about 30 s on 2 cores
        await say(client, agent_id, line_for(turn, rng))

    # Every request fit the provider's count, and kept its shape.
    assert_every_request_fit(openai_env, conversation)
    assert conversation.summarizer_requests, "the window never filled up"
    with fake_app.state.memfold.db.read() as conn:
        stored = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.agent_id == agent_id)
        ).scalar_one()
    assert stored >= 2 * TURNS

    # After the first eviction the summary is always the model's first message after the system.
    first = next(i for i, b in enumerate(conversation.agent_requests) if SUMMARY_HEADER in str(b["messages"]))
    for body in conversation.agent_requests[first:]:
        assert body["messages"][1]["role"] == "user"
        assert body["messages"][1]["content"].startswith(SUMMARY_HEADER)
    last_summary = conversation.agent_requests[-1]["messages"][1]["content"]
    assert "Summary of turns" in last_summary

    # Memory edits still land, late in the conversation, and the model sees them.
    state = (await client.get(f"/v1/agents/{agent_id}")).json()
    human = next(b["value"] for b in state["blocks"] if b["label"] == "human")
    assert human.split("\n") == [
        "Name: Ada",
        "Favourite colour: green",
        "Sister: Marta, visits in May",
        "Lives in Lisbon, near the river",
        "Works at a robotics company",
    ]
    assert "Favourite colour: green" in conversation.agent_requests[-1]["messages"][0]["content"]

    # Recall memory still finds what the user said at turn 5, evicted hundreds of turns ago.
    await say(client, agent_id, "Search: favourite colour")
    found = conversation.agent_requests[-1]["messages"][-1]
    assert found["role"] == "tool" and "Favourite colour: blue" in found["content"]

    # The summary message is first in context and listed as a summary_message.
    assert state["message_ids"][0] != state["message_ids"][-1]
    listed = (await client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000})).json()
    summaries = [m for m in listed if m["message_type"] == "summary_message"]
    assert summaries and state["message_ids"][0] in {m["id"] for m in summaries}


async def test_turns_succeed_under_the_limit_when_the_summarizer_fails(
    client: httpx.AsyncClient, openai_env: FakeOpenAIServer
) -> None:
    conversation = Conversation(summarizer_fails=True)
    openai_env.responder = conversation
    openai_env.max_prompt_tokens = WINDOW
    agent_id = await new_agent(client)
    rng = random.Random(7)
    for turn in range(1, 121):
        await say(client, agent_id, line_for(turn, rng))

    assert conversation.summarizer_requests, "the window never filled up"
    assert_every_request_fit(openai_env, conversation)
    summary = conversation.agent_requests[-1]["messages"][1]["content"]
    assert summary.startswith(SUMMARY_HEADER)
    assert "without a summary (the summarizer failed)" in summary
    assert "recall memory" in summary
