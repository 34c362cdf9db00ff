"""The context window through the API, with the scripted model: budgets, compaction, clipping,
retry on provider overflow, and the /context and /summarize endpoints (with letta-client)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta
from letta_client.types.agents.summary_message import SummaryMessage

from memfold.context.compiler import SUMMARY_HEADER
from memfold.context.tokens import estimate_request
from memfold.errors import ContextWindowExceededError, ProviderError
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, text_response, tool_call_response
from tests.helpers import assert_error, create_agent

BASE_TOOLS = ["send_message", "memory_insert", "memory_replace", "memory_rethink"]


def chatty(request: ModelRequest) -> ModelResponse:
    """A scripted model: summaries for the summarizer, otherwise a send_message reply."""
    if not request.tools:
        return text_response(f"Summary {len(request.messages[1].content or '')}: the user kept talking.")
    return tool_call_response("send_message", thinking="Reply.", message="Sure, noted.")


async def send(client: httpx.AsyncClient, agent_id: str, text: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def agent_requests(model: ScriptedModel) -> list[ModelRequest]:
    return [r for r in model.requests if r.tools]


async def small_agent(client: httpx.AsyncClient, window: int = 1500, **extra: Any) -> str:
    extra.setdefault("tools", ["send_message", "core_memory_append"])
    agent = await create_agent(
        client, agent_type="memgpt_agent", include_base_tools=False, context_window_limit=window, **extra
    )
    agent_id: str = agent["id"]
    return agent_id


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i % 97}" for i in range(n))


async def test_the_fixed_part_of_a_default_agent_is_lean(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tools=BASE_TOOLS, include_base_tools=False)
    overview = (await client.get(f"/v1/agents/{agent['id']}/context")).json()
    assert overview["num_messages"] == 0 and overview["num_tokens_messages"] == 0
    # System prompt, memory blocks and the four tool schemas, by our (conservative) estimate.
    assert overview["context_window_size_current"] < 1200, overview["context_window_size_current"]
    assert overview["num_tokens_functions_definitions"] < 950
    assert overview["num_tokens_system"] + overview["num_tokens_core_memory"] < 300
    assert {f["function"]["name"] for f in overview["functions_definitions"]} == set(BASE_TOOLS)


async def test_overview_shows_every_part(client: httpx.AsyncClient, scripted: ScriptedModel) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client, window=8000)
    await send(client, agent_id, "hello there")
    overview = (await client.get(f"/v1/agents/{agent_id}/context")).json()
    assert overview["context_window_size_max"] == 8000
    assert overview["num_messages"] == 3 and overview["num_recall_memory"] == 3
    assert [m["message_type"] for m in overview["messages"]] == [
        "user_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert overview["core_memory"].startswith("<memory_blocks>")
    assert overview["system_prompt"].startswith("You are a persistent agent")
    assert overview["summary_memory"] is None and overview["num_tokens_summary_memory"] == 0
    parts = sum(
        overview[k]
        for k in (
            "num_tokens_system",
            "num_tokens_core_memory",
            "num_tokens_external_memory_summary",
            "num_tokens_functions_definitions",
            "num_tokens_messages",
        )
    )
    assert parts <= overview["context_window_size_current"] <= parts + 60  # + per-message overheads
    assert overview["context_window_budget"] + overview["reply_reserve"] <= 8000
    assert overview["token_calibration_factor"] == 1.0


async def test_a_full_window_is_compacted_into_a_summary(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client)
    for turn in range(12):
        await send(client, agent_id, f"turn {turn}: " + words(60))

    summarizer_calls = [r for r in scripted.requests if not r.tools]
    assert summarizer_calls, "the window never filled up"
    last = agent_requests(scripted)[-1]
    assert last.messages[0].role == "system"
    assert last.messages[1].role == "user" and (last.messages[1].content or "").startswith(SUMMARY_HEADER)
    assert last.messages[-1].content == "turn 11: " + words(60)  # the turn's input is never evicted
    for request in agent_requests(scripted):
        assert estimate_request(request) <= 1500 * 0.9

    state = (await client.get(f"/v1/agents/{agent_id}")).json()
    listed = (await client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 200})).json()
    summaries = [m for m in listed if m["message_type"] == "summary_message"]
    assert state["message_ids"][0] == summaries[0]["id"]  # newest first: the current summary
    assert summaries[0]["summary"].startswith("Summary ")
    # Evicted messages stay in recall memory: all 12 user messages are still listed.
    assert len([m for m in listed if m["message_type"] == "user_message"]) == 12
    # The system prompt tells the agent how much is outside the window (kept up to date without
    # counting the whole history again).
    assert "earlier messages outside this window" in (last.messages[0].content or "")
    overview = (await client.get(f"/v1/agents/{agent_id}/context")).json()
    outside = overview["num_recall_memory"] - overview["num_messages"]
    assert outside > 12  # 12 turns of 3 messages, most of them evicted, and earlier summaries
    assert f"recall memory holds {outside} earlier messages" in overview["external_memory_summary"]


async def test_compaction_messages_are_returned_only_when_asked(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client)
    seen: list[str] = []
    for turn in range(12):
        body = await send(
            client, agent_id, f"turn {turn}: " + words(60), include_compaction_messages=turn % 2 == 1
        )
        types = [m["message_type"] for m in body["messages"]]
        if "summary_message" in types:
            assert turn % 2 == 1 and types[0] == "summary_message"
        seen.extend(types)
    assert "summary_message" in seen


async def test_a_message_larger_than_the_window_is_clipped_with_a_pointer(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client, window=2000)
    huge = "The lighthouse keeper wrote another line in the log. " * 2000
    body = await send(client, agent_id, huge)
    user_id = body["messages"][0]["id"]
    sent = agent_requests(scripted)[-1].messages[-1].content or ""
    assert sent.startswith("The lighthouse keeper") and len(sent) < len(huge) // 10
    assert f"the full text is message {user_id} in recall memory" in sent
    assert estimate_request(agent_requests(scripted)[-1]) <= 2000 * 0.9
    listed = (await client.get(f"/v1/agents/{agent_id}/messages")).json()
    assert next(m for m in listed if m["id"] == user_id)["content"] == huge  # stored in full


async def test_a_provider_overflow_is_compacted_harder_and_retried(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client, window=16_000)
    for turn in range(10):
        await send(client, agent_id, f"turn {turn}: " + words(40))
    assert not [r for r in scripted.requests if not r.tools]  # plenty of room by our estimate
    overflow = ContextWindowExceededError("prompt too long", provider="scripted", status=400)
    scripted.enqueue(overflow)
    body = await send(client, agent_id, "one more")
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    rejected, retried = [r for r in scripted.requests[-3:] if r.tools]
    assert len(retried.messages) < len(rejected.messages)
    assert (retried.messages[1].content or "").startswith(SUMMARY_HEADER)
    assert retried.messages[-1].content == "one more"
    overview = (await client.get(f"/v1/agents/{agent_id}/context")).json()
    assert overview["token_calibration_factor"] > 1.0  # counts higher from now on


async def test_a_long_heartbeat_chain_keeps_the_turns_input_and_its_pairs(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    steps = 0

    def busy(request: ModelRequest) -> ModelResponse:
        nonlocal steps
        if not request.tools:
            return text_response("Summary: the agent has been taking notes.")
        steps += 1
        if steps > 25:
            return tool_call_response("send_message", message="Done.")
        return tool_call_response(
            "core_memory_append",
            label="scratch",
            content="x",
            request_heartbeat=True,
            thinking=words(40, "t"),
        )

    scripted.function = busy
    agent_id = await small_agent(
        client, memory_blocks=[{"label": "scratch", "value": "", "limit": 100_000}], window=1200
    )
    body = await send(client, agent_id, "take many notes, then tell me", max_steps=40)
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    assert [r for r in scripted.requests if not r.tools], "the chain never filled the window"
    for request in agent_requests(scripted):
        contents = [m.content for m in request.messages]
        assert "take many notes, then tell me" in contents
        for i, message in enumerate(request.messages):
            if message.role == "assistant" and message.tool_calls:
                answer = request.messages[i + 1] if i + 1 < len(request.messages) else None
                assert answer is None or (
                    answer.role == "tool" and answer.tool_call_id == message.tool_calls[0].id
                )
            if message.role == "tool":
                assert request.messages[i - 1].tool_calls[0].id == message.tool_call_id
        assert estimate_request(request) <= 1200 * 0.9


async def test_a_window_too_small_for_the_fixed_part_is_a_clear_error(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent_id = await small_agent(
        client, window=300, memory_blocks=[{"label": "persona", "value": "I am careful. " * 150}]
    )
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})
    body = assert_error(response, 422)
    assert body["code"] == "context_window_too_small" and "context_window_limit" in body["detail"]
    assert scripted.requests == []
    assert (await client.get(f"/v1/agents/{agent_id}/messages")).json() == []


@pytest.fixture
def letta(client: httpx.AsyncClient) -> AsyncLetta:
    return AsyncLetta(base_url=str(client.base_url), http_client=client, api_key="unused", max_retries=0)


async def test_summarize_with_letta_client(
    client: httpx.AsyncClient, letta: AsyncLetta, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client, window=16_000)
    for turn in range(6):
        await send(client, agent_id, f"turn {turn}: " + words(30))

    compacted = await letta.agents.messages.compact(agent_id)
    assert compacted.num_messages_before == 18
    assert 0 < compacted.num_messages_after < compacted.num_messages_before
    assert compacted.summary.startswith("Summary ")
    summarizer = [r for r in scripted.requests if not r.tools][-1]
    assert "turn 0" in (summarizer.messages[1].content or "")

    page = await letta.agents.messages.list(agent_id, limit=100)
    summaries = [m for m in page.items if isinstance(m, SummaryMessage)]
    assert len(summaries) == 1 and summaries[0].summary == compacted.summary

    everything = await letta.agents.messages.compact(
        agent_id, compaction_settings={"mode": "all", "clip_chars": 12}
    )
    assert everything.num_messages_after == 1 and len(everything.summary) == 12
    state = (await client.get(f"/v1/agents/{agent_id}")).json()
    assert len(state["message_ids"]) == 1
    scripted.function = chatty
    await send(client, agent_id, "still there?")
    request = agent_requests(scripted)[-1]
    assert [m.role for m in request.messages] == ["system", "user", "user"]
    assert json.loads(json.dumps(request.messages[1].content)).startswith(SUMMARY_HEADER)


async def test_summarize_an_empty_agent_changes_nothing(client: httpx.AsyncClient) -> None:
    agent_id = await small_agent(client)
    response = await client.post(f"/v1/agents/{agent_id}/summarize", json={})
    assert response.status_code == 200, response.text
    assert response.json() == {"num_messages_before": 0, "num_messages_after": 0, "summary": ""}
    assert_error(await client.post("/v1/agents/agent-nope/summarize"), 404)
    assert_error(await client.get("/v1/agents/agent-nope/context"), 404)


async def test_memory_metadata_counts_archival_passages_from_the_next_turn(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent_id = await small_agent(client, window=8000, tools=["send_message", "archival_memory_insert"])
    scripted.enqueue(
        tool_call_response(
            "archival_memory_insert", content="Ada's sister is Marta.", request_heartbeat=True
        ),
        tool_call_response("send_message", message="Stored."),
        tool_call_response("send_message", message="Hello again."),
    )
    await send(client, agent_id, "remember my sister Marta")
    assert "archival memory" not in (scripted.requests[0].messages[0].content or "")  # no archive yet
    await send(client, agent_id, "hello")
    assert "- archival memory holds 1 passage\n" in (scripted.last_request.messages[0].content or "")
    overview = (await client.get(f"/v1/agents/{agent_id}/context")).json()
    assert overview["num_archival_memory"] == 1


async def test_a_compaction_commits_on_its_own_before_the_step(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    scripted.function = chatty
    agent_id = await small_agent(client)
    for turn in range(5):
        await send(client, agent_id, f"turn {turn}: " + words(60))
    before = (await client.get(f"/v1/agents/{agent_id}")).json()["message_ids"]

    def summarize_then_fail(request: ModelRequest) -> ModelResponse:
        if not request.tools:
            return text_response("Summary: five turns of chatter.")
        raise ProviderError("upstream unavailable", provider="scripted", status=503)

    scripted.function = summarize_then_fail
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "big one: " + words(300)})
    assert_error(response, 502)
    # The compaction stands (summary first, the rest kept in order); the failed step left nothing.
    state = (await client.get(f"/v1/agents/{agent_id}")).json()
    ids = state["message_ids"]
    assert ids[1:] == before[len(before) - len(ids) + 1 :]
    listed = (await client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 100})).json()
    assert next(m for m in listed if m["id"] == ids[0])["summary"] == "Summary: five turns of chatter."
    assert not any("big one" in str(m.get("content")) for m in listed)
    assert len([m for m in listed if m["message_type"] == "user_message"]) == 5  # evicted, not lost

    scripted.function = chatty
    body = await send(client, agent_id, "are you back?")
    assert body["stop_reason"]["stop_reason"] == "end_turn"
