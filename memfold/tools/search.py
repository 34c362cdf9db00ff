"""Searching the organization's tools by what they do: `POST /v1/tools/search`.

A tool's searchable text is its name (words split at `_` and `-`), its description and its
tags. The catalogue is small (dozens to hundreds of tools), so it is ranked in memory on each
request, with the same two rankings as archival search:

- full text (`fts`): BM25 over the content words of the query;
- vectors (`vector`): cosine similarity of the deterministic local hash embedding (words,
  bigrams and character trigrams, so it also catches spelling variants);
- `hybrid` (the default): both, fused by reciprocal-rank fusion, the local embedding counting half
  (`memfold.memory.search`).

Without a query, the first `limit` tools are returned in the order given (score 0).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

from memfold.llm.embeddings import LocalHashEmbedder, content_words, words
from memfold.memory.search import query_terms, reciprocal_rank_fusion
from memfold.schemas.tools import Tool, ToolSearchResult

__all__ = ["SearchMode", "search_tools", "searchable_text"]

SearchMode = Literal["vector", "fts", "hybrid"]

_BM25_K1, _BM25_B = 1.2, 0.75
_LOCAL_VECTOR_WEIGHT = 0.5
_EMBEDDER = LocalHashEmbedder()


def searchable_text(tool: Tool) -> str:
    parts = [" ".join(words(tool.name)), tool.description or str(tool.json_schema.get("description") or "")]
    if tool.tags:
        parts.append(" ".join(tool.tags))
    return "\n".join(p for p in parts if p)


def search_tools(
    tools: list[Tool], query: str | None, mode: SearchMode, limit: int
) -> list[ToolSearchResult]:
    """The best `limit` of `tools` for `query`, best first."""
    texts = [searchable_text(tool) for tool in tools]
    if not query or not query.strip():
        return [_result(tool, text, 0.0) for tool, text in zip(tools[:limit], texts, strict=False)]
    fts = _bm25_ranking(texts, query_terms(query)) if mode != "vector" else []
    vector = _vector_ranking(texts, query) if mode != "fts" else []
    fts_rank = {index: rank for rank, index in enumerate(fts, start=1)}
    vector_rank = {index: rank for rank, index in enumerate(vector, start=1)}
    rankings, weights = [], []
    if mode != "vector":
        rankings.append(fts)
        weights.append(1.0)
    if mode != "fts":
        rankings.append(vector)
        weights.append(_LOCAL_VECTOR_WEIGHT if mode == "hybrid" else 1.0)
    fused = reciprocal_rank_fusion(rankings, weights)
    return [
        _result(tools[i], texts[i], score, fts_rank.get(i), vector_rank.get(i)) for i, score in fused[:limit]
    ]


def _result(
    tool: Tool, text: str, score: float, fts_rank: int | None = None, vector_rank: int | None = None
) -> ToolSearchResult:
    return ToolSearchResult(
        tool=tool, combined_score=score, embedded_text=text, fts_rank=fts_rank, vector_rank=vector_rank
    )


def _bm25_ranking(texts: list[str], terms: list[str]) -> list[int]:
    """Indexes of the texts that contain a query term, best BM25 score first."""
    documents = [Counter(content_words(text)) for text in texts]
    if not documents or not terms:
        return []
    average = sum(sum(d.values()) for d in documents) / len(documents) or 1.0
    frequency = {term: sum(1 for d in documents if term in d) for term in terms}
    scores: list[tuple[float, int]] = []
    for index, document in enumerate(documents):
        length = sum(document.values())
        score = 0.0
        for term in terms:
            tf = document.get(term, 0)
            if tf:
                idf = math.log(1 + (len(documents) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                norm = tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * length / average)
                score += idf * tf * (_BM25_K1 + 1) / norm
        if score > 0:
            scores.append((score, index))
    return [index for _, index in sorted(scores, key=lambda s: (-s[0], s[1]))]


def _vector_ranking(texts: list[str], query: str) -> list[int]:
    """Indexes of the texts with a positive cosine similarity to the query, most similar first."""
    if not texts:
        return []
    [query_vector] = _EMBEDDER.embed_sync([query])
    similarities = []
    for index, vector in enumerate(_EMBEDDER.embed_sync(texts)):
        similarity = sum(a * b for a, b in zip(query_vector, vector, strict=True))
        if similarity > 0:
            similarities.append((similarity, index))
    return [index for _, index in sorted(similarities, key=lambda s: (-s[0], s[1]))]
