"""Blocks shared by several agents: edits show in every agent's next request and are never lost."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from memfold.llm.base import ModelRequest, ModelResponse
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import create_agent


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def system_prompt(request: ModelRequest) -> str:
    assert request.messages[0].role == "system"
    return request.messages[0].content or ""


async def shared_block(client: httpx.AsyncClient, value: str = "", limit: int = 5000) -> str:
    response = await client.post("/v1/blocks/", json={"label": "shared", "value": value, "limit": limit})
    assert response.status_code == 200, response.text
    block_id: str = response.json()["id"]
    return block_id


async def block_value(client: httpx.AsyncClient, block_id: str) -> str:
    response = await client.get(f"/v1/blocks/{block_id}")
    assert response.status_code == 200, response.text
    value: str = response.json()["value"]
    return value


async def history(client: httpx.AsyncClient, block_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/blocks/{block_id}/history", params={"limit": 1000})
    assert response.status_code == 200, response.text
    versions: list[dict[str, Any]] = response.json()
    return versions


async def agent_with(
    client: httpx.AsyncClient, block_id: str, model: str = "scripted/test", agent_type: str = "memgpt_agent"
) -> str:
    agent = await create_agent(client, agent_type=agent_type, block_ids=[block_id], model=model)
    agent_id: str = agent["id"]
    return agent_id


def register(registry: ModelRegistry, name: str) -> ScriptedModel:
    model = ScriptedModel(name=name)
    registry.register_model(model)
    return model


async def test_an_edit_by_one_agent_is_in_the_other_agents_next_request(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    block_id = await shared_block(client, "Team notes:")
    a, b = await agent_with(client, block_id), await agent_with(client, block_id)
    scripted.enqueue(tool_call_response("send_message", message="hi"))
    await send(client, b, "hello")
    assert "The launch is on Friday." not in system_prompt(scripted.last_request)

    scripted.enqueue(
        tool_call_response("core_memory_append", label="shared", content="The launch is on Friday.")
    )
    await send(client, a, "remember: the launch is on Friday")
    scripted.enqueue(tool_call_response("send_message", message="Friday."))
    await send(client, b, "when is the launch?")
    assert "The launch is on Friday." in system_prompt(scripted.last_request)
    versions = await history(client, block_id)
    assert [(v["version"], v["actor_type"], v["actor_id"]) for v in versions] == [
        (2, "agent", a),
        (1, "user", None),
    ]


async def test_an_edit_during_a_multi_step_turn_shows_in_its_next_step(
    client: httpx.AsyncClient, registry: ModelRegistry
) -> None:
    model_a, model_b = register(registry, "a"), register(registry, "b")
    block_id = await shared_block(client, "Team notes:")
    a = await agent_with(client, block_id, "scripted/a")
    b = await agent_with(client, block_id, "scripted/b")
    model_a.enqueue(tool_call_response("core_memory_append", label="shared", content="Ada joined the team."))

    async def b_step(request: ModelRequest) -> ModelResponse:
        if len(model_b.requests) > 1:
            return tool_call_response("send_message", message="Ada.")
        await send(client, a, "Ada joined")  # agent A edits the block while B's first step is under way
        return tool_call_response(
            "core_memory_append", label="human", content="Asked about the team.", request_heartbeat=True
        )

    model_b.function = b_step
    body = await send(client, b, "who is on the team?")
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    assert len(model_b.requests) == 2
    assert "Ada joined the team." not in system_prompt(model_b.requests[0])
    second = system_prompt(model_b.requests[1])
    assert "Ada joined the team." in second and "Asked about the team." in second


async def test_twenty_concurrent_appends_from_twenty_agents_are_all_kept(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    block_id = await shared_block(client, "Facts:", limit=2000)
    agents = [await agent_with(client, block_id) for _ in range(20)]
    loaded = asyncio.Event()
    waiting = 0

    async def append_fact(request: ModelRequest) -> ModelResponse:
        # Every agent holds the block as first read until all 20 have read it: 20 concurrent edits.
        nonlocal waiting
        waiting += 1
        if waiting == len(agents):
            loaded.set()
        await asyncio.wait_for(loaded.wait(), 30)
        assert "fact-" not in system_prompt(request)
        fact = request.messages[-1].content
        return tool_call_response("core_memory_append", label="shared", content=fact)

    scripted.function = append_fact
    await asyncio.gather(*(send(client, agent, f"fact-{i}") for i, agent in enumerate(agents)))

    value = await block_value(client, block_id)
    assert sorted(line for line in value.split("\n") if line.startswith("fact-")) == sorted(
        f"fact-{i}" for i in range(20)
    )
    versions = await history(client, block_id)
    assert [v["version"] for v in versions] == list(range(21, 0, -1))
    assert {v["actor_id"] for v in versions[:-1]} == set(agents)
    assert all(v["actor_type"] == "agent" for v in versions[:-1])
    assert versions[0]["value"] == value


async def test_an_api_edit_and_other_agents_edits_during_a_step_are_all_kept(
    client: httpx.AsyncClient, registry: ModelRegistry
) -> None:
    model_a, model_b = register(registry, "a"), register(registry, "b")
    block_id = await shared_block(client, "Name: unknown")
    a = await agent_with(client, block_id, "scripted/a")
    b = await agent_with(client, block_id, "scripted/b")
    model_b.enqueue(tool_call_response("core_memory_append", label="shared", content="Likes tea."))

    async def a_step(request: ModelRequest) -> ModelResponse:
        response = await client.patch(f"/v1/blocks/{block_id}", json={"value": "Name: Ada"})
        assert response.status_code == 200, response.text
        await send(client, b, "I like tea")
        return tool_call_response("core_memory_append", label="shared", content="Works at night.")

    model_a.function = a_step
    await send(client, a, "I work at night")
    assert await block_value(client, block_id) == "Name: Ada\nLikes tea.\nWorks at night."
    versions = await history(client, block_id)
    assert [(v["actor_type"], v["actor_id"]) for v in versions] == [
        ("agent", a),
        ("agent", b),
        ("user", None),
        ("user", None),
    ]


async def test_an_edit_that_no_longer_applies_is_dropped_and_the_fresh_value_kept(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    block_id = await shared_block(client, "Name: unknown")
    agent = await agent_with(client, block_id)
    calls = 0

    async def step(request: ModelRequest) -> ModelResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            response = await client.patch(f"/v1/blocks/{block_id}", json={"value": "Name: Grace"})
            assert response.status_code == 200, response.text
            return tool_call_response(
                "core_memory_replace",
                label="shared",
                old_content="unknown",
                new_content="Ada",
                request_heartbeat=True,
            )
        return tool_call_response("send_message", message="ok")

    scripted.function = step
    await send(client, agent, "my name is Ada")
    assert await block_value(client, block_id) == "Name: Grace"
    # The next step was shown the block as saved, not the dropped edit.
    assert "Name: Grace" in system_prompt(scripted.requests[1])
    assert "Name: Ada" not in system_prompt(scripted.requests[1])
    assert [v["actor_type"] for v in await history(client, block_id)] == ["user", "user"]


async def test_a_rewrite_based_on_an_older_value_is_dropped(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    block_id = await shared_block(client, "one")
    agent = await agent_with(client, block_id, agent_type="memgpt_v2_agent")
    scripted.enqueue(tool_call_response("memory_rethink", label="shared", new_memory="One."))
    await send(client, agent, "tidy up")
    assert await block_value(client, block_id) == "One."  # with no other writer, the rewrite is saved

    async def step(request: ModelRequest) -> ModelResponse:
        response = await client.patch(f"/v1/blocks/{block_id}", json={"value": "One.\nTwo."})
        assert response.status_code == 200, response.text
        return tool_call_response("memory_rethink", label="shared", new_memory="ONE")

    scripted.function = step
    body = await send(client, agent, "tidy up again")
    returns = [m for m in body["messages"] if m["message_type"] == "tool_return_message"]
    assert [m["status"] for m in returns] == ["success"]  # the model was told it worked ...
    assert await block_value(client, block_id) == "One.\nTwo."  # ... but it would have erased Two.
