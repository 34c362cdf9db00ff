"""Sleep-time agents with scripted models: every N turns of the main agent a background run of its
companion revises the shared blocks; the main agent never waits for it, and its faults stay its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.config import Settings
from memfold.errors import ProviderError
from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.runs import sleeptime as scheduling
from tests.agent.test_loop import send, system_prompt
from tests.conftest import SCRIPTED
from tests.helpers import create_agent

WAIT_SECONDS = 20.0
"""Upper bound for background work to show up (a bound against hanging, not a timing assertion)."""


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        home=tmp_path / "home", default_model=SCRIPTED, database_url=database_url, sleeptime_agent_frequency=2
    )


class Companion:
    """Scripts the sleep-time agent: its first call waits for `release`, then edits `human`; every
    later call finishes the session. Requests of the main agent get a plain `send_message` reply."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.requests: list[ModelRequest] = []
        self.main_requests: list[ModelRequest] = []
        self.fail = False

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        if not any(t.name == "memory_finish_edits" for t in request.tools):
            self.main_requests.append(request)
            return tool_call_response("send_message", message="noted")
        self.requests.append(request)
        if self.fail:
            raise ProviderError("the sleep-time provider is down", provider="scripted", status=503)
        if len(self.requests) == 1:
            self.entered.set()
            await self.release.wait()
            return tool_call_response(
                "memory_replace", label="human", old_str="Name: unknown", new_str="Name: Ada", thinking="x"
            )
        return tool_call_response("memory_finish_edits", thinking="done")


@pytest.fixture
def companion(scripted: ScriptedModel) -> Companion:
    scripted.function = script = Companion()
    return script


async def eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if found := await check():
                return found
            await asyncio.sleep(0.02)


async def sleeptime_agent(client: httpx.AsyncClient) -> tuple[str, str]:
    main = await create_agent(client, enable_sleeptime=True)
    group = main["managed_group"]
    return main["id"], group["agent_ids"][0]


async def runs_of(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/runs/", params={"agent_id": agent_id, "order": "asc"})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


async def block(client: httpx.AsyncClient, agent_id: str, label: str) -> str:
    response = await client.get(f"/v1/agents/{agent_id}/core-memory/blocks/{label}")
    assert response.status_code == 200, response.text
    value: str = response.json()["value"]
    return value


async def test_a_sleeptime_run_edits_the_shared_block_in_the_background(
    app: FastAPI, client: httpx.AsyncClient, companion: Companion
) -> None:
    main, sleeper = await sleeptime_agent(client)
    await send(client, main, "hello, my name is Ada")
    await app.state.sleeptime.wait_idle()
    assert await runs_of(client, sleeper) == []  # one turn of two
    await send(client, main, "I like tea")

    [run] = await eventually(lambda: runs_of(client, sleeper))
    await asyncio.wait_for(companion.entered.wait(), WAIT_SECONDS)
    # The companion's model is blocked mid-run; the main agent still answers at once.
    body = await send(client, main, "what's the weather?")
    assert body["stop_reason"]["stop_reason"] == "end_turn"  # type: ignore[index]
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "running"
    assert await block(client, main, "human") == "Name: unknown"

    companion.release.set()
    done = await eventually(lambda: _completed(client, run["id"]))
    assert done["stop_reason"] == "tool_rule"  # memory_finish_edits is terminal
    assert run["metadata"]["main_agent_id"] == main
    assert await block(client, main, "human") == "Name: Ada"
    await send(client, main, "and now?")
    assert "Name: Ada" in system_prompt(companion.main_requests[-1])

    # The companion's input: the transcript of the two turns before the run, roles and speakers shown.
    transcript = companion.requests[0].messages[-1].content or ""
    assert "user: hello, my name is Ada" in transcript
    assert "user: I like tea" in transcript
    assert "agent: noted" in transcript
    assert "what's the weather?" not in transcript


async def _completed(client: httpx.AsyncClient, run_id: str) -> dict[str, Any] | None:
    run: dict[str, Any] = (await client.get(f"/v1/runs/{run_id}")).json()
    return run if run["status"] in ("completed", "failed") else None


async def test_turns_during_a_run_are_coalesced_into_the_next_run(
    app: FastAPI, client: httpx.AsyncClient, companion: Companion
) -> None:
    main, sleeper = await sleeptime_agent(client)
    await send(client, main, "one")
    await send(client, main, "two")
    await asyncio.wait_for(companion.entered.wait(), WAIT_SECONDS)
    for text in ("three", "four", "five"):  # enough turns for another run, but one is running
        await send(client, main, text)
    await app.state.sleeptime.wait_idle()  # every turn has been counted
    [group] = (await client.get("/v1/groups/")).json()
    assert group["turns_counter"] == 5
    assert len(await runs_of(client, sleeper)) == 1

    [first] = await runs_of(client, sleeper)
    companion.release.set()
    await eventually(lambda: _completed(client, first["id"]))
    # The turns counted while it ran are due: the end of the run queues the next, no new turn needed.
    runs = await eventually(lambda: _two(client, sleeper))
    await eventually(lambda: _completed(client, runs[1]["id"]))
    second = companion.requests[-1].messages[-1].content or ""  # the second run's input
    for text in ("three", "four", "five"):
        assert f"user: {text}" in second
    assert "user: two" not in second
    [group] = (await client.get("/v1/groups/")).json()
    assert group["last_processed_message_id"] is not None


async def _two(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]] | None:
    runs = await runs_of(client, agent_id)
    return runs if len(runs) == 2 else None


async def test_a_failing_sleeptime_run_does_not_touch_the_main_agent(
    client: httpx.AsyncClient, companion: Companion
) -> None:
    companion.fail = True
    main, sleeper = await sleeptime_agent(client)
    await send(client, main, "one")
    await send(client, main, "two")
    [run] = await eventually(lambda: runs_of(client, sleeper))
    done = await eventually(lambda: _completed(client, run["id"]))
    assert done["status"] == "failed"
    assert "the sleep-time provider is down" in done["metadata"]["error"]
    body = await send(client, main, "three")
    assert body["stop_reason"]["stop_reason"] == "end_turn"  # type: ignore[index]
    assert await block(client, main, "human") == "Name: unknown"


async def test_an_agent_without_sleeptime_queues_nothing(
    app: FastAPI, client: httpx.AsyncClient, companion: Companion
) -> None:
    plain = await create_agent(client)
    assert plain["managed_group"] is None and plain["enable_sleeptime"] is False
    for text in ("one", "two", "three"):
        await send(client, plain["id"], text)
    await app.state.sleeptime.wait_idle()
    listed = (await client.get("/v1/runs/", params={"limit": 100})).json()
    assert {r["agent_id"] for r in listed} == {plain["id"]}
    assert companion.requests == []


async def test_an_agent_without_a_group_is_looked_up_once_then_remembered(
    app: FastAPI, client: httpx.AsyncClient, companion: Companion, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real = scheduling.group_rows.group_of_member

    def counting(conn: Any, agent_id: str) -> Any:
        lookups.append(agent_id)
        return real(conn, agent_id)

    monkeypatch.setattr(scheduling.group_rows, "group_of_member", counting)
    plain = await create_agent(client)
    for text in ("one", "two", "three"):
        await send(client, plain["id"], text)
        await app.state.sleeptime.wait_idle()
    assert lookups == [plain["id"]]  # the later turns cost no read


async def test_sleeptime_enabled_after_turns_is_counted_once_the_memory_expires(
    app: FastAPI, client: httpx.AsyncClient, companion: Companion, monkeypatch: pytest.MonkeyPatch
) -> None:
    companion.release.set()
    monkeypatch.setattr(scheduling, "NO_GROUP_TTL", 0.0)  # "no group" is never trusted past the lookup
    plain = await create_agent(client)
    await send(client, plain["id"], "before")
    await app.state.sleeptime.wait_idle()
    response = await client.patch(f"/v1/agents/{plain['id']}", json={"enable_sleeptime": True})
    assert response.status_code == 200, response.text
    sleeper = response.json()["managed_group"]["agent_ids"][0]
    for text in ("hello, my name is Ada", "I like tea"):  # the frequency is 2
        await send(client, plain["id"], text)
    [run] = await eventually(lambda: runs_of(client, sleeper))
    assert run["agent_id"] == sleeper


async def test_blocks_attached_later_are_shared_with_the_next_run(
    client: httpx.AsyncClient, companion: Companion
) -> None:
    companion.release.set()
    main, sleeper = await sleeptime_agent(client)
    made = await client.post("/v1/blocks/", json={"label": "project", "value": "PROJECT=memfold"})
    assert made.status_code == 200, made.text
    attached = await client.patch(f"/v1/agents/{main}/core-memory/blocks/attach/{made.json()['id']}")
    assert attached.status_code == 200, attached.text
    await send(client, main, "one")
    await send(client, main, "two")
    [run] = await eventually(lambda: runs_of(client, sleeper))
    await eventually(lambda: _completed(client, run["id"]))
    assert "PROJECT=memfold" in system_prompt(companion.requests[0])
    labels = {b["label"] for b in (await client.get(f"/v1/agents/{sleeper}")).json()["memory"]["blocks"]}
    assert labels == {"human", "persona", "project"}
