"""API keys and tenant isolation over the API.

Two organizations, alpha and beta, each with a key from MEMFOLD_API_KEYS. Alpha creates one of each
object; beta's key then tries every route with a path parameter on alpha's objects (the table below;
a test checks it covers every route the app has) and must get 404/403, never alpha's data.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from memfold.config import Settings
from memfold.ids import new_id
from memfold.llm.scripted import ScriptedModel, text_response
from memfold.store import api_keys as key_rows
from memfold.store import tables as t
from memfold.store.mcp_servers import MCP_METADATA_KEY, MCP_TOOL_TYPE
from memfold.store.orgs import ensure_org, find_org
from memfold.store.tools import insert_tool
from memfold.tools.mcp import McpClients
from tests.conftest import SCRIPTED
from tests.helpers import assert_error
from tests.tools.mcp_server_fixture import stdio_config

pytestmark = pytest.mark.timeout(180)

ALPHA_KEY = "mf-alpha000-" + "a" * 40
BETA_KEY = "mf-beta0000-" + "b" * 40
SECRET = "alpha-secret-7c1f"
"""Put into every alpha object's text; must never appear in a response to beta."""

ALPHA = {"Authorization": f"Bearer {ALPHA_KEY}"}
BETA = {"Authorization": f"Bearer {BETA_KEY}"}

TOOL_SOURCE = textwrap.dedent(
    '''
    def alpha_shout(text: str) -> str:
        """Shout the text.

        Args:
            text: The input.
        """
        return text.upper()
    '''
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home", default_model=SCRIPTED, api_keys=f"alpha:{ALPHA_KEY}, beta:{BETA_KEY}"
    )


@pytest.fixture(autouse=True)
def mcp_clients(app: FastAPI) -> Iterator[McpClients]:
    clients: McpClients = app.state.memfold.loop.runtime.mcp
    yield clients
    clients.close()


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def make_agent(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, human: str = "h"
) -> dict[str, Any]:
    body = {
        "name": name,
        "memory_blocks": [{"label": "human", "value": human}, {"label": "persona", "value": "p"}],
    }
    agent: dict[str, Any] = await ok(await client.post("/v1/agents/", json=body, headers=headers))
    return agent


@dataclass
class Objects:
    ids: dict[str, str]
    """Placeholder -> value: alpha's objects (agent_id, tool_id, ...) and beta's (b_agent_id, ...)."""


@pytest.fixture
async def objects(client: httpx.AsyncClient, scripted: ScriptedModel) -> Objects:
    agent = await make_agent(client, ALPHA, f"{SECRET}-agent", human=f"{SECRET} human")
    b_agent = await make_agent(client, BETA, "beta-agent")
    slept = {"name": f"{SECRET}-slept", "enable_sleeptime": True}
    group = (await ok(await client.post("/v1/agents/", json=slept, headers=ALPHA)))["managed_group"]
    tool = await ok(await client.post("/v1/tools/", json={"source_code": TOOL_SOURCE}, headers=ALPHA))
    await ok(await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}", headers=ALPHA))
    block = await ok(
        await client.post("/v1/blocks/", json={"label": "notes", "value": f"{SECRET} block"}, headers=ALPHA)
    )
    b_block = await ok(await client.post("/v1/blocks/", json={"label": "notes", "value": "b"}, headers=BETA))
    archive = await ok(
        await client.post(
            "/v1/archives/", json={"name": f"{SECRET}-archive", "embedding": "local/hash-256"}, headers=ALPHA
        )
    )
    b_archive = await ok(
        await client.post("/v1/archives/", json={"name": "b", "embedding": "local/hash-256"}, headers=BETA)
    )
    passages = await ok(
        await client.post(
            f"/v1/archives/{archive['id']}/passages", json={"text": f"{SECRET} passage"}, headers=ALPHA
        )
    )
    passage = passages[0] if isinstance(passages, list) else passages
    memories = await ok(
        await client.post(
            f"/v1/agents/{agent['id']}/archival-memory", json={"text": f"{SECRET} memory"}, headers=ALPHA
        )
    )
    scripted.enqueue(text_response(f"{SECRET} reply"))
    turn = await ok(
        await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hello"}, headers=ALPHA)
    )
    run_id = turn["usage"]["run_ids"][0] if turn.get("usage", {}).get("run_ids") else None
    run_id = run_id or (await ok(await client.get("/v1/runs/", headers=ALPHA)))[0]["id"]
    step = (await ok(await client.get(f"/v1/runs/{run_id}/steps", headers=ALPHA)))[0]
    server = await ok(
        await client.post(
            "/v1/mcp-servers/", json={"server_name": f"{SECRET}-mcp", "config": stdio_config()}, headers=ALPHA
        )
    )
    mcp_tools = await ok(await client.get(f"/v1/mcp-servers/{server['id']}/tools", headers=ALPHA))
    folder = await ok(await client.post("/v1/folders/", json={"name": f"{SECRET}-folder"}, headers=ALPHA))
    b_folder = await ok(await client.post("/v1/folders/", json={"name": "b-folder"}, headers=BETA))
    upload = {"file": ("notes.txt", f"{SECRET} file".encode(), "text/plain")}
    file = await ok(await client.post(f"/v1/folders/{folder['id']}/upload", files=upload, headers=ALPHA))
    return Objects(
        ids={
            "agent_id": agent["id"],
            "tool_id": tool["id"],
            "tool_name": tool["name"],
            "block_id": block["id"],
            "block_label": "human",
            "archive_id": archive["id"],
            "passage_id": passage["id"],
            "memory_id": memories[0]["id"],
            "run_id": run_id,
            "step_id": step["id"],
            "mcp_server_id": server["id"],
            "mcp_tool_id": mcp_tools[0]["id"],
            "folder_id": folder["id"],
            "file_id": file["id"],
            "b_folder_id": b_folder["id"],
            "b_agent_id": b_agent["id"],
            "group_id": group["id"],
            "b_block_id": b_block["id"],
            "b_archive_id": b_archive["id"],
        }
    )


UPLOAD = {"upload": "planted.txt"}
"""A body that is sent as a multipart file upload."""

# (method, path, body): every route with a path parameter, with alpha's ids, and where a route takes
# two ids, also beta's own object combined with alpha's (beta attaching alpha's tool to its agent).
ATTEMPTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/agents/{agent_id}", None),
    ("PATCH", "/v1/agents/{agent_id}", {"name": "stolen"}),
    ("DELETE", "/v1/agents/{agent_id}", None),
    ("GET", "/v1/agents/{agent_id}/export", None),
    ("GET", "/v1/agents/{agent_id}/tools", None),
    ("PATCH", "/v1/agents/{agent_id}/tools/attach/{tool_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/tools/attach/{tool_id}", None),
    ("PATCH", "/v1/agents/{agent_id}/tools/detach/{tool_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/tools/detach/{tool_id}", None),
    ("GET", "/v1/blocks/{block_id}", None),
    ("PATCH", "/v1/blocks/{block_id}", {"value": "stolen"}),
    ("DELETE", "/v1/blocks/{block_id}", None),
    ("GET", "/v1/blocks/{block_id}/history", None),
    ("POST", "/v1/blocks/{block_id}/rollback", {"version": 1}),
    ("GET", "/v1/agents/{agent_id}/core-memory/blocks", None),
    ("GET", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", None),
    ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", {"value": "stolen"}),
    ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/attach/{b_block_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/core-memory/blocks/attach/{block_id}", None),
    ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/core-memory/blocks/detach/{block_id}", None),
    ("GET", "/v1/agents/{agent_id}/messages", None),
    ("POST", "/v1/agents/{agent_id}/messages", {"input": "hi"}),
    ("POST", "/v1/agents/{agent_id}/messages/stream", {"input": "hi"}),
    ("POST", "/v1/agents/{agent_id}/messages/async", {"input": "hi"}),
    ("POST", "/v1/agents/{agent_id}/messages/cancel", None),
    ("PATCH", "/v1/agents/{agent_id}/reset-messages", None),
    ("GET", "/v1/agents/{agent_id}/context", None),
    ("POST", "/v1/agents/{agent_id}/summarize", None),
    ("GET", "/v1/tools/{tool_id}", None),
    ("PATCH", "/v1/tools/{tool_id}", {"description": "stolen"}),
    ("DELETE", "/v1/tools/{tool_id}", None),
    ("POST", "/v1/agents/{agent_id}/tools/{tool_name}/run", {"args": {"text": "x"}}),
    ("POST", "/v1/agents/{b_agent_id}/tools/{tool_name}/run", {"args": {"text": "x"}}),
    ("PATCH", "/v1/agents/{agent_id}/tools/approval/{tool_name}", {"requires_approval": True}),
    ("PATCH", "/v1/agents/{b_agent_id}/tools/approval/{tool_name}", {"requires_approval": True}),
    ("GET", "/v1/agents/{agent_id}/archival-memory", None),
    ("POST", "/v1/agents/{agent_id}/archival-memory", {"text": "planted"}),
    ("GET", "/v1/agents/{agent_id}/archival-memory/search?query=secret", None),
    ("DELETE", "/v1/agents/{agent_id}/archival-memory/{memory_id}", None),
    ("DELETE", "/v1/agents/{b_agent_id}/archival-memory/{memory_id}", None),
    ("GET", "/v1/archives/{archive_id}", None),
    ("PATCH", "/v1/archives/{archive_id}", {"name": "stolen"}),
    ("DELETE", "/v1/archives/{archive_id}", None),
    ("GET", "/v1/archives/{archive_id}/passages", None),
    ("POST", "/v1/archives/{archive_id}/passages", {"text": "planted"}),
    ("POST", "/v1/archives/{archive_id}/passages/batch", {"passages": [{"text": "planted"}]}),
    ("DELETE", "/v1/archives/{archive_id}/passages/{passage_id}", None),
    ("DELETE", "/v1/archives/{b_archive_id}/passages/{passage_id}", None),
    ("PATCH", "/v1/agents/{agent_id}/archives/attach/{b_archive_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/archives/attach/{archive_id}", None),
    ("PATCH", "/v1/agents/{agent_id}/archives/detach/{archive_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/archives/detach/{archive_id}", None),
    ("GET", "/v1/runs/{run_id}", None),
    ("GET", "/v1/runs/{run_id}/messages", None),
    ("GET", "/v1/runs/{run_id}/steps", None),
    ("GET", "/v1/runs/{run_id}/usage", None),
    ("GET", "/v1/runs/{run_id}/trace", None),
    ("GET", "/v1/steps/{step_id}", None),
    ("GET", "/v1/steps/{step_id}/messages", None),
    ("GET", "/v1/steps/{step_id}/metrics", None),
    ("GET", "/v1/steps/{step_id}/trace", None),
    ("PATCH", "/v1/steps/{step_id}/feedback", {"feedback": "negative"}),
    ("GET", "/v1/mcp-servers/{mcp_server_id}", None),
    ("PATCH", "/v1/mcp-servers/{mcp_server_id}", {"server_name": "stolen"}),
    ("DELETE", "/v1/mcp-servers/{mcp_server_id}", None),
    ("GET", "/v1/mcp-servers/{mcp_server_id}/tools", None),
    ("GET", "/v1/mcp-servers/{mcp_server_id}/tools/{mcp_tool_id}", None),
    ("POST", "/v1/mcp-servers/{mcp_server_id}/tools/{mcp_tool_id}/run", {"args": {}}),
    ("PATCH", "/v1/mcp-servers/{mcp_server_id}/refresh", None),
    ("GET", "/v1/folders/{folder_id}", None),
    ("PATCH", "/v1/folders/{folder_id}", {"name": "stolen"}),
    ("DELETE", "/v1/folders/{folder_id}", None),
    ("POST", "/v1/folders/{folder_id}/upload", UPLOAD),
    ("GET", "/v1/folders/{folder_id}/files", None),
    ("GET", "/v1/folders/{folder_id}/files/{file_id}", None),
    ("GET", "/v1/folders/{b_folder_id}/files/{file_id}", None),
    ("DELETE", "/v1/folders/{folder_id}/{file_id}", None),
    ("DELETE", "/v1/folders/{b_folder_id}/{file_id}", None),
    ("GET", "/v1/folders/{folder_id}/agents", None),
    ("GET", "/v1/agents/{agent_id}/folders", None),
    ("PATCH", "/v1/agents/{agent_id}/folders/attach/{b_folder_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/folders/attach/{folder_id}", None),
    ("PATCH", "/v1/agents/{agent_id}/folders/detach/{folder_id}", None),
    ("PATCH", "/v1/agents/{b_agent_id}/folders/detach/{folder_id}", None),
    ("POST", "/v1/agents/{agent_id}/folders/{folder_id}/learn", None),
    ("POST", "/v1/agents/{b_agent_id}/folders/{folder_id}/learn", None),
    ("GET", "/v1/agents/{agent_id}/files", None),
    ("PATCH", "/v1/agents/{agent_id}/files/close-all", None),
    ("PATCH", "/v1/agents/{agent_id}/files/{file_id}/open", None),
    ("PATCH", "/v1/agents/{b_agent_id}/files/{file_id}/open", None),
    ("PATCH", "/v1/agents/{agent_id}/files/{file_id}/close", None),
    ("PATCH", "/v1/agents/{b_agent_id}/files/{file_id}/close", None),
    ("GET", "/v1/groups/{group_id}", None),
    ("PATCH", "/v1/groups/{group_id}", {"description": "stolen"}),
    ("DELETE", "/v1/groups/{group_id}", None),
    # alpha's ids inside a body or query rather than the path
    ("POST", "/v1/agents/", {"name": "b2", "tool_ids": ["{tool_id}"]}),
    ("POST", "/v1/agents/", {"name": "b3", "block_ids": ["{block_id}"]}),
    ("POST", "/v1/passages/search", {"archive_id": "{archive_id}", "query": "secret"}),
]

EXCUSED: dict[tuple[str, str], str] = {}
"""Routes with a path parameter that the table does not try, and why."""

_PARAM = re.compile(r"\{([a-z_]+)\}")


def _route_of(path: str) -> str:
    """The app's route template an attempt exercises: b_agent_id -> agent_id, mcp_tool_id -> tool_id."""
    path = path.split("?")[0]
    path = path.replace("{b_", "{").replace("{mcp_tool_id}", "{tool_id}")
    return path


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PARAM.sub(lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def test_every_route_with_a_path_parameter_is_tried(app: FastAPI) -> None:
    tried = {(method, _route_of(path)) for method, path, _ in ATTEMPTS}
    missing = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            key = (method.upper(), path)
            if "{" in path and key not in tried and key not in EXCUSED:
                missing.append(key)
    assert missing == [], "add these routes to ATTEMPTS (or EXCUSED, with a reason)"


async def test_beta_cannot_reach_alphas_objects(client: httpx.AsyncClient, objects: Objects) -> None:
    ids = objects.ids
    leaks = []
    for method, path, body in sorted(ATTEMPTS, key=lambda a: a[0] == "DELETE"):  # deletes last
        url = _fill(path, ids)
        if body is UPLOAD:
            files = {"file": ("planted.txt", b"planted", "text/plain")}
            response = await client.request(method, url, files=files, headers=BETA)
        else:
            response = await client.request(method, url, json=_fill(body, ids), headers=BETA)
        if response.status_code not in (403, 404) or SECRET in response.text:
            leaks.append((method, path, response.status_code, response.text[:200]))
        else:
            assert_error(response, response.status_code)
    assert leaks == []

    # Nothing of alpha's changed, and nothing of alpha's got attached to beta's objects.
    agent = await ok(await client.get(f"/v1/agents/{ids['agent_id']}", headers=ALPHA))
    assert agent["name"] == f"{SECRET}-agent"
    assert ids["tool_id"] in [t["id"] for t in agent["tools"]]
    assert {b["label"]: b["value"] for b in agent["memory"]["blocks"]}["human"] == f"{SECRET} human"
    block = await ok(await client.get(f"/v1/blocks/{ids['block_id']}", headers=ALPHA))
    assert block["value"] == f"{SECRET} block"
    tool = await ok(await client.get(f"/v1/tools/{ids['tool_id']}", headers=ALPHA))
    assert tool["description"] != "stolen"
    archive = await ok(await client.get(f"/v1/archives/{ids['archive_id']}", headers=ALPHA))
    assert archive["name"] == f"{SECRET}-archive"
    texts = [
        p["text"]
        for p in await ok(await client.get(f"/v1/archives/{ids['archive_id']}/passages", headers=ALPHA))
    ]
    assert texts == [f"{SECRET} passage"]
    server = await ok(await client.get(f"/v1/mcp-servers/{ids['mcp_server_id']}", headers=ALPHA))
    folder = await ok(await client.get(f"/v1/folders/{ids['folder_id']}", headers=ALPHA))
    assert folder["name"] == f"{SECRET}-folder"
    files = await ok(await client.get(f"/v1/folders/{ids['folder_id']}/files", headers=ALPHA))
    assert [f["id"] for f in files] == [ids["file_id"]]
    assert server["server_name"] == f"{SECRET}-mcp"
    b_agent = await ok(await client.get(f"/v1/agents/{ids['b_agent_id']}", headers=BETA))
    assert ids["tool_id"] not in [t["id"] for t in b_agent["tools"]]
    assert ids["block_id"] not in [b["id"] for b in b_agent["memory"]["blocks"]]
    b_archives = await ok(
        await client.get("/v1/archives/", params={"agent_id": ids["b_agent_id"]}, headers=BETA)
    )
    assert ids["archive_id"] not in [a["id"] for a in b_archives]


LISTS = [
    "/v1/agents/",
    "/v1/blocks/",
    "/v1/tools/",
    "/v1/archives/",
    "/v1/runs/",
    "/v1/steps/",
    "/v1/mcp-servers/",
    "/v1/folders/",
    "/v1/groups/",
]


async def test_lists_under_beta_show_none_of_alphas_objects(
    client: httpx.AsyncClient, objects: Objects
) -> None:
    alpha_ids = {v for k, v in objects.ids.items() if not k.startswith("b_") and k not in ("block_label",)}
    for path in LISTS:
        seen = await ok(await client.get(path, headers=BETA))
        assert isinstance(seen, list)
        assert not alpha_ids & {item["id"] for item in seen}, path
        assert SECRET not in str(seen), path
        mine = await ok(await client.get(path, headers=ALPHA))
        if path != "/v1/tools/":  # alpha's own objects are listed for alpha (tools: built-ins on top)
            assert alpha_ids & {item["id"] for item in mine}, path
    count = await ok(await client.get("/v1/tools/count", headers=BETA))
    alpha_count = await ok(await client.get("/v1/tools/count", headers=ALPHA))
    assert alpha_count > count  # alpha has its custom tool (and its MCP tools) on top of the built-ins
    found = await ok(await client.post("/v1/tools/search", json={"query": "shout"}, headers=BETA))
    assert SECRET not in str(found) and objects.ids["tool_id"] not in str(found)


async def test_requests_without_a_valid_key_get_401(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = assert_error(await client.get("/v1/agents/"), 401)
    assert body["code"] == "unauthorized"
    assert_error(await client.get("/v1/agents/", headers={"Authorization": "Bearer mf-wrong"}), 401)
    assert_error(await client.get("/v1/agents/", headers={"Authorization": f"Basic {ALPHA_KEY}"}), 401)
    assert_error(await client.post("/v1/agents/", json={"name": "x"}), 401)
    assert_error(await client.get("/v1/models/"), 401)
    assert_error(await client.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/messages"), 401)
    assert (await client.get("/v1/health/")).status_code == 200
    assert (await client.get("/v1/agents/", headers={"X-API-Key": ALPHA_KEY})).status_code == 200

    # a key from the database works until revoked, then gets 401 at once
    db = app.state.memfold.db
    with db.write() as conn:
        org_id, _ = ensure_org(conn, "gamma")
        record, key = key_rows.create_key(conn, org_id, "ci")
    assert (await client.get("/v1/agents/", headers={"Authorization": f"Bearer {key}"})).json() == []
    with db.write() as conn:
        key_rows.revoke_key(conn, record.id)
    assert_error(await client.get("/v1/agents/", headers={"Authorization": f"Bearer {key}"}), 401)


async def test_a_new_organization_can_create_agents_with_the_built_in_tools(
    client: httpx.AsyncClient,
) -> None:
    alpha = await make_agent(client, ALPHA, "a")
    beta = await make_agent(client, BETA, "b")
    assert {t["name"] for t in alpha["tools"]} == {t["name"] for t in beta["tools"]}
    assert {t["id"] for t in alpha["tools"]}.isdisjoint({t["id"] for t in beta["tools"]})
    assert beta["tools"]


@pytest.fixture
def open_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "open", default_model=SCRIPTED)


async def test_without_keys_the_server_is_open(open_settings: Settings, registry: Any) -> None:
    from memfold.server.app import create_app

    application = create_app(open_settings, registry)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as c:
            assert (await c.get("/v1/agents/")).status_code == 200
            # any key is ignored on an open server (letta-client may send one)
            assert (await c.get("/v1/agents/", headers={"Authorization": "Bearer x"})).status_code == 200
            db = application.state.memfold.db
            with db.write() as conn:
                org_id, _ = ensure_org(conn, "delta")
                record, key = key_rows.create_key(conn, org_id, "first")
            # the first key in the database closes the server, and revoking it does not reopen it
            assert_error(await c.get("/v1/agents/"), 401)
            assert (await c.get("/v1/agents/", headers={"Authorization": f"Bearer {key}"})).json() == []
            with db.write() as conn:
                key_rows.revoke_key(conn, record.id)
            assert_error(await c.get("/v1/agents/"), 401)
    finally:
        application.state.memfold.db.dispose()


async def test_names_are_per_organization(client: httpx.AsyncClient, objects: Objects) -> None:
    """Beta upserting a tool, or naming a server or folder, like alpha's touches nothing of alpha's."""
    mine = await ok(await client.put("/v1/tools/", json={"source_code": TOOL_SOURCE}, headers=BETA))
    assert mine["id"] != objects.ids["tool_id"]
    theirs = await ok(await client.get(f"/v1/tools/{objects.ids['tool_id']}", headers=ALPHA))
    assert theirs["id"] == objects.ids["tool_id"]
    server = {"server_name": f"{SECRET}-mcp", "config": stdio_config()}
    assert (await ok(await client.post("/v1/mcp-servers/", json=server, headers=BETA)))["id"] != (
        objects.ids["mcp_server_id"]
    )
    folder = await ok(await client.post("/v1/folders/", json={"name": f"{SECRET}-folder"}, headers=BETA))
    assert folder["id"] != objects.ids["folder_id"]
    named = await ok(await client.get("/v1/agents/", params={"name": f"{SECRET}-agent"}, headers=BETA))
    assert named == []


async def test_a_forged_mcp_tool_cannot_run_another_organizations_server(
    client: httpx.AsyncClient, objects: Objects, app: FastAPI
) -> None:
    """Defence in depth: an MCP tool row of beta that names alpha's server (the API never makes one)
    does not reach alpha's server, whose settings may carry alpha's secrets."""
    db = app.state.memfold.db
    with db.write() as conn:
        beta_org = find_org(conn, "beta")
        assert beta_org is not None
        row = dict(
            conn.execute(select(t.tools).where(t.tools.c.id == objects.ids["mcp_tool_id"])).mappings().one()
        )
        assert row["tool_type"] == MCP_TOOL_TYPE
        assert row["metadata"][MCP_METADATA_KEY]["server_id"] == objects.ids["mcp_server_id"]
        name = "forged_" + row["name"]
        values = {
            k: v for k, v in row.items() if k not in ("id", "organization_id", "created_at", "updated_at")
        }
        forged = insert_tool(conn, beta_org, new_id("tool"), {**values, "name": name})
    b_agent = objects.ids["b_agent_id"]
    await ok(await client.patch(f"/v1/agents/{b_agent}/tools/attach/{forged.id}", headers=BETA))
    result = await ok(
        await client.post(
            f"/v1/agents/{b_agent}/tools/{forged.name}/run", json={"args": {"a": 1, "b": 2}}, headers=BETA
        )
    )
    assert result["status"] == "error"
    assert "no longer registered" in result["func_return"]
