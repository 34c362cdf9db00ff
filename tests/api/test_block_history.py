"""/v1/blocks/{id}/history and /v1/blocks/{id}/rollback: every saved version, and restoring one."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from memfold.store import tables
from tests.helpers import assert_error


async def make_block(client: httpx.AsyncClient, value: str = "v1", **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/blocks/", json={"label": "notes", "value": value, **extra})
    assert response.status_code == 200, response.text
    block: dict[str, Any] = response.json()
    return block


async def patch(client: httpx.AsyncClient, block_id: str, **body: Any) -> dict[str, Any]:
    response = await client.patch(f"/v1/blocks/{block_id}", json=body)
    assert response.status_code == 200, response.text
    block: dict[str, Any] = response.json()
    return block


async def history(client: httpx.AsyncClient, block_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/blocks/{block_id}/history", params=params)
    assert response.status_code == 200, response.text
    versions: list[dict[str, Any]] = response.json()
    return versions


async def test_each_change_of_value_limit_or_description_is_a_version(client: httpx.AsyncClient) -> None:
    block = await make_block(client, "v1", limit=100)
    await patch(client, block["id"], value="v2")
    await patch(client, block["id"], tags=["team"])  # not a versioned field
    await patch(client, block["id"], value="v2")  # no change
    await patch(client, block["id"], limit=50, description="what we know")
    versions = await history(client, block["id"])
    assert [(v["version"], v["value"], v["limit"], v["description"]) for v in versions] == [
        (3, "v2", 50, "what we know"),
        (2, "v2", 100, None),
        (1, "v1", 100, None),
    ]
    assert all(v["actor_type"] == "user" and v["block_id"] == block["id"] for v in versions)


async def test_history_pages_with_cursors_newest_first(client: httpx.AsyncClient) -> None:
    block = await make_block(client, "v1")
    for n in range(2, 6):
        await patch(client, block["id"], value=f"v{n}")
    first = await history(client, block["id"], limit=2)
    assert [v["version"] for v in first] == [5, 4]
    rest = await history(client, block["id"], after=first[-1]["id"])
    assert [v["version"] for v in rest] == [3, 2, 1]
    before = await history(client, block["id"], before=rest[0]["id"])
    assert [v["version"] for v in before] == [5, 4]
    oldest = await history(client, block["id"], order="asc", limit=1)
    assert [v["value"] for v in oldest] == ["v1"]


async def test_rollback_restores_and_records_a_new_version(client: httpx.AsyncClient) -> None:
    block = await make_block(client, "first", description="d1", limit=100)
    await patch(client, block["id"], value="second", description="d2", limit=200)
    response = await client.post(f"/v1/blocks/{block['id']}/rollback", json={"version": 1})
    assert response.status_code == 200, response.text
    restored = response.json()
    assert (restored["value"], restored["description"], restored["limit"]) == ("first", "d1", 100)
    assert (await client.get(f"/v1/blocks/{block['id']}")).json()["value"] == "first"
    versions = await history(client, block["id"])
    assert [(v["version"], v["value"], v["actor_type"]) for v in versions] == [
        (3, "first", "user"),
        (2, "second", "user"),
        (1, "first", "user"),
    ]
    # Rolling forward again is just another rollback.
    response = await client.post(f"/v1/blocks/{block['id']}/rollback", json={"version": 2})
    assert response.status_code == 200 and response.json()["value"] == "second"
    assert (await history(client, block["id"], limit=1))[0]["version"] == 4


async def test_rollback_and_history_errors(client: httpx.AsyncClient) -> None:
    block = await make_block(client)
    body = assert_error(await client.post(f"/v1/blocks/{block['id']}/rollback", json={"version": 7}), 422)
    assert "7" in body["detail"]
    assert_error(await client.post(f"/v1/blocks/{block['id']}/rollback", json={"version": 0}), 422)
    assert_error(await client.post(f"/v1/blocks/{block['id']}/rollback", json={}), 422)
    missing = "block-00000000-0000-4000-8000-000000000000"
    assert_error(await client.post(f"/v1/blocks/{missing}/rollback", json={"version": 1}), 404)
    assert_error(await client.get(f"/v1/blocks/{missing}/history"), 404)
    assert_error(await client.get(f"/v1/blocks/{block['id']}/history", params={"after": "nope"}), 404)
    # A value over the limit is still refused, and makes no version.
    assert_error(await client.patch(f"/v1/blocks/{block['id']}", json={"limit": 1}), 422)
    assert [v["version"] for v in await history(client, block["id"])] == [1]


async def test_deleting_a_block_deletes_its_history(client: httpx.AsyncClient, app: FastAPI) -> None:
    block = await make_block(client)
    await patch(client, block["id"], value="v2")

    def rows() -> int:
        h = tables.block_history
        with app.state.memfold.db.read() as conn:
            return int(conn.execute(select(func.count()).where(h.c.block_id == block["id"])).scalar_one())

    assert rows() == 2
    assert (await client.delete(f"/v1/blocks/{block['id']}")).status_code == 200
    assert_error(await client.get(f"/v1/blocks/{block['id']}/history"), 404)
    assert rows() == 0
