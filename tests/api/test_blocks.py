"""Blocks: standalone CRUD, an agent's core memory by label, attach/detach, limits."""

from __future__ import annotations

import httpx

from tests.helpers import assert_error, create_agent


async def test_block_crud(client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/blocks/", json={"label": "notes", "value": "a", "limit": 100})).json()
    assert created["id"].startswith("block-") and created["limit"] == 100
    block_id = created["id"]
    assert (await client.get(f"/v1/blocks/{block_id}")).json()["value"] == "a"
    modified = (await client.patch(f"/v1/blocks/{block_id}", json={"value": "b", "description": "d"})).json()
    assert (modified["value"], modified["description"]) == ("b", "d")
    assert (await client.delete(f"/v1/blocks/{block_id}")).status_code == 200
    assert_error(await client.get(f"/v1/blocks/{block_id}"), 404)


async def test_list_blocks_by_label(client: httpx.AsyncClient) -> None:
    await client.post("/v1/blocks/", json={"label": "a", "value": "1"})
    await client.post("/v1/blocks/", json={"label": "b", "value": "2"})
    labels = [b["label"] for b in (await client.get("/v1/blocks/", params={"label": "b"})).json()]
    assert labels == ["b"]


async def test_value_over_limit_is_422_on_create_and_modify(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/blocks/", json={"label": "x", "value": "x" * 11, "limit": 10}), 422)
    block = (await client.post("/v1/blocks/", json={"label": "x", "value": "ok", "limit": 10})).json()
    body = assert_error(await client.patch(f"/v1/blocks/{block['id']}", json={"value": "y" * 11}), 422)
    assert "limit" in body["detail"]
    assert_error(await client.patch(f"/v1/blocks/{block['id']}", json={"limit": 1}), 422)
    assert (await client.get(f"/v1/blocks/{block['id']}")).json()["value"] == "ok"


async def test_agent_core_memory_by_label(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    base = f"/v1/agents/{agent['id']}/core-memory/blocks"
    assert {b["label"] for b in (await client.get(base)).json()} == {"human", "persona"}
    assert (await client.get(f"{base}/human")).json()["value"] == "Name: unknown"
    changed = (await client.patch(f"{base}/human", json={"value": "Name: Ada"})).json()
    assert changed["value"] == "Name: Ada"
    assert (await client.get(f"/v1/blocks/{changed['id']}")).json()["value"] == "Name: Ada"
    assert_error(await client.get(f"{base}/nope"), 404)


async def test_one_block_serves_many_agents(client: httpx.AsyncClient) -> None:
    shared = (await client.post("/v1/blocks/", json={"label": "team", "value": "shared facts"})).json()
    a = await create_agent(client, block_ids=[shared["id"]])
    b = await create_agent(client, memory_blocks=[])
    attached = (await client.patch(f"/v1/agents/{b['id']}/core-memory/blocks/attach/{shared['id']}")).json()
    assert shared["id"] in [x["id"] for x in attached["blocks"]]
    await client.patch(f"/v1/agents/{a['id']}/core-memory/blocks/team", json={"value": "edited by a"})
    assert (await client.get(f"/v1/agents/{b['id']}/core-memory/blocks/team")).json()[
        "value"
    ] == "edited by a"

    detached = (await client.patch(f"/v1/agents/{b['id']}/core-memory/blocks/detach/{shared['id']}")).json()
    assert shared["id"] not in [x["id"] for x in detached["blocks"]]
    assert (await client.get(f"/v1/blocks/{shared['id']}")).status_code == 200


async def test_two_blocks_with_one_label_conflict(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    other = (await client.post("/v1/blocks/", json={"label": "human", "value": "another"})).json()
    assert_error(await client.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/attach/{other['id']}"), 409)
