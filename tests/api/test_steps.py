"""/v1/steps: list with every filter and cursor, retrieve with usage and timing, a step's messages,
metrics, and the parts memfold does not record (feedback, traces)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.llm.scripted import ScriptedModel
from tests.api.test_runs import Turns, get_json, move_to_other_org, play_turns
from tests.helpers import assert_error

MISSING_STEP = "step-00000000-0000-4000-8000-000000000999"


@pytest.fixture
async def turns(client: httpx.AsyncClient, scripted: ScriptedModel) -> Turns:
    return await play_turns(client, scripted)


async def step_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [s["id"] for s in await get_json(client, "/v1/steps/", **params)]


async def run_steps(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    """The run's steps, oldest first."""
    steps: list[dict[str, Any]] = await get_json(client, f"/v1/runs/{run_id}/steps", order="asc")
    return steps


async def all_steps(client: httpx.AsyncClient, turns: Turns) -> list[str]:
    """Every step, oldest first: alice's chain (2), bob's turn (1), alice's failed turn (1)."""
    ids = []
    for run_id in (turns.chain_run, turns.single_run, turns.failed_run):
        ids += [s["id"] for s in await run_steps(client, run_id)]
    assert len(ids) == 4
    return ids


# -- retrieve ------------------------------------------------------------------------------


async def test_retrieve_a_step_with_usage_and_timing(client: httpx.AsyncClient, turns: Turns) -> None:
    [only] = await run_steps(client, turns.single_run)
    step = await get_json(client, f"/v1/steps/{only['id']}")
    assert step == only
    assert step["id"].startswith("step-")
    assert (step["agent_id"], step["run_id"]) == (turns.bob, turns.single_run)
    assert (step["status"], step["stop_reason"]) == ("success", "end_turn")
    assert (step["model"], step["model_handle"], step["provider_name"]) == (
        "test",
        "scripted/test",
        "scripted",
    )
    usage = turns.single["usage"]
    assert (step["prompt_tokens"], step["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert step["total_tokens"] == step["prompt_tokens"] + step["completion_tokens"] > 0
    agent = await get_json(client, f"/v1/agents/{turns.bob}")
    assert step["context_window_limit"] == agent["llm_config"]["context_window"]
    assert isinstance(step["llm_request_ns"], int) and isinstance(step["step_ns"], int)
    assert step["llm_request_ns"] % 1_000_000 == 0 and step["step_ns"] >= 0
    assert datetime.fromisoformat(step["created_at"]).tzinfo is not None
    assert (step["feedback"], step["error_type"], step["messages"]) == (None, None, None)


async def test_metrics_are_the_steps_timing(client: httpx.AsyncClient, turns: Turns) -> None:
    first, second = await run_steps(client, turns.chain_run)
    for step in (first, second):
        metrics = await get_json(client, f"/v1/steps/{step['id']}/metrics")
        assert metrics["id"] == step["id"] and metrics["run_id"] == turns.chain_run
        assert metrics["agent_id"] == turns.alice
        assert metrics["llm_request_ns"] == step["llm_request_ns"]
        assert metrics["step_ns"] == step["step_ns"]


async def test_unknown_step_is_404_on_every_route(client: httpx.AsyncClient) -> None:
    for suffix in ("", "/messages", "/metrics", "/trace"):
        body = assert_error(await client.get(f"/v1/steps/{MISSING_STEP}{suffix}"), 404)
        assert MISSING_STEP in body["detail"]
    response = await client.patch(f"/v1/steps/{MISSING_STEP}/feedback", json={"feedback": "positive"})
    assert_error(response, 404)


# -- what memfold does not record -------------------------------------------------------------


async def test_trace_is_null_and_feedback_is_refused(client: httpx.AsyncClient, turns: Turns) -> None:
    [step] = await run_steps(client, turns.single_run)
    trace = await client.get(f"/v1/steps/{step['id']}/trace")
    assert trace.status_code == 200 and trace.json() is None
    refused = await client.patch(f"/v1/steps/{step['id']}/feedback", json={"feedback": "positive"})
    assert "feedback" in assert_error(refused, 400)["detail"]
    assert (await get_json(client, f"/v1/steps/{step['id']}"))["feedback"] is None
    bad = await client.patch(f"/v1/steps/{step['id']}/feedback", json={"feedback": "meh"})
    assert_error(bad, 422)


async def test_filters_on_unrecorded_fields(client: httpx.AsyncClient, turns: Turns) -> None:
    everything = await step_ids(client)
    assert len(everything) == 4
    assert await step_ids(client, has_feedback="false") == everything
    for params in (
        {"has_feedback": "true"},
        {"feedback": "positive"},
        {"tags": ["x"]},
        {"trace_ids": ["t-1"]},
        {"project_id": "proj-1"},
    ):
        assert await step_ids(client, **params) == [], params


# -- list: filters and cursors ---------------------------------------------------------------


async def test_list_newest_first_by_agent_run_and_model(client: httpx.AsyncClient, turns: Turns) -> None:
    oldest_first = await all_steps(client, turns)
    assert await step_ids(client) == oldest_first[::-1]
    assert await step_ids(client, order="asc") == oldest_first
    chain = oldest_first[:2]
    failed = oldest_first[3]
    assert await step_ids(client, agent_id=turns.alice, order="asc") == [*chain, failed]
    assert await step_ids(client, agent_id=turns.bob) == [oldest_first[2]]
    assert await step_ids(client, run_id=turns.chain_run, order="asc") == chain
    assert await step_ids(client, run_id=turns.chain_run, agent_id=turns.bob) == []
    assert await step_ids(client, model="test", order="asc") == oldest_first
    assert await step_ids(client, model="scripted/test", order="asc") == oldest_first
    assert await step_ids(client, model="other/test") == []
    assert await step_ids(client, model="gpt-4o") == []


async def test_list_by_dates(client: httpx.AsyncClient, turns: Turns) -> None:
    oldest_first = await all_steps(client, turns)
    steps = [await get_json(client, f"/v1/steps/{i}") for i in oldest_first]
    third = datetime.fromisoformat(steps[2]["created_at"])
    assert await step_ids(client, start_date=third.isoformat(), order="asc") == oldest_first[2:]
    assert await step_ids(client, end_date=third.isoformat(), order="asc") == oldest_first[:3]
    window = {"start_date": third.isoformat(), "end_date": third.isoformat()}
    assert await step_ids(client, **window) == [oldest_first[2]]
    # the same moment in another time zone
    elsewhere = third.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=8)
    pacific = elsewhere.isoformat() + "-08:00"
    assert await step_ids(client, start_date=pacific, order="asc") == oldest_first[2:]
    today = datetime.now(UTC).date().isoformat()
    assert await step_ids(client, end_date=today, order="asc") == oldest_first  # the whole day
    assert await step_ids(client, start_date=(datetime.now(UTC) + timedelta(days=1)).isoformat()) == []
    assert await step_ids(client, end_date="2001-01-01") == []


async def test_list_pages_with_cursors(client: httpx.AsyncClient, turns: Turns) -> None:
    newest_first = await step_ids(client)
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 3}
    while page := await step_ids(client, **params):
        pages.append(page)
        params["after"] = page[-1]
    assert pages == [newest_first[:3], newest_first[3:]]
    assert await step_ids(client, before=newest_first[2]) == newest_first[:2]
    assert await step_ids(client, before=newest_first[3], after=newest_first[0]) == newest_first[1:3]
    assert await step_ids(client, order="asc", after=newest_first[1]) == [newest_first[0]]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"start_date": "last tuesday"}, 422),
        ({"end_date": "2024-13-45"}, 422),
        ({"order": "up"}, 422),
        ({"order_by": "tokens"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 5000}, 422),
        ({"feedback": "meh"}, 422),
        ({"after": MISSING_STEP}, 404),
    ],
)
async def test_bad_list_parameters(client: httpx.AsyncClient, params: dict[str, Any], status: int) -> None:
    assert_error(await client.get("/v1/steps/", params=params), status)


async def test_steps_of_other_organizations_are_invisible(
    app: FastAPI, client: httpx.AsyncClient, turns: Turns
) -> None:
    [hidden] = await run_steps(client, turns.single_run)
    move_to_other_org(app, turns.single_run)
    assert hidden["id"] not in await step_ids(client)
    assert await step_ids(client, agent_id=turns.bob) == []
    for suffix in ("", "/messages", "/metrics", "/trace"):
        assert_error(await client.get(f"/v1/steps/{hidden['id']}{suffix}"), 404)
    assert len(await step_ids(client)) == 3


# -- a step's messages -------------------------------------------------------------------------


async def test_step_messages(client: httpx.AsyncClient, turns: Turns) -> None:
    first, second = await run_steps(client, turns.chain_run)
    messages = await get_json(client, f"/v1/steps/{first['id']}/messages")
    assert [m["message_type"] for m in messages] == [
        "user_message",  # the turn's input belongs to its first step
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
    ]
    assert messages[2]["tool_call"]["name"] == "core_memory_append"
    assert {m["step_id"] for m in messages} == {first["id"]}
    later = await get_json(client, f"/v1/steps/{second['id']}/messages")
    assert [m["message_type"] for m in later] == ["reasoning_message", "assistant_message"]
    assert later[-1]["content"] == "Noted, a cat."
    # together: the run's messages
    run_messages = await get_json(client, f"/v1/runs/{turns.chain_run}/messages")
    assert [m["id"] for m in [*messages, *later]] == [m["id"] for m in run_messages]

    newest_first = await get_json(client, f"/v1/steps/{first['id']}/messages", order="desc")
    assert newest_first[0]["message_type"] == "tool_return_message"
    assert newest_first[-1]["message_type"] == "user_message"

    page = await get_json(client, f"/v1/steps/{first['id']}/messages", limit=2)
    assert [m["message_type"] for m in page] == ["user_message"]  # whole stored messages only
    rest = await get_json(client, f"/v1/steps/{first['id']}/messages", after=page[-1]["id"])
    assert [m["id"] for m in [*page, *rest]] == [m["id"] for m in messages]
    before = await get_json(client, f"/v1/steps/{first['id']}/messages", before=messages[-1]["id"])
    assert [m["id"] for m in before] == [m["id"] for m in messages[:-1]]
