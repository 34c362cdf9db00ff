"""Folders attached to agents and the agent's files over the API, as letta-client 1.12.1 calls them."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from letta_client import AsyncLetta

from tests.folders.helpers import make_folder, processed, upload
from tests.helpers import assert_error, create_agent

FILE_TOOLS = {"open_files", "grep_files", "semantic_search_files"}
MISSING_FOLDER = "source-00000000-0000-4000-8000-000000000999"


async def _folder_with_files(client: httpx.AsyncClient, name: str, files: dict[str, bytes]) -> dict[str, Any]:
    folder = await make_folder(client, name)
    ids = {}
    for file_name, data in files.items():
        created = (await upload(client, folder["id"], file_name, data)).json()
        assert (await processed(client, folder["id"], created["id"]))["processing_status"] == "completed"
        ids[file_name] = created["id"]
    return {**folder, "file_ids": ids}


def _tool_names(agent: dict[str, Any]) -> set[str]:
    return {t["name"] for t in agent["tools"]}


async def test_attach_list_and_detach_folders(client: httpx.AsyncClient) -> None:
    docs = await _folder_with_files(client, "docs", {"a.txt": b"alpha\nbeta\n"})
    more = await _folder_with_files(client, "more", {"b.txt": b"gamma\n"})
    agent = await create_agent(client, name="reader")
    assert not FILE_TOOLS & _tool_names(agent) and agent["sources"] == []
    url = f"/v1/agents/{agent['id']}/folders"

    attached = (await client.patch(f"{url}/attach/{docs['id']}")).json()
    assert _tool_names(attached) >= FILE_TOOLS
    assert [s["id"] for s in attached["sources"]] == [docs["id"]]
    assert attached["sources"][0]["embedding_config"]["embedding_dim"] == 384
    assert [b["label"] for b in attached["memory"]["file_blocks"]] == ["docs/a.txt"]
    again = (await client.patch(f"{url}/attach/{docs['id']}")).json()  # idempotent
    assert [s["id"] for s in again["sources"]] == [docs["id"]]
    await client.patch(f"{url}/attach/{more['id']}")
    listed = (await client.get(url)).json()
    assert [f["id"] for f in listed] == [more["id"], docs["id"]]  # newest first
    assert [f["id"] for f in (await client.get(url, params={"order": "asc", "limit": 1})).json()] == [
        docs["id"]
    ]
    assert (await client.get(f"/v1/folders/{docs['id']}/agents")).json() == [agent["id"]]

    # Detaching one folder keeps the tools (another is attached) and closes its files.
    await client.patch(f"/v1/agents/{agent['id']}/files/{docs['file_ids']['a.txt']}/open")
    detached = (await client.patch(f"{url}/detach/{docs['id']}")).json()
    assert _tool_names(detached) >= FILE_TOOLS
    files = (await client.get(f"/v1/agents/{agent['id']}/files")).json()["files"]
    assert [f["file_name"] for f in files] == ["more/b.txt"]
    await client.patch(f"{url}/attach/{docs['id']}")
    reopened = (await client.get(f"/v1/agents/{agent['id']}/files", params={"is_open": True})).json()
    assert reopened["files"] == []  # detaching forgot that a.txt was open

    for folder in (docs, more):
        last = (await client.patch(f"{url}/detach/{folder['id']}")).json()
    assert not FILE_TOOLS & _tool_names(last) and last["sources"] == []
    assert_error(await client.patch(f"{url}/detach/{docs['id']}"), 404)
    assert_error(await client.patch(f"{url}/attach/{MISSING_FOLDER}"), 404)
    assert_error(await client.get("/v1/agents/agent-00000000-0000-4000-8000-000000000999/folders"), 404)


async def test_create_and_update_with_folder_ids_and_limits(client: httpx.AsyncClient) -> None:
    docs = await _folder_with_files(client, "docs", {"a.txt": b"alpha\n"})
    more = await _folder_with_files(client, "more", {"b.txt": b"beta\n"})
    agent = await create_agent(client, folder_ids=[docs["id"]], max_files_open=3)
    assert [s["id"] for s in agent["sources"]] == [docs["id"]] and _tool_names(agent) >= FILE_TOOLS
    assert agent["max_files_open"] == 3 and agent["per_file_view_window_char_limit"] > 0
    changed = await client.patch(
        f"/v1/agents/{agent['id']}",
        json={"folder_ids": [more["id"]], "per_file_view_window_char_limit": 500},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert [s["id"] for s in body["sources"]] == [more["id"]]
    assert body["per_file_view_window_char_limit"] == 500 and body["max_files_open"] == 3
    assert_error(await client.patch(f"/v1/agents/{agent['id']}", json={"max_files_open": 0}), 422)
    assert_error(await client.post("/v1/agents/", json={"folder_ids": [MISSING_FOLDER]}), 404)


async def test_agent_files_open_close_and_lru(client: httpx.AsyncClient) -> None:
    files = {"one.txt": b"1a\n1b\n1c\n", "two.txt": b"2a\n", "three.txt": b"3a\n"}
    docs = await _folder_with_files(client, "docs", files)
    agent = await create_agent(client, folder_ids=[docs["id"]], max_files_open=2)
    url = f"/v1/agents/{agent['id']}/files"
    ids = docs["file_ids"]

    listed = (await client.get(url, params={"order": "asc"})).json()
    assert [f["file_name"] for f in listed["files"]] == ["docs/one.txt", "docs/two.txt", "docs/three.txt"]
    assert not any(f["is_open"] for f in listed["files"]) and listed["has_more"] is False
    page = (await client.get(url, params={"order": "asc", "limit": 2})).json()
    assert page["has_more"] is True and page["next_cursor"] == ids["two.txt"]
    rest = (await client.get(url, params={"order": "asc", "after": page["next_cursor"]})).json()
    assert [f["file_id"] for f in rest["files"]] == [ids["three.txt"]]

    assert (await client.patch(f"{url}/{ids['one.txt']}/open")).json() == []
    assert (await client.patch(f"{url}/{ids['two.txt']}/open")).json() == []
    assert (await client.patch(f"{url}/{ids['three.txt']}/open")).json() == ["docs/one.txt"]  # LRU
    opened = (await client.get(url, params={"is_open": True, "order": "asc"})).json()["files"]
    assert [f["file_name"] for f in opened] == ["docs/two.txt", "docs/three.txt"]
    assert opened[0]["visible_content"] == "1: 2a" and (opened[0]["start_line"], opened[0]["end_line"]) == (
        1,
        1,
    )
    closed = (await client.get(url, params={"is_open": False})).json()["files"]
    assert [f["file_name"] for f in closed] == ["docs/one.txt"] and closed[0]["visible_content"] is None

    assert (await client.patch(f"{url}/{ids['two.txt']}/close")).status_code == 200
    assert (await client.patch(f"{url}/close-all")).json() == ["docs/three.txt"]
    assert (await client.get(url, params={"is_open": True})).json()["files"] == []
    assert_error(await client.patch(f"{url}/file-00000000-0000-4000-8000-000000000999/open"), 404)


async def test_a_file_deleted_from_its_folder_disappears_from_the_agent(client: httpx.AsyncClient) -> None:
    docs = await _folder_with_files(client, "docs", {"keep.txt": b"keep\n", "gone.txt": b"secret words\n"})
    agent = await create_agent(client, folder_ids=[docs["id"]])
    gone = docs["file_ids"]["gone.txt"]
    await client.patch(f"/v1/agents/{agent['id']}/files/{gone}/open")
    context = (await client.get(f"/v1/agents/{agent['id']}/context")).json()
    assert "secret words" in context["files_memory"]

    assert (await client.delete(f"/v1/folders/{docs['id']}/{gone}")).status_code == 204
    files = (await client.get(f"/v1/agents/{agent['id']}/files")).json()["files"]
    assert [f["file_name"] for f in files] == ["docs/keep.txt"]
    context = (await client.get(f"/v1/agents/{agent['id']}/context")).json()
    assert "secret words" not in context["files_memory"] and "gone.txt" not in context["files_memory"]

    assert (await client.delete(f"/v1/folders/{docs['id']}")).status_code == 200
    state = (await client.get(f"/v1/agents/{agent['id']}")).json()
    assert state["sources"] == [] and not FILE_TOOLS & _tool_names(state)  # the tools went with it
    assert (await client.get(f"/v1/agents/{agent['id']}/files")).json()["files"] == []


async def test_letta_client_shapes(client: httpx.AsyncClient, app: FastAPI) -> None:
    docs = await _folder_with_files(client, "docs", {"a.md": b"# A\n\nline two\n", "b.md": b"# B\n"})
    agent = await create_agent(client, name="sdk")
    letta = AsyncLetta(base_url="http://memfold.test", http_client=client, max_retries=0)

    state = await letta.agents.folders.attach(docs["id"], agent_id=agent["id"])
    assert state is not None and [s.id for s in state.sources] == [docs["id"]]
    assert state.max_files_open is not None and state.per_file_view_window_char_limit is not None
    assert [f.id async for f in letta.agents.folders.list(agent["id"])] == [docs["id"]]
    assert await letta.folders.agents.list(docs["id"]) == [agent["id"]]

    a_id = docs["file_ids"]["a.md"]
    assert await letta.agents.files.open(a_id, agent_id=agent["id"]) == []
    files = [f async for f in letta.agents.files.list(agent["id"], is_open=True)]
    assert [(f.file_name, f.folder_name, f.is_open) for f in files] == [("docs/a.md", "docs", True)]
    assert files[0].visible_content is not None and "line two" in files[0].visible_content
    assert files[0].last_accessed_at is not None
    await letta.agents.files.close(a_id, agent_id=agent["id"])
    await letta.agents.files.open(a_id, agent_id=agent["id"])
    assert await letta.agents.files.close_all(agent["id"]) == ["docs/a.md"]
    detached = await letta.agents.folders.detach(docs["id"], agent_id=agent["id"])
    assert detached is not None and detached.sources == []
