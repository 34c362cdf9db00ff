"""Hybrid archival search (BM25 + vectors, fused by RRF) through the API, with filters applied first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel
from memfold.memory.search import query_terms
from memfold.server.app import create_app
from memfold.store import passages as passage_rows
from memfold.store.passages import PassageFilter
from tests.fakes.openai_server import FakeOpenAIServer, hash_embedding
from tests.helpers import create_agent

FILLER = [
    "Bought groceries: milk, eggs and bread for the week.",
    "The quarterly report is due to finance on Friday.",
    "Went running along the river in the morning fog.",
    "Fixed the leaking kitchen tap with a new washer.",
    "Watched a documentary about deep sea creatures.",
]


async def insert(client: httpx.AsyncClient, agent_id: str, text: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/agents/{agent_id}/archival-memory", json={"text": text, **extra})
    assert response.status_code == 200, response.text
    passages: list[dict[str, Any]] = response.json()
    return passages[0]


async def batch(client: httpx.AsyncClient, archive_id: str, passages: list[dict[str, Any]]) -> None:
    response = await client.post(f"/v1/archives/{archive_id}/passages/batch", json={"passages": passages})
    assert response.status_code == 200, response.text


async def search(client: httpx.AsyncClient, agent_id: str, query: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/agents/{agent_id}/archival-memory/search", params={"query": query, **params}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    results: list[dict[str, Any]] = body["results"]
    return results


async def test_a_keyword_only_query_finds_the_passage_with_the_identifier(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    first = await insert(client, agent["id"], FILLER[0])
    await batch(
        client, first["archive_id"], [{"text": f"{text} ({i})"} for i in range(20) for text in FILLER]
    )
    target = await insert(client, agent["id"], "The storage unit code is ZX4471, bay 12.")
    results = await search(client, agent["id"], "ZX4471", top_k=3)
    assert results[0]["id"] == target["id"]
    assert results[0]["content"] == "The storage unit code is ZX4471, bay 12."


async def test_tag_filters_any_and_all(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    a = await insert(client, agent["id"], "Prefers window seats on flights.", tags=["travel", "preferences"])
    b = await insert(client, agent["id"], "Allergic to peanuts.", tags=["health", "preferences"])
    c = await insert(client, agent["id"], "Flight to Lisbon on May 3.", tags=["travel"])
    await insert(client, agent["id"], "Likes jazz.")

    any_travel_health = await search(client, agent["id"], "seats peanuts flight", tags=["travel", "health"])
    assert {r["id"] for r in any_travel_health} == {a["id"], b["id"], c["id"]}
    both = await search(
        client, agent["id"], "flights", tags=["travel", "preferences"], tag_match_mode="all", top_k=10
    )
    assert [r["id"] for r in both] == [a["id"]]
    assert sorted(both[0]["tags"]) == ["preferences", "travel"]
    assert await search(client, agent["id"], "flights", tags=["nothing-has-this"]) == []


async def test_date_ranges_bound_the_results(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    march = await insert(
        client, agent["id"], "Meeting notes about the garden", created_at="2024-03-10T09:00:00Z"
    )
    april = await insert(
        client, agent["id"], "Meeting notes about the budget", created_at="2024-04-30T22:00:00Z"
    )
    may = await insert(client, agent["id"], "Meeting notes about the roof", created_at="2024-05-02T08:00:00Z")

    april_only = await search(
        client, agent["id"], "meeting notes", start_datetime="2024-04-01", end_datetime="2024-04-30"
    )
    assert [r["id"] for r in april_only] == [april["id"]]  # a bare end date includes that whole day
    since_april = await search(
        client, agent["id"], "meeting notes", start_datetime="2024-04-01T00:00:00+00:00"
    )
    assert {r["id"] for r in since_april} == {april["id"], may["id"]}
    until_march = await search(client, agent["id"], "meeting notes", end_datetime="2024-03-31")
    assert [r["id"] for r in until_march] == [march["id"]]
    assert until_march[0]["timestamp"].startswith("2024-03-10T09:00:00")


async def test_filters_apply_before_the_limit(client: httpx.AsyncClient) -> None:
    """200 passages match the query well; 3 weakly-matching ones carry the tag. top_k=3 with the tag
    filter must return exactly those 3, although they rank far below the others overall."""
    agent = await create_agent(client)
    first = await insert(client, agent["id"], "Tomato seedlings need warm soil and tomato feed.")
    strong = [{"text": f"Tomato plant {i}: tomatoes ripen, tomato feed, tomato care."} for i in range(199)]
    weak = [
        {"text": f"Note {i} mentioning a tomato once among other things.", "tags": ["rare"]} for i in range(3)
    ]
    await batch(client, first["archive_id"], strong[:100] + weak[:1] + strong[100:] + weak[1:])

    unfiltered = await search(client, agent["id"], "tomato", top_k=3)
    assert all("rare" not in (r["tags"] or []) for r in unfiltered)
    filtered = await search(client, agent["id"], "tomato", top_k=3, tags=["rare"])
    assert len(filtered) == 3
    assert all(r["tags"] == ["rare"] for r in filtered)
    assert {r["content"] for r in filtered} == {w["text"] for w in weak}


async def test_empty_query_returns_the_most_recent_matches(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    await insert(client, agent["id"], "older", created_at="2024-01-01T00:00:00Z")
    newer = await insert(client, agent["id"], "newer", created_at="2024-02-01T00:00:00Z")
    response = await client.post("/v1/passages/search", json={"agent_id": agent["id"], "limit": 1})
    assert [item["passage"]["id"] for item in response.json()] == [newer["id"]]


# --- the vector side, with a real embedding model behind the OpenAI SDK ---------------------

CONCEPTS = {
    "vehicle": {"car", "automobile", "sedan", "vehicle", "hatchback"},
    "pet": {"cat", "kitten", "feline", "dog", "puppy"},
    "money": {"salary", "pay", "raise", "wage", "income"},
}


def concept_embedding(text: str) -> list[float]:
    """A test model that maps paraphrases to near vectors: one dimension per concept, plus noise."""
    words = {w.strip(".,?!'").lower() for w in text.split()}
    concept = [3.0 if words & vocabulary else 0.0 for vocabulary in CONCEPTS.values()]
    return concept + [0.2 * x for x in hash_embedding(text)]


@pytest.fixture
def embedding_app(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[FastAPI]:
    fake_openai.embed = concept_embedding
    registry = ModelRegistry(environ=fake_openai.env())
    registry.register_model(ScriptedModel(name="test"))
    app = create_app(Settings(home=tmp_path / "home", default_model="scripted/test"), registry)
    yield app
    app.state.memfold.db.dispose()


@pytest.fixture
async def embedding_client(embedding_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=embedding_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as c:
        yield c


async def test_a_paraphrase_is_found_by_the_vector_side(
    embedding_client: httpx.AsyncClient, embedding_app: FastAPI, fake_openai: FakeOpenAIServer
) -> None:
    agent = await create_agent(embedding_client, embedding="openai/text-embedding-3-small")
    assert agent["embedding_config"]["handle"] == "openai/text-embedding-3-small"
    for text in FILLER:
        await insert(embedding_client, agent["id"], text)
    target = await insert(embedding_client, agent["id"], "I bought a red sedan last week.")
    await insert(embedding_client, agent["id"], "Adopted a kitten from the shelter.")
    assert fake_openai.embedding_requests[-1]["model"] == "text-embedding-3-small"

    query = "automobile purchase"
    results = await search(embedding_client, agent["id"], query, top_k=3)
    assert results[0]["id"] == target["id"]
    # Honest check: no word of the query is in the passage, so full text alone finds nothing.
    db = embedding_app.state.memfold.db
    with db.read() as conn:
        full_text = embedding_app.state.memfold.loop.external.archival.full_text
        where = PassageFilter([target["archive_id"]])
        assert passage_rows.text_ranked(conn, full_text, query_terms(query), where, 10) == []
