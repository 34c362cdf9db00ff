"""Small helpers shared by API tests."""

from __future__ import annotations

from typing import Any

import httpx


async def create_agent(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault(
        "memory_blocks",
        [
            {"label": "human", "value": "Name: unknown"},
            {"label": "persona", "value": "I am a helpful agent."},
        ],
    )
    response = await client.post("/v1/agents/", json=body)
    assert response.status_code == 200, response.text
    agent: dict[str, Any] = response.json()
    return agent


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error shape: {"detail": str, "code": str, "errors": list | None}."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    return body
