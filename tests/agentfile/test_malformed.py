"""Bad agent files get a clear 4xx in the one error shape, and an import that fails stores nothing."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.errors import ConflictError
from memfold.store import messages as message_rows
from tests.agentfile.helpers import (
    CURRENT,
    LEGACY_CUSTOMER_SERVICE,
    fixture_bytes,
    fixture_json,
    row_counts,
    upload,
)
from tests.helpers import assert_error

CURRENT_FILE = fixture_json(CURRENT)
LEGACY_FILE = fixture_json(LEGACY_CUSTOMER_SERVICE)


def edited(document: dict[str, Any], edit: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    edit(changed)
    return changed


def _second_block_with_same_label(d: dict[str, Any]) -> None:
    d["blocks"].append({**d["blocks"][0], "id": "block-9"})
    d["agents"][0]["block_ids"].append("block-9")


def _unreadable_tool(d: dict[str, Any]) -> None:
    tool = next(t for t in d["tools"] if t["tool_type"] == "custom")
    tool.update(json_schema=None, source_code="def broken(:\n    pass\n")


BAD_FILES: list[tuple[str, bytes | str | dict[str, Any], int, str]] = [
    ("not json", b"{not json", 400, "not valid JSON"),
    ("not utf-8", b"\xff\xfe\x00garbage", 400, "not valid JSON"),
    ("a list", "[1, 2, 3]", 422, "JSON object"),
    ("unrelated object", {"hello": "world"}, 422, "not an agent file"),
    ("agents not a list", {"agents": "nope"}, 422, "agents"),
    ("agent without id", edited(CURRENT_FILE, lambda d: d["agents"][0].pop("id")), 422, "agents.0.id"),
    (
        "unknown role",
        edited(CURRENT_FILE, lambda d: d["agents"][0]["messages"][1].update(role="wizard")),
        422,
        "role",
    ),
    (
        "dangling block",
        edited(CURRENT_FILE, lambda d: d["agents"][0]["block_ids"].append("block-77")),
        422,
        "block-77",
    ),
    (
        "dangling in-context message",
        edited(CURRENT_FILE, lambda d: d["agents"][0]["in_context_message_ids"].append("message-99")),
        422,
        "message-99",
    ),
    (
        "duplicate tool ids",
        edited(CURRENT_FILE, lambda d: d["tools"].append(d["tools"][0])),
        422,
        "more than once",
    ),
    ("two blocks, one label", edited(CURRENT_FILE, _second_block_with_same_label), 422, "several blocks"),
    (
        "passage of no agent",
        edited(
            CURRENT_FILE, lambda d: d.update(memfold_archival_passages=[{"agent_id": "agent-5", "text": "x"}])
        ),
        422,
        "agent-5",
    ),
    ("unreadable tool source", edited(CURRENT_FILE, _unreadable_tool), 422, "does not parse"),
    (
        "index outside messages",
        edited(LEGACY_FILE, lambda d: d["in_context_message_indices"].append(40)),
        422,
        "in_context_message_indices",
    ),
    (
        "core memory not a list",
        edited(LEGACY_FILE, lambda d: d.update(core_memory="persona")),
        422,
        "core_memory",
    ),
    (
        "block value of wrong type",
        edited(LEGACY_FILE, lambda d: d["core_memory"][0].update(value=[1])),
        422,
        "value",
    ),
]


@pytest.mark.parametrize(("what", "content", "status", "says"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
async def test_bad_files_are_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient, app: FastAPI, what: str, content: Any, status: int, says: str
) -> None:
    before = row_counts(app)
    body = assert_error(await upload(client, content), status)
    assert says in body["detail"], body["detail"]
    assert row_counts(app) == before


async def test_bad_options_and_requests(client: httpx.AsyncClient, app: FastAPI) -> None:
    before = row_counts(app)
    assert_error(await upload(client, fixture_bytes(CURRENT), secrets="{not json"), 400)
    assert_error(await upload(client, fixture_bytes(CURRENT), secrets='["a list"]'), 400)
    assert_error(await upload(client, fixture_bytes(CURRENT), model="no-slash"), 422)
    assert_error(await client.post("/v1/agents/import", data={"name": "x"}), 422)  # no file at all
    assert_error(await client.post("/v1/agents/import", json={"agents": []}), 422)  # not a multipart upload
    assert row_counts(app) == before


async def test_a_failure_while_writing_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is valid; writing fails after the tools, blocks and agent rows went in: all of it goes."""
    before = row_counts(app)
    calls: list[int] = []

    def failing_insert(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        raise ConflictError("simulated failure while writing messages")

    monkeypatch.setattr(message_rows, "insert_messages", failing_insert)
    assert_error(await upload(client, fixture_bytes(CURRENT)), 409)
    assert calls == [1]
    assert row_counts(app) == before
    tools = (await client.get("/v1/tools/", params={"name": "calculate_fibonacci"})).json()
    assert tools == []
