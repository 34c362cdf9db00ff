"""Agents messaging agents, with the scripted model: broadcast by tags, async receipts, waiting for a
reply, and the bounds (cycles, depth, fan-out) that keep waiting finite."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.agent.lifecycle import create_agent as create_agent_row
from memfold.config import Settings
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.schemas.agents import CreateAgent
from memfold.store.orgs import ensure_org
from memfold.tools.builtin import BASE_TOOLS, BUILTIN_TOOLS
from tests.agent.test_loop import send
from tests.conftest import SCRIPTED
from tests.helpers import create_agent

MULTI_AGENT_TOOLS = (
    "send_message_to_agent_async",
    "send_message_to_agent_and_wait_for_reply",
    "send_message_to_agents_matching_tags",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        default_model=SCRIPTED,
        multi_agent_max_depth=2,
        multi_agent_max_fanout=6,
        multi_agent_max_hops=3,
    )


class Cast:
    """Scripts every agent of a test with one model: each agent's persona says `ROLE=<role>`, and
    `plays[role]` answers that agent's requests."""

    def __init__(self) -> None:
        self.plays: dict[str, Any] = {}
        self.seen: dict[str, list[ModelRequest]] = {}

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        found = re.search(r"ROLE=(\S+)", request.messages[0].content or "")
        assert found is not None, "every agent of these tests has a ROLE"
        role = found.group(1)
        self.seen.setdefault(role, []).append(request)
        answer = self.plays[role](request)
        return await answer if asyncio.iscoroutine(answer) else answer  # type: ignore[no-any-return]


@pytest.fixture
def cast(scripted: ScriptedModel) -> Cast:
    scripted.function = cast = Cast()
    return cast


async def agent(client: httpx.AsyncClient, role: str, **body: Any) -> str:
    made = await create_agent(
        client,
        memory_blocks=[{"label": "persona", "value": f"ROLE={role}"}, {"label": "human", "value": "-"}],
        **body,
    )
    return str(made["id"])


def last(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def reply_or_relay(tool: str, **arguments: Any) -> Any:
    """A play: on the user's message call `tool`, then say the tool's result to the user."""

    def play(request: ModelRequest) -> ModelResponse:
        if request.messages[-1].role == "tool":
            return tool_call_response("send_message", message=last(request))
        return tool_call_response(tool, request_heartbeat=True, **arguments)

    return play


def worker(name: str) -> Any:
    def play(request: ModelRequest) -> ModelResponse:
        return tool_call_response("send_message", message=f"{name} did: {last(request).splitlines()[-1]}")

    return play


def all_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def tool_returns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in all_messages(body) if m["message_type"] == "tool_return_message"]


async def test_tools_are_builtins_but_not_base_tools(client: httpx.AsyncClient) -> None:
    for name in MULTI_AGENT_TOOLS:
        assert BUILTIN_TOOLS[name].tool_type == "letta_multi_agent_core"
        assert all(name not in base for base in BASE_TOOLS.values())
    listed = (await client.get("/v1/tools/", params={"tool_types": "letta_multi_agent_core"})).json()
    assert sorted(t["name"] for t in listed) == sorted(MULTI_AGENT_TOOLS)
    plain = (await create_agent(client))["tools"]
    assert not {t["name"] for t in plain} & set(MULTI_AGENT_TOOLS)


async def test_supervisor_broadcasts_to_tagged_workers(client: httpx.AsyncClient, cast: Cast) -> None:
    boss = await agent(client, "boss", tools=["send_message_to_agents_matching_tags"], tags=["boss"])
    workers = [await agent(client, f"w{i}", tags=["worker", "team-a"]) for i in range(5)]
    others = [
        await agent(client, "idle", tags=["worker", "team-b"]),  # has one tag of match_all only
        await agent(client, "idle", tags=["reviewer"]),
    ]
    cast.plays.update({f"w{i}": worker(f"w{i}") for i in range(5)})
    cast.plays["idle"] = worker("idle")
    cast.plays["boss"] = reply_or_relay(
        "send_message_to_agents_matching_tags",
        message="count the files",
        match_all=["worker", "team-a"],
        match_some=[],
    )

    body = await send(client, boss, "split the work")
    [result] = tool_returns(body)
    assert result["status"] == "success", result
    replies = json.loads(result["tool_return"])
    assert sorted(r["agent_id"] for r in replies) == sorted(workers)
    assert sorted(r["reply"] for r in replies) == [f"w{i} did: count the files" for i in range(5)]
    assert "idle" not in cast.seen  # the other agents were never asked
    for other in others:
        history = (await client.get(f"/v1/agents/{other}/messages")).json()
        assert not [m for m in history if m["message_type"] == "user_message"]
    # Each worker saw who wrote, and its stored message names the sender.
    for i, wid in enumerate(workers):
        assert f"[message from {boss}]" in last(cast.seen[f"w{i}"][0])
        history = (await client.get(f"/v1/agents/{wid}/messages")).json()
        [said] = [m for m in history if m["message_type"] == "user_message"]
        assert said["sender_id"] == boss and said["content"] == "count the files"


async def test_match_some_needs_one_of_its_tags(client: httpx.AsyncClient, cast: Cast) -> None:
    boss = await agent(client, "boss", tools=["send_message_to_agents_matching_tags"])
    red = await agent(client, "red", tags=["worker", "red"])
    await agent(client, "idle", tags=["worker", "green"])
    blue = await agent(client, "blue", tags=["blue"])
    cast.plays.update(red=worker("red"), blue=worker("blue"), idle=worker("idle"))
    cast.plays["boss"] = reply_or_relay(
        "send_message_to_agents_matching_tags", message="go", match_all=[], match_some=["red", "blue"]
    )
    [result] = tool_returns(await send(client, boss, "go"))
    assert sorted(r["agent_id"] for r in json.loads(result["tool_return"])) == sorted([red, blue])
    assert "idle" not in cast.seen


async def test_fan_out_over_the_limit_is_a_tool_error(client: httpx.AsyncClient, cast: Cast) -> None:
    boss = await agent(client, "boss", tools=["send_message_to_agents_matching_tags"])
    for _ in range(7):  # the limit is 6
        await agent(client, "idle", tags=["crowd"])
    cast.plays["idle"] = worker("idle")
    cast.plays["boss"] = reply_or_relay(
        "send_message_to_agents_matching_tags", message="hi", match_all=["crowd"], match_some=[]
    )
    [result] = tool_returns(await send(client, boss, "tell everyone"))
    assert result["status"] == "error"
    assert (
        "7 agents match" in result["tool_return"]
        and "MEMFOLD_MULTI_AGENT_MAX_FANOUT" in result["tool_return"]
    )
    assert "idle" not in cast.seen


async def test_wait_for_reply_returns_the_other_agents_answer(client: httpx.AsyncClient, cast: Cast) -> None:
    helper = await agent(client, "helper")
    asker = await agent(client, "asker", tools=["send_message_to_agent_and_wait_for_reply"])
    cast.plays["helper"] = worker("helper")
    cast.plays["asker"] = reply_or_relay(
        "send_message_to_agent_and_wait_for_reply", message="what is 6*7?", other_agent_id=helper
    )
    body = await send(client, asker, "ask the helper")
    [result] = tool_returns(body)
    assert result["status"] == "success"
    assert result["tool_return"] == "helper did: what is 6*7?"
    said = [m for m in all_messages(body) if m["message_type"] == "assistant_message"]
    assert said[-1]["content"] == "helper did: what is 6*7?"  # (the asker relays it to its user)
    # The helper's turn is a run of its own, completed.
    history = (await client.get(f"/v1/agents/{helper}/messages")).json()
    run_id = history[-1]["run_id"]
    assert (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "completed"


async def test_unknown_agent_is_a_tool_error(client: httpx.AsyncClient, cast: Cast) -> None:
    asker = await agent(client, "asker", tools=["send_message_to_agent_and_wait_for_reply"])
    cast.plays["asker"] = reply_or_relay(
        "send_message_to_agent_and_wait_for_reply", message="hello?", other_agent_id="agent-nobody"
    )
    [result] = tool_returns(await send(client, asker, "ask nobody"))
    assert result["status"] == "error" and "agent-nobody" in result["tool_return"]


async def test_a_cycle_is_a_tool_error_not_a_deadlock(client: httpx.AsyncClient, cast: Cast) -> None:
    tool = "send_message_to_agent_and_wait_for_reply"
    a = await agent(client, "a", tools=[tool])
    b = await agent(client, "b", tools=[tool])
    cast.plays["a"] = reply_or_relay(tool, message="ping", other_agent_id=b)
    cast.plays["b"] = reply_or_relay(tool, message="pong", other_agent_id=a)  # A waits for B: cycle
    body = await send(client, a, "start")
    [result] = tool_returns(body)
    assert result["status"] == "success"  # B replied: with the error its own call got
    assert "already waiting" in result["tool_return"]
    b_history = (await client.get(f"/v1/agents/{b}/messages")).json()
    [b_result] = [m for m in b_history if m["message_type"] == "tool_return_message"]
    assert b_result["status"] == "error" and f"{a} -> {b} -> {a}" in b_result["tool_return"]


async def test_a_chain_past_the_depth_limit_is_a_tool_error(client: httpx.AsyncClient, cast: Cast) -> None:
    tool = "send_message_to_agent_and_wait_for_reply"
    d = await agent(client, "d")
    c = await agent(client, "c", tools=[tool])
    b = await agent(client, "b", tools=[tool])
    a = await agent(client, "a", tools=[tool])
    cast.plays.update(
        a=reply_or_relay(tool, message="1", other_agent_id=b),
        b=reply_or_relay(tool, message="2", other_agent_id=c),
        c=reply_or_relay(tool, message="3", other_agent_id=d),  # a third nested send: the limit is 2
        d=worker("d"),
    )
    body = await send(client, a, "start")
    assert "MEMFOLD_MULTI_AGENT_MAX_DEPTH" in tool_returns(body)[0]["tool_return"]
    assert "d" not in cast.seen


async def test_async_send_returns_a_receipt_and_the_run_completes(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    receiver = await agent(client, "receiver")
    sender = await agent(client, "sender", tools=["send_message_to_agent_async"])
    release = asyncio.Event()

    async def receiver_play(request: ModelRequest) -> ModelResponse:
        await release.wait()  # the receiver cannot finish before the sender's turn has ended
        return worker("receiver")(request)  # type: ignore[no-any-return]

    cast.plays["receiver"] = receiver_play
    cast.plays["sender"] = reply_or_relay(
        "send_message_to_agent_async", message="file the report", other_agent_id=receiver
    )
    body = await send(client, sender, "delegate")
    [result] = tool_returns(body)
    receipt = json.loads(result["tool_return"])
    assert receipt["status"] == "queued" and receipt["other_agent_id"] == receiver
    run = (await client.get(f"/v1/runs/{receipt['run_id']}")).json()
    assert run["agent_id"] == receiver and run["status"] in ("created", "running")

    release.set()
    async with asyncio.timeout(30):
        while run["status"] not in ("completed", "failed"):
            await asyncio.sleep(0.05)
            run = (await client.get(f"/v1/runs/{receipt['run_id']}")).json()
    assert run["status"] == "completed"
    assert f"[message from {sender}]" in last(cast.seen["receiver"][0])
    history = (await client.get(f"/v1/agents/{receiver}/messages")).json()
    said = [m["content"] for m in history if m["message_type"] == "assistant_message"]
    assert said[-1] == "receiver did: file the report"


async def test_async_send_to_an_unknown_agent_is_a_tool_error(client: httpx.AsyncClient, cast: Cast) -> None:
    sender = await agent(client, "sender", tools=["send_message_to_agent_async"])
    cast.plays["sender"] = reply_or_relay(
        "send_message_to_agent_async", message="x", other_agent_id="agent-missing"
    )
    [result] = tool_returns(await send(client, sender, "go"))
    assert result["status"] == "error" and "agent-missing" in result["tool_return"]


async def test_async_ping_pong_ends_at_the_hop_limit(client: httpx.AsyncClient, cast: Cast) -> None:
    tool = "send_message_to_agent_async"
    a = await agent(client, "a", tools=[tool])
    b = await agent(client, "b", tools=[tool])
    cast.plays.update(
        a=reply_or_relay(tool, message="ping", other_agent_id=b),
        b=reply_or_relay(tool, message="pong", other_agent_id=a),
    )
    await send(client, a, "start")  # a -> b (hop 1) -> a (2) -> b (3) -> refused
    async with asyncio.timeout(30):
        while True:
            history = (await client.get(f"/v1/agents/{b}/messages")).json()
            errors = [
                m for m in history if m["message_type"] == "tool_return_message" and m["status"] == "error"
            ]
            if errors:
                break
            await asyncio.sleep(0.05)
    assert "MEMFOLD_MULTI_AGENT_MAX_HOPS" in errors[0]["tool_return"]
    runs = (await client.get("/v1/runs/", params={"agent_id": b})).json()
    hops = sorted(r["metadata"]["hops"] for r in runs if r.get("metadata"))
    assert hops == [1, 3]


async def test_a_reply_that_takes_too_long_is_a_tool_error_and_still_lands(
    client: httpx.AsyncClient, cast: Cast, settings: Settings
) -> None:
    settings.multi_agent_reply_timeout = 0.2
    slow = await agent(client, "slow")
    asker = await agent(client, "asker", tools=["send_message_to_agent_and_wait_for_reply"])
    release = asyncio.Event()

    async def slow_play(request: ModelRequest) -> ModelResponse:
        await release.wait()  # held until the asker has given up
        return worker("slow")(request)  # type: ignore[no-any-return]

    cast.plays["slow"] = slow_play
    cast.plays["asker"] = reply_or_relay(
        "send_message_to_agent_and_wait_for_reply", message="take your time", other_agent_id=slow
    )
    [result] = tool_returns(await send(client, asker, "ask the slow one"))
    assert result["status"] == "error" and "did not reply within 0.2 seconds" in result["tool_return"]

    release.set()  # the slow agent's turn was not cut: it finishes and keeps its answer
    async with asyncio.timeout(30):
        while True:
            history = (await client.get(f"/v1/agents/{slow}/messages")).json()
            said = [m["content"] for m in history if m["message_type"] == "assistant_message"]
            if said:
                break
            await asyncio.sleep(0.05)
    assert said == ["slow did: take your time"]


async def test_agents_of_another_organization_are_out_of_reach(
    app: FastAPI, client: httpx.AsyncClient, cast: Cast, settings: Settings
) -> None:
    with app.state.memfold.db.write() as conn:
        other_org, _ = ensure_org(conn, "elsewhere")
        spec = CreateAgent(
            include_base_tools=False,
            tags=["worker"],
            memory_blocks=[{"label": "persona", "value": "ROLE=stranger"}],
        )
        stranger = create_agent_row(conn, other_org, spec, settings, SCRIPTED)
    neighbour = await agent(client, "neighbour", tags=["worker"])
    cast.plays.update(stranger=worker("stranger"), neighbour=worker("neighbour"))
    tools = ["send_message_to_agent_and_wait_for_reply", "send_message_to_agents_matching_tags"]
    boss = await agent(client, "boss", tools=tools)

    cast.plays["boss"] = reply_or_relay(
        "send_message_to_agent_and_wait_for_reply", message="hi", other_agent_id=stranger
    )
    [direct] = tool_returns(await send(client, boss, "ask the stranger"))
    assert direct["status"] == "error" and stranger in direct["tool_return"]

    cast.plays["boss"] = reply_or_relay(
        "send_message_to_agents_matching_tags", message="hi", match_all=["worker"], match_some=[]
    )
    [broadcast] = tool_returns(await send(client, boss, "ask all workers"))
    assert [r["agent_id"] for r in json.loads(broadcast["tool_return"])] == [neighbour]
    assert "stranger" not in cast.seen
