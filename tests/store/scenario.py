"""A memfold server populated through its API, and what its agents do afterwards.

`populate` makes agents with blocks (one shared), tags, a user tool, conversations with tool
calls (archival inserts, a recall search), an archive with tagged passages, a folder with a
file, block history and an API key. `observe` asks the same questions of a server: archival
and passage searches, and one agent turn whose tools search archival and recall memory. Two
servers holding the same data observe the same things.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.server.app import create_app
from memfold.store import api_keys as key_rows
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.folders.helpers import make_folder, processed, upload
from tests.helpers import create_agent

TOOL_SOURCE = '''
def roll_dice(sides: int) -> str:
    """Roll a die.

    Args:
        sides: How many sides the die has.
    """
    return str(sides)
'''

QUESTION = "Look it up, please."


@asynccontextmanager
async def serving(home: Path, url: str, registry: ModelRegistry) -> AsyncIterator[httpx.AsyncClient]:
    """Another server (its own data directory) on the database at `url`, lifespan running."""
    app = create_app(Settings(home=home, database_url=url, default_model="scripted/test"), registry)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as client,
        ):
            yield client
    finally:
        app.state.memfold.loop.runtime.sandbox.close()
        app.state.memfold.db.dispose()


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def populate(client: httpx.AsyncClient, app: FastAPI, scripted: ScriptedModel) -> dict[str, str]:
    """Fill the server; returns the ids `observe` needs."""
    ada = await create_agent(client, name="ada", tags=["family", "tea"])
    bob = await create_agent(client, name="bob", tags=["chess"])
    shared = (await client.post("/v1/blocks/", json={"label": "team", "value": "We meet on Mondays."})).json()
    for agent in (ada, bob):
        url = f"/v1/agents/{agent['id']}/core-memory/blocks/attach/{shared['id']}"
        assert (await client.patch(url)).status_code == 200
    edited = await client.patch(f"/v1/blocks/{shared['id']}", json={"value": "We meet on Tuesdays."})
    assert edited.status_code == 200, edited.text

    tool = (await client.post("/v1/tools/", json={"source_code": TOOL_SOURCE, "tags": ["games"]})).json()
    assert (await client.patch(f"/v1/agents/{bob['id']}/tools/attach/{tool['id']}")).status_code == 200

    scripted.enqueue(
        tool_call_response(
            "archival_memory_insert",
            content="Ada loves green tea from Darjeeling.",
            tags=["tea"],
            request_heartbeat=True,
        ),
        tool_call_response("send_message", message="Noted: green tea."),
        tool_call_response(
            "archival_memory_insert",
            content="Ada's cat is called Miso.",
            tags=["pets"],
            request_heartbeat=True,
        ),
        tool_call_response(
            "memory_insert", label="human", new_str="Has a cat, Miso.", request_heartbeat=True
        ),
        tool_call_response("send_message", message="What a lovely name."),
        tool_call_response("conversation_search", query="tea", request_heartbeat=True),
        tool_call_response("send_message", message="You told me about green tea."),
    )
    await send(client, ada["id"], "I love green tea from Darjeeling.")
    await send(client, ada["id"], "My cat is called Miso.")
    await send(client, ada["id"], "What did I say about tea?")
    scripted.enqueue(tool_call_response("send_message", message="Pawn to e4."))
    await send(client, bob["id"], "Let's play chess.")

    archive = (
        await client.post("/v1/archives/", json={"name": "handbook", "embedding": "local/hash-256"})
    ).json()
    batch = await client.post(
        f"/v1/archives/{archive['id']}/passages/batch",
        json={
            "passages": [
                {"text": "Deploys happen on Tuesdays.", "tags": ["ops"]},
                {
                    "text": "On-call rotates weekly.",
                    "metadata": {"source": "wiki"},
                    "tags": ["ops", "people"],
                },
                {"text": "The tea kitchen is on the second floor.", "tags": ["office"]},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert (await client.patch(f"/v1/agents/{bob['id']}/archives/attach/{archive['id']}")).status_code == 200

    folder = await make_folder(client, "notes")
    uploaded = await upload(
        client, folder["id"], "tea.md", b"# Tea\n\nOolong is partly oxidised.\n", "text/markdown"
    )
    assert uploaded.status_code == 200, uploaded.text
    assert (await processed(client, folder["id"], uploaded.json()["id"]))["processing_status"] == "completed"

    with app.state.memfold.db.write() as conn:
        _, key = key_rows.create_key(conn, DEFAULT_ORG_ID, "backup test")
    # With a key in the database the server requires one: the copy must carry it for `observe`.
    return {"ada": ada["id"], "bob": bob["id"], "archive": archive["id"], "folder": folder["id"], "key": key}


async def observe(client: httpx.AsyncClient, scripted: ScriptedModel, ids: dict[str, str]) -> dict[str, Any]:
    """What the server answers; comparable between two servers with the same data."""
    client.headers["Authorization"] = f"Bearer {ids['key']}"
    seen: dict[str, Any] = {}
    for agent in ("ada", "bob"):
        for query in ("green tea", "Miso the cat", "deploys on tuesday"):
            url = f"/v1/agents/{ids[agent]}/archival-memory/search"
            response = await client.get(url, params={"query": query})
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            seen[f"archival {agent} {query}"] = [(r["id"], r["content"]) for r in results]
    searched = await client.post(
        "/v1/passages/search",
        json={"archive_id": ids["archive"], "query": "tea on tuesdays", "tags": ["ops"]},
    )
    seen["passages"] = [(item["passage"]["id"], item["passage"]["text"]) for item in searched.json()]
    agent = (await client.get(f"/v1/agents/{ids['ada']}")).json()
    seen["blocks"] = sorted((b["label"], b["value"]) for b in agent["memory"]["blocks"])
    seen["tools"] = sorted(t["name"] for t in (await client.get(f"/v1/agents/{ids['bob']}")).json()["tools"])
    files = (await client.get(f"/v1/folders/{ids['folder']}/files")).json()
    seen["files"] = [(f["file_name"], f["processing_status"]) for f in files]

    # One turn: the model searches recall and archival memory, then answers.
    before = len(scripted.requests)
    scripted.enqueue(
        tool_call_response("conversation_search", query="tea", request_heartbeat=True),
        tool_call_response("archival_memory_search", query="cat name", request_heartbeat=True),
        tool_call_response("send_message", message="Found it."),
    )
    body = await send(client, ids["ada"], QUESTION)
    returns = [m for m in body["messages"] if m["message_type"] == "tool_return_message"]
    seen["tool status"] = [m["status"] for m in returns]
    seen["conversation_search"] = _without_this_turn(json.loads(returns[0]["tool_return"]))
    seen["archival_memory_search"] = json.loads(returns[1]["tool_return"])
    first = scripted.requests[before]
    seen["context"] = [
        (
            m.role,
            _mask_times(str(m.content)),
            [(c.id, c.name, c.arguments) for c in m.tool_calls],
            m.tool_call_id,
        )
        for m in first.messages
    ]
    assert "Has a cat, Miso." in str(first.messages[0].content)
    return seen


def _without_this_turn(found: Any) -> Any:
    """Recall results minus the question just asked (its id and time differ between servers)."""
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        return {**found, "results": [r for r in found["results"] if QUESTION not in json.dumps(r)]}
    if isinstance(found, list):
        return [r for r in found if QUESTION not in json.dumps(r)]
    return found


_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?[^\s\"',)]*|\d{1,2}:\d\d(:\d\d)? ?[AP]M[^\n\"]*")


def _mask_times(text: str) -> str:
    return _TIME.sub("<time>", text)
