"""Archival memory and archives over the API: shapes as letta-client 1.12.1 sends and parses them."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from letta_client import AsyncLetta

from tests.helpers import assert_error, create_agent

MISSING_AGENT = "agent-00000000-0000-4000-8000-000000000999"
MISSING_ARCHIVE = "archive-00000000-0000-4000-8000-000000000999"
MISSING_PASSAGE = "passage-00000000-0000-4000-8000-000000000999"


async def test_agent_archival_memory_insert_list_delete(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, name="keeper")
    url = f"/v1/agents/{agent['id']}/archival-memory"
    assert (await client.get(url)).json() == []

    inserted = (await client.post(url, json={"text": "First fact.", "tags": ["a", "a", " b "]})).json()
    assert len(inserted) == 1
    first = inserted[0]
    assert first["id"].startswith("passage-") and first["archive_id"].startswith("archive-")
    assert first["tags"] == ["a", "b"]
    assert first["embedding"] is None and first["embedding_config"]["embedding_dim"] == 384
    second = (await client.post(url, json={"text": "Second fact."})).json()[0]
    third = (await client.post(url, json={"text": "Third, about cats."})).json()[0]

    listed = (await client.get(url)).json()
    assert [p["id"] for p in listed] == [first["id"], second["id"], third["id"]]
    newest = (await client.get(url, params={"ascending": False, "limit": 1})).json()
    assert [p["id"] for p in newest] == [third["id"]]
    after = (await client.get(url, params={"after": first["id"]})).json()
    assert [p["id"] for p in after] == [second["id"], third["id"]]
    cats = (await client.get(url, params={"search": "CATS"})).json()
    assert [p["id"] for p in cats] == [third["id"]]

    archives = (await client.get("/v1/archives/", params={"agent_id": agent["id"]})).json()
    assert [a["id"] for a in archives] == [first["archive_id"]]
    assert archives[0]["name"] == "keeper's archive"

    assert (await client.delete(f"{url}/{second['id']}")).status_code == 200
    assert [p["id"] for p in (await client.get(url)).json()] == [first["id"], third["id"]]
    assert_error(await client.delete(f"{url}/{second['id']}"), 404)
    results = (await client.get(f"{url}/search", params={"query": "second fact"})).json()["results"]
    assert second["id"] not in [r["id"] for r in results]


async def test_long_text_is_split_into_passages(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    paragraphs = [f"Paragraph {i}. " + "word " * 800 for i in range(3)]
    response = await client.post(
        f"/v1/agents/{agent['id']}/archival-memory", json={"text": "\n\n".join(paragraphs)}
    )
    passages = response.json()
    assert len(passages) == 3
    assert all(len(p["text"]) <= 6000 for p in passages)


async def test_archives_crud_passages_and_attach(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/archives/", json={"name": "handbook", "description": "team docs", "embedding": "local/hash-256"}
    )
    assert created.status_code == 200, created.text
    archive = created.json()
    assert archive["id"].startswith("archive-") and archive["vector_db_provider"] == "native"
    assert archive["embedding_config"]["handle"] == "local/hash-256"
    archive_id = archive["id"]

    assert (await client.get(f"/v1/archives/{archive_id}")).json()["name"] == "handbook"
    renamed = (await client.patch(f"/v1/archives/{archive_id}", json={"name": "guide"})).json()
    assert renamed["name"] == "guide" and renamed["description"] == "team docs"
    assert [a["id"] for a in (await client.get("/v1/archives/", params={"name": "guide"})).json()] == [
        archive_id
    ]

    one = (
        await client.post(f"/v1/archives/{archive_id}/passages", json={"text": "Deploys happen on Tuesdays."})
    ).json()
    assert one["archive_id"] == archive_id and one["embedding_config"]["embedding_dim"] == 256
    many = await client.post(
        f"/v1/archives/{archive_id}/passages/batch",
        json={
            "passages": [{"text": "On-call rotates weekly.", "metadata": {"source": "wiki"}, "tags": ["ops"]}]
        },
    )
    assert many.json()[0]["metadata"] == {"source": "wiki"}
    assert len((await client.get(f"/v1/archives/{archive_id}/passages")).json()) == 2

    agent = await create_agent(client)
    attached = await client.patch(f"/v1/agents/{agent['id']}/archives/attach/{archive_id}")
    assert attached.status_code == 200, attached.text
    hits = (
        await client.get(
            f"/v1/agents/{agent['id']}/archival-memory/search", params={"query": "when do deploys happen"}
        )
    ).json()
    assert hits["results"][0]["id"] == one["id"]
    # The agent now writes into the attached archive (its first): no archive of its own is made.
    await client.post(f"/v1/agents/{agent['id']}/archival-memory", json={"text": "Mine."})
    assert [
        a["id"] for a in (await client.get("/v1/archives/", params={"agent_id": agent["id"]})).json()
    ] == [archive_id]

    searched = await client.post(
        "/v1/passages/search", json={"archive_id": archive_id, "query": "rotation on-call", "tags": ["ops"]}
    )
    items = searched.json()
    assert (
        len(items) == 1 and items[0]["passage"]["text"] == "On-call rotates weekly." and items[0]["score"] > 0
    )

    assert (await client.delete(f"/v1/archives/{archive_id}/passages/{one['id']}")).status_code == 200
    detached = await client.patch(f"/v1/agents/{agent['id']}/archives/detach/{archive_id}")
    assert detached.status_code == 200
    assert (await client.get(f"/v1/agents/{agent['id']}/archival-memory")).json() == []
    assert (await client.delete(f"/v1/archives/{archive_id}")).status_code == 200
    assert_error(await client.get(f"/v1/archives/{archive_id}"), 404)


async def test_bad_input_gets_4xx_in_the_one_shape(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    url = f"/v1/agents/{agent['id']}/archival-memory"
    assert_error(await client.post(url, json={}), 422)
    assert_error(await client.post(url, json={"text": ""}), 422)
    assert_error(await client.post(url, json={"text": "x", "tags": "not-a-list"}), 422)
    assert_error(await client.get(f"{url}/search"), 422)  # query is required
    assert_error(await client.get(f"{url}/search", params={"query": "x", "top_k": 0}), 422)
    assert_error(await client.get(f"{url}/search", params={"query": "x", "tag_match_mode": "some"}), 422)
    bad_date = await client.get(f"{url}/search", params={"query": "x", "start_datetime": "yesterday"})
    assert "ISO 8601" in assert_error(bad_date, 422)["detail"]
    assert_error(await client.get(url, params={"after": MISSING_PASSAGE}), 404)
    assert_error(await client.delete(f"{url}/{MISSING_PASSAGE}"), 404)
    assert_error(await client.post(f"/v1/agents/{MISSING_AGENT}/archival-memory", json={"text": "x"}), 404)
    assert_error(await client.post("/v1/archives/", json={"name": "x", "embedding": "no-slash"}), 422)
    assert_error(await client.post("/v1/archives/", json={"name": "x", "embedding": "local/hash-1"}), 422)
    assert_error(await client.post("/v1/archives/", json={"description": "no name"}), 422)
    assert_error(await client.post(f"/v1/archives/{MISSING_ARCHIVE}/passages", json={"text": "x"}), 404)
    assert_error(await client.patch(f"/v1/agents/{agent['id']}/archives/attach/{MISSING_ARCHIVE}"), 404)
    archive = (await client.post("/v1/archives/", json={"name": "loose"})).json()
    assert_error(await client.patch(f"/v1/agents/{agent['id']}/archives/detach/{archive['id']}"), 400)
    assert_error(await client.post("/v1/passages/search", json={"agent_id": MISSING_AGENT}), 404)
    assert_error(
        await client.post(f"/v1/archives/{archive['id']}/passages/batch", json={"passages": []}), 422
    )


async def test_an_agent_embedding_that_needs_a_missing_provider_is_a_clear_error(
    client: httpx.AsyncClient,
) -> None:
    agent = await create_agent(client, embedding="openai/text-embedding-3-small")
    assert agent["embedding_config"]["embedding_dim"] == 1536
    response = await client.post(f"/v1/agents/{agent['id']}/archival-memory", json={"text": "x"})
    assert "OPENAI_API_KEY" in assert_error(response, 400)["detail"]


async def test_letta_client_round_trip(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as http:
        letta = AsyncLetta(base_url="http://memfold.test", http_client=http, max_retries=0)
        agent = await letta.agents.create(
            memory_blocks=[{"label": "human", "value": "Name: Ada"}], embedding="local/hash-384"
        )
        assert agent.embedding_config is not None and agent.embedding_config.embedding_dim == 384
        created = await letta.agents.passages.create(
            agent.id, text="Ada's cat is called Pixel.", tags=["pets"]
        )
        assert created[0].text == "Ada's cat is called Pixel." and created[0].tags == ["pets"]
        await letta.agents.passages.create(agent.id, text="Ada works on compilers.")
        listed = await letta.agents.passages.list(agent.id, ascending=False)
        assert [p.text for p in listed] == ["Ada works on compilers.", "Ada's cat is called Pixel."]
        found = await letta.agents.passages.search(agent.id, query="name of the cat", tags=["pets"], top_k=5)
        assert found.count == 1 and found.results[0].content == "Ada's cat is called Pixel."
        await letta.agents.passages.delete(created[0].id, agent_id=agent.id)
        assert len(await letta.agents.passages.list(agent.id)) == 1

        archive = await letta.archives.create(name="shared notes")
        passage = await letta.archives.passages.create(
            archive.id, text="Standup is at 9:30.", metadata={"k": 1}
        )
        assert passage.archive_id == archive.id
        batch = await letta.archives.passages.create_many(
            archive.id, passages=[{"text": "Retro on Fridays."}]
        )
        assert batch[0].text == "Retro on Fridays."
        await letta.agents.archives.attach(archive.id, agent_id=agent.id)
        names = [a.name async for a in letta.archives.list(agent_id=agent.id)]
        assert sorted(names) == sorted([f"{agent.name}'s archive", "shared notes"])
        updated = await letta.archives.update(archive.id, description="team rituals")
        assert updated.description == "team rituals"
        results = await letta.passages.search(agent_id=agent.id, query="when is standup")
        assert results[0].passage.text == "Standup is at 9:30."
        await letta.archives.passages.delete(passage.id, archive_id=archive.id)
        await letta.agents.archives.detach(archive.id, agent_id=agent.id)
        await letta.archives.delete(archive.id)
        retrieved: Any = await letta.archives.list(name="shared notes")
        assert [a async for a in retrieved] == []
