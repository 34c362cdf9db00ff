"""Shared by the agent file tests: where the fixtures are, uploading a file, counting stored rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from memfold.store import tables as t

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "agentfiles"
"""Real `.af` files written by Letta, read in place (CI has `shared/` beside the clone)."""

CURRENT = "test_basic_agent_with_blocks_tools_messages_v2.af"
WITH_FILES = "test_agent_with_files_and_sources.af"
LEGACY_CONVERSATION = "memgpt_agent_with_convo.af"
LEGACY_CUSTOMER_SERVICE = "customer_service.af"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.af"))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(fixture_bytes(name))
    return document


async def upload(
    client: httpx.AsyncClient, content: bytes | str | dict[str, Any], **form: Any
) -> httpx.Response:
    """POST /v1/agents/import with `content` as the multipart field `file` (as letta-client sends it)."""
    if isinstance(content, dict):
        content = json.dumps(content)
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()}
    return await client.post(
        "/v1/agents/import", files={"file": ("agent.af", content, "application/json")}, data=data
    )


async def import_ok(
    client: httpx.AsyncClient, content: bytes | str | dict[str, Any], **form: Any
) -> dict[str, Any]:
    response = await upload(client, content, **form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def export_json(client: httpx.AsyncClient, agent_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/agents/{agent_id}/export", params=params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = json.loads(response.text)
    return document


async def messages_of(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000, "order": "asc"})
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()
    return messages


def row_counts(app: FastAPI) -> dict[str, int]:
    """How many rows each table an import writes to holds."""
    tables = (t.agents, t.blocks, t.tools, t.messages, t.archives, t.passages, t.agent_tools, t.agent_blocks)
    with app.state.memfold.db.read() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in tables
        }
