"""The sleep-time group an agent gets with `enable_sleeptime`: on the agent state, under /v1/groups, the
companion agent, changing the frequency, turning it off and on, deleting."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import assert_error, create_agent


async def test_enable_sleeptime_creates_a_companion_sharing_the_blocks(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, name="ada", enable_sleeptime=True)
    group = main["managed_group"]
    assert main["enable_sleeptime"] is True
    assert main["multi_agent_group"] == group
    assert group["manager_type"] == "sleeptime"
    assert group["manager_agent_id"] == main["id"]
    assert group["sleeptime_agent_frequency"] == 5  # MEMFOLD_SLEEPTIME_AGENT_FREQUENCY's default
    assert group["turns_counter"] == 0
    assert sorted(group["shared_block_ids"]) == sorted(b["id"] for b in main["memory"]["blocks"])

    [sleeper_id] = group["agent_ids"]
    sleeper = (await client.get(f"/v1/agents/{sleeper_id}")).json()
    assert sleeper["agent_type"] == "sleeptime_agent"
    assert sleeper["name"] == "ada-sleeptime"
    assert sleeper["model"] == main["model"]
    assert sleeper["managed_group"] is None
    assert {b["id"] for b in sleeper["memory"]["blocks"]} == {b["id"] for b in main["memory"]["blocks"]}
    assert sorted(t["name"] for t in sleeper["tools"]) == [
        "memory_finish_edits",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
    ]
    rules = {(r["tool_name"], r["type"]) for r in sleeper["tool_rules"]}
    assert ("memory_finish_edits", "exit_loop") in rules
    assert ("memory_replace", "continue_loop") in rules

    # The main agent keeps its own tools.
    assert "send_message" in {t["name"] for t in main["tools"]}


async def test_groups_list_retrieve_and_modify_the_frequency(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, enable_sleeptime=True)
    plain = await create_agent(client)
    assert plain["managed_group"] is None
    group_id = main["managed_group"]["id"]

    listed = (await client.get("/v1/groups/")).json()
    assert [g["id"] for g in listed] == [group_id]
    assert (await client.get("/v1/groups/", params={"manager_type": "sleeptime"})).json() == listed
    assert (await client.get("/v1/groups/", params={"manager_type": "supervisor"})).json() == []
    assert (await client.get(f"/v1/groups/{group_id}")).json() == listed[0]

    body = {
        "manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 2},
        "description": "d",
    }
    changed = await client.patch(f"/v1/groups/{group_id}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["sleeptime_agent_frequency"] == 2
    assert changed.json()["description"] == "d"
    state = (await client.get(f"/v1/agents/{main['id']}")).json()
    assert state["managed_group"]["sleeptime_agent_frequency"] == 2


async def test_bad_group_requests_are_4xx(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, enable_sleeptime=True)
    group_id = main["managed_group"]["id"]
    assert_error(await client.get("/v1/groups/group-nope"), 404)
    assert_error(await client.patch("/v1/groups/group-nope", json={"description": "x"}), 404)
    zero = {"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 0}}
    assert_error(await client.patch(f"/v1/groups/{group_id}", json=zero), 422)
    other = {"manager_config": {"manager_type": "round_robin"}}
    assert_error(await client.patch(f"/v1/groups/{group_id}", json=other), 422)
    agents = {"agent_ids": [main["id"]]}
    assert_error(await client.patch(f"/v1/groups/{group_id}", json=agents), 400)
    assert_error(await client.delete("/v1/groups/group-nope"), 404)
    unsupported = await client.post("/v1/agents/", json={"agent_type": "sleeptime_agent"})
    assert_error(unsupported, 422)


async def _exists(client: httpx.AsyncClient, agent_id: str) -> bool:
    response = await client.get(f"/v1/agents/{agent_id}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


async def test_deleting_the_main_agent_deletes_its_companion(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, enable_sleeptime=True)
    [sleeper] = main["managed_group"]["agent_ids"]
    block_id = main["memory"]["blocks"][0]["id"]
    assert (await client.delete(f"/v1/agents/{main['id']}")).status_code == 200
    assert not await _exists(client, sleeper)
    assert (await client.get("/v1/groups/")).json() == []
    assert (await client.get(f"/v1/blocks/{block_id}")).status_code == 200  # blocks outlive agents


async def test_deleting_the_companion_turns_sleeptime_off(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, enable_sleeptime=True)
    [sleeper] = main["managed_group"]["agent_ids"]
    assert (await client.delete(f"/v1/agents/{sleeper}")).status_code == 200
    state = (await client.get(f"/v1/agents/{main['id']}")).json()
    assert state["enable_sleeptime"] is False and state["managed_group"] is None


async def _modify(client: httpx.AsyncClient, agent_id: str, **body: Any) -> dict[str, Any]:
    response = await client.patch(f"/v1/agents/{agent_id}", json=body)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def test_modify_turns_sleeptime_off_and_on(client: httpx.AsyncClient) -> None:
    main = await create_agent(client)
    on = await _modify(client, main["id"], enable_sleeptime=True)
    [first] = on["managed_group"]["agent_ids"]
    again = await _modify(client, main["id"], enable_sleeptime=True)  # already on: the same companion
    assert again["managed_group"]["agent_ids"] == [first]
    off = await _modify(client, main["id"], enable_sleeptime=False)
    assert off["managed_group"] is None and off["enable_sleeptime"] is False
    assert not await _exists(client, first)
    renamed = await _modify(client, main["id"], name="other")  # not mentioned: unchanged
    assert renamed["managed_group"] is None
    on_again = await _modify(client, main["id"], enable_sleeptime=True)
    assert on_again["managed_group"]["agent_ids"] != [first]


async def test_deleting_the_group_removes_the_companion(client: httpx.AsyncClient) -> None:
    main = await create_agent(client, enable_sleeptime=True)
    group = main["managed_group"]
    assert (await client.delete(f"/v1/groups/{group['id']}")).status_code == 200
    assert not await _exists(client, group["agent_ids"][0])
    assert await _exists(client, main["id"])
    assert_error(await client.get(f"/v1/groups/{group['id']}"), 404)
