"""Every route answers bad input with a 4xx in the one JSON error shape, never a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import assert_error, create_agent

MISSING = "agent-00000000-0000-4000-8000-000000000999"


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the API, read from the OpenAPI document the server publishes."""
    paths = app.openapi()["paths"]
    return [
        (method.upper(), path) for path, ops in paths.items() for method in ops if path.startswith("/v1/")
    ]


async def test_every_route_with_unknown_ids_gives_404_or_4xx_in_one_shape(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    routes = api_routes(app)
    assert len(routes) >= 20
    checked = 0
    for method, path in routes:
        if "{" not in path:
            continue
        url = (
            path.replace("{agent_id}", MISSING)
            .replace("{block_id}", "block-00000000-0000-4000-8000-000000000999")
            .replace("{tool_id}", "tool-00000000-0000-4000-8000-000000000999")
            .replace("{block_label}", "human")
        )
        response = await client.request(method, url, json={"messages": [{"role": "user", "content": "x"}]})
        assert 400 <= response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
        assert_error(response, response.status_code)
        checked += 1
    assert checked >= 15


async def test_unknown_route_and_method_use_the_shape(client: httpx.AsyncClient) -> None:
    assert assert_error(await client.get("/v1/nothing-here"), 404)["code"] == "not_found"
    assert assert_error(await client.put("/v1/health/"), 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"memory_blocks": [{"value": "no label"}]}, "label"),
        ({"memory_blocks": "not a list"}, "memory_blocks"),
        ({"context_window_limit": "big"}, "context_window_limit"),
        ({"tags": [1, 2]}, "tags"),
        ({"model": "no-slash"}, "provider/model"),
    ],
)
async def test_malformed_agent_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = assert_error(await client.post("/v1/agents/", json=body), 422)
    assert field in response["detail"]
    assert (await client.get("/v1/agents/")).json() == []


async def test_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/agents/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert assert_error(response, 422)["code"] == "validation_error"


async def test_bad_message_requests(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    url = f"/v1/agents/{agent['id']}/messages"
    assert_error(await client.post(url, json={"messages": []}), 400)
    assert_error(await client.post(url, json={"messages": [{"role": "wizard", "content": "x"}]}), 422)
    assert_error(await client.post(url, json={"messages": [{"role": "user"}]}), 422)
    assert_error(
        await client.post(url, json={"messages": [{"role": "user", "content": "x"}], "max_steps": 0}), 422
    )
    assert_error(await client.get(url, params={"limit": 0}), 422)
    assert_error(await client.get(url, params={"order": "sideways"}), 422)
    assert_error(await client.get(url, params={"after": "message-nope"}), 404)
    assert (await client.get(url)).json() == []


async def test_provider_not_configured_is_a_clear_error_and_loses_nothing(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, model="openai/gpt-4o-mini")
    response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    body = assert_error(response, 400)
    assert "OPENAI_API_KEY" in body["detail"]
    assert (await client.get(f"/v1/agents/{agent['id']}")).json()["message_ids"] == []
