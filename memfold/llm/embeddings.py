"""Embeddings: text in, unit vectors out, behind one interface.

    embedder = get_registry().embedder("openai/text-embedding-3-small")
    vectors = await embedder.embed(["first passage", "second passage"])

Two kinds:

- `OpenAIEmbedder`: any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM,
  llama.cpp, LM Studio, ...) through the official SDK, with the provider configuration of
  `memfold.llm.providers`; SDK errors become `ProviderError`.
- `LocalHashEmbedder` (`local/hash-<dim>`, default `local/hash-384`): deterministic feature
  hashing of normalised word unigrams and bigrams plus character trigrams into `dim` signed
  buckets. It needs no network and no model download, so search works on a bare install;
  it captures word overlap and spelling variants (plural, typo), not meaning.

Every embedder L2-normalises its output, so cosine similarity is a dot product. Inputs are
sent in batches of `batch_size`.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import math
import re
import unicodedata
import zlib
from collections.abc import Sequence

import openai
from openai import AsyncOpenAI

from memfold.errors import InvalidValueError, ProviderError
from memfold.llm.base import ModelHandle
from memfold.llm.openai import translate_error

__all__ = [
    "DEFAULT_EMBEDDING",
    "Embedder",
    "LocalHashEmbedder",
    "OpenAIEmbedder",
    "known_dimension",
    "local_embedder",
    "normalize",
]

DEFAULT_EMBEDDING = "local/hash-384"
"""The embedding of agents and archives created without one."""
LOCAL_PROVIDER = "local"

_LOCAL_MODEL = re.compile(r"hash-(\d+)")
_KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "bge-m3": 1024,
    "snowflake-arctic-embed": 1024,
}


def known_dimension(handle: str | ModelHandle) -> int | None:
    """The vector size of a well-known embedding model (or of a local one), else None."""
    parsed = handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)
    if parsed.provider == LOCAL_PROVIDER:
        return _local_dimension(parsed.model)
    name = parsed.model.lower().split(":", 1)[0]
    return _KNOWN_DIMENSIONS.get(name)


def normalize(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [x / norm for x in vector]


class Embedder(abc.ABC):
    """Turns texts into unit vectors. Subclasses embed one batch; `embed` does the batching."""

    handle: ModelHandle
    batch_size: int = 64
    max_concurrency: int = 4

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The vector size; 0 while unknown (a remote model not called yet)."""

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        if not texts:
            return []
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            return await self._embed_batch(batches[0])
        limit = asyncio.Semaphore(self.max_concurrency)

        async def one(batch: list[str]) -> list[list[float]]:
            async with limit:
                return await self._embed_batch(batch)

        results = await asyncio.gather(*(one(batch) for batch in batches))
        return [vector for batch in results for vector in batch]

    @abc.abstractmethod
    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        """Unit vectors for one batch."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network resources, if any."""


# --- local -----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a list of 150 quoted words reads worse
        "a about above after again against all am an and any are as at be because been before being below "
        "between both but by can could did do does doing down during each few for from further had has "
        "have having he her here hers herself him himself his how i if in into is it its itself just me "
        "more most my myself no nor not now of off on once only or other our ours ourselves out over own "
        "same she should so some such than that the their theirs them themselves then there these they "
        "this those through to too under until up very was we were what when where which while who whom "
        "why will with would you your yours yourself yourselves"
    ).split()
)
_UNIGRAM, _BIGRAM, _TRIGRAM = 1.0, 0.7, 0.3


def _local_dimension(model: str) -> int:
    match = _LOCAL_MODEL.fullmatch(model)
    if match is None or not 16 <= int(match.group(1)) <= 4096:
        raise InvalidValueError(
            f"local embedding {model!r} is unknown: use 'local/hash-<dim>' with 16 <= dim <= 4096, "
            f"e.g. {DEFAULT_EMBEDDING!r}"
        )
    return int(match.group(1))


def words(text: str) -> list[str]:
    """Lower-cased words of `text` with accents removed (`Café` -> `cafe`)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain.casefold())


def content_words(text: str) -> list[str]:
    """`words(text)` without stopwords and single letters (all of them if nothing else is left)."""
    tokens = words(text)
    return [w for w in tokens if w not in _STOPWORDS and not (len(w) == 1 and w.isalpha())] or tokens


class LocalHashEmbedder(Embedder):
    """Deterministic, dependency-free embedding by signed feature hashing (see the module docstring)."""

    batch_size = 256

    def __init__(self, dim: int = 384) -> None:
        self._dim = _local_dimension(f"hash-{dim}")
        self.handle = ModelHandle(LOCAL_PROVIDER, f"hash-{dim}")

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if len(texts) <= 32:  # microseconds each: not worth a thread hop
            return self.embed_sync(texts)
        return await asyncio.to_thread(self.embed_sync, texts)

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        return self.embed_sync(texts)

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def _vector(self, text: str) -> list[float]:
        dim = self._dim
        vector = [0.0] * dim
        tokens = content_words(text)

        def add(feature: str, weight: float) -> None:
            h = zlib.crc32(feature.encode())
            vector[h % dim] += weight if h & 0x80000000 else -weight

        for token in tokens:
            add("w:" + token, _UNIGRAM)
            padded = f"<{token}>"
            for i in range(len(padded) - 2):
                add("c:" + padded[i : i + 3], _TRIGRAM)
        for first, second in itertools.pairwise(tokens):
            add(f"b:{first} {second}", _BIGRAM)
        return normalize(vector)


def local_embedder(handle: str | ModelHandle) -> LocalHashEmbedder:
    parsed = handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)
    return LocalHashEmbedder(_local_dimension(parsed.model))


# --- OpenAI-compatible -----------------------------------------------------------------


class OpenAIEmbedder(Embedder):
    """`POST /embeddings` of an OpenAI-compatible server, through a (shared) `AsyncOpenAI` client."""

    def __init__(self, handle: ModelHandle | str, *, client: AsyncOpenAI, batch_size: int = 64) -> None:
        self.handle = handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)
        self.client = client
        self.batch_size = max(1, batch_size)
        self._dim = known_dimension(self.handle) or 0

    @property
    def dim(self) -> int:
        return self._dim

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        provider = self.handle.provider
        try:
            response = await self.client.embeddings.create(
                model=self.handle.model,
                input=[text if text.strip() else " " for text in texts],  # servers reject ""
                encoding_format="float",
            )
        except openai.OpenAIError as e:
            raise translate_error(e, provider=provider) from e
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise ProviderError(
                f"{provider} returned {len(data)} embeddings for {len(texts)} inputs",
                provider=provider,
                body=response.model_dump(mode="json"),
            )
        vectors = [normalize(item.embedding) for item in data]
        sizes = {len(v) for v in vectors}
        if len(sizes) != 1 or 0 in sizes:
            raise ProviderError(f"{provider} returned embeddings of sizes {sorted(sizes)}", provider=provider)
        self._dim = sizes.pop()
        return vectors
