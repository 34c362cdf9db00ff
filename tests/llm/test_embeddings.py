"""Embeddings: the local hash embedding, and the OpenAI-compatible one through the real SDK."""

from __future__ import annotations

import math

import pytest

from memfold.errors import ConfigurationError, InvalidValueError, ProviderError
from memfold.llm.embeddings import (
    DEFAULT_EMBEDDING,
    LocalHashEmbedder,
    OpenAIEmbedder,
    known_dimension,
)
from memfold.llm.openai import make_openai_client
from memfold.llm.providers import ModelRegistry
from tests.fakes.openai_server import FakeOpenAIServer


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_local_embedding_is_deterministic_normalised_and_sized() -> None:
    embedder = LocalHashEmbedder(384)
    texts = ["My sister's wedding is in June.", "Café au lait", "", "the and of"]
    first = await embedder.embed(texts)
    again = await LocalHashEmbedder(384).embed(texts)
    assert first == again
    assert [len(v) for v in first] == [384] * 4
    for vector in (first[0], first[1], first[3]):
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)
    assert first[2] == [0.0] * 384  # nothing to hash: the zero vector
    assert embedder.dim == 384
    assert str(embedder.handle) == DEFAULT_EMBEDDING


async def test_local_embedding_ranks_shared_words_and_variants_above_unrelated_text() -> None:
    embedder = LocalHashEmbedder()
    query, variant, unrelated = await embedder.embed(
        ["wedding plans for my sister", "My sister's weddings were planned", "quarterly tax filing deadline"]
    )
    assert cosine(query, variant) > 0.3
    assert cosine(query, variant) > cosine(query, unrelated) + 0.2
    cafe, plain = await embedder.embed(["Café", "cafe"])
    assert math.isclose(cosine(cafe, plain), 1.0)  # accents and case are normalised away


async def test_local_embedding_batches_large_inputs_in_a_thread() -> None:
    embedder = LocalHashEmbedder(64)
    texts = [f"passage number {i}" for i in range(600)]
    vectors = await embedder.embed(texts)
    assert len(vectors) == 600
    assert vectors[123] == (await embedder.embed(["passage number 123"]))[0]


def test_handles_and_dimensions() -> None:
    assert known_dimension("local/hash-256") == 256
    assert known_dimension("openai/text-embedding-3-small") == 1536
    assert known_dimension("ollama/nomic-embed-text:latest") == 768
    assert known_dimension("openai/some-custom-model") is None
    with pytest.raises(InvalidValueError, match="hash-<dim>"):
        known_dimension("local/minilm")
    with pytest.raises(InvalidValueError):
        LocalHashEmbedder(8)


async def test_openai_embeddings_through_the_sdk(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.embed = lambda text: [float(len(text)), 0.0, 1.0]
    client = make_openai_client(base_url=fake_openai.base_url, api_key="sk-fake", max_retries=0)
    embedder = OpenAIEmbedder("openai/my-embedder", client=client, batch_size=2)
    assert embedder.dim == 0  # unknown until the first call
    vectors = await embedder.embed(["a", "bbb", "cc", ""])
    assert embedder.dim == 3
    assert [len(v) for v in vectors] == [3, 3, 3, 3]
    expected = [1.0 / math.sqrt(2), 0.0, 1.0 / math.sqrt(2)]
    assert vectors[0] == pytest.approx(expected)  # normalised
    requests = fake_openai.embedding_requests
    assert len(requests) == 2  # batches of two
    assert all(r["model"] == "my-embedder" and r["encoding_format"] == "float" for r in requests)
    # Batches go out concurrently, so they may arrive in either order.
    batches = sorted(r["input"] for r in requests)
    assert batches == [["a", "bbb"], ["cc", " "]]  # a blank input is sent as a space, never ""
    await client.close()


async def test_openai_embedding_errors_become_provider_errors(fake_openai: FakeOpenAIServer) -> None:
    def broken(text: str) -> list[float]:
        raise RuntimeError("model not loaded")

    fake_openai.embed = broken
    client = make_openai_client(base_url=fake_openai.base_url, api_key="sk-fake", max_retries=0)
    embedder = OpenAIEmbedder("openai/text-embedding-3-small", client=client)
    with pytest.raises(ProviderError) as caught:
        await embedder.embed(["hello"])
    assert caught.value.status == 500 and caught.value.provider == "openai"
    await client.close()


async def test_registry_builds_embedders_from_the_provider_configuration(
    fake_openai: FakeOpenAIServer,
) -> None:
    registry = ModelRegistry(environ={**fake_openai.env(), "ANTHROPIC_API_KEY": "sk-ant"})
    local = registry.embedder("local/hash-128")
    assert isinstance(local, LocalHashEmbedder) and local.dim == 128
    remote = registry.embedder("openai/text-embedding-3-small")
    assert registry.embedder("openai/text-embedding-3-small") is remote  # cached
    assert isinstance(remote, OpenAIEmbedder) and remote.dim == 1536
    assert len(await remote.embed(["hi"])) == 1
    with pytest.raises(ConfigurationError, match="serves no embeddings"):
        registry.embedder("anthropic/claude-sonnet-4-6")
    with pytest.raises(ConfigurationError, match="OLLAMA_BASE_URL"):
        registry.embedder("ollama/nomic-embed-text")
    await registry.aclose()
