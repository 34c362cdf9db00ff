"""What archival and recall search share: query words, rank fusion, dates and timestamps.

Hybrid search ranks twice -- BM25 over the words (full text) and cosine similarity of
embeddings (vectors) -- and fuses the two rankings with reciprocal-rank fusion:

    score(d) = sum over rankings r of 1 / (RRF_K + rank_r(d))      (rank counted from 1)

RRF needs no score calibration between the two sides: a document both sides rank high wins,
and a document only one side finds (an exact identifier; a paraphrase) still gets in.

The vector ranking of the local hash embedding counts half (`vector_weight`): that embedding
is lexical too (words and character trigrams), so beside BM25 it is a fuzzy tie-breaker, not
a second opinion; a model's embedding (semantic) counts fully. On memfold's recall benchmark
(docs/benchmarks.md) the half weight lifts recall@5 from 0.80 to 0.87 at equal recall@10.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memfold.errors import InvalidValueError
from memfold.llm.embeddings import LOCAL_PROVIDER, content_words

__all__ = [
    "RRF_K",
    "parse_bound",
    "query_terms",
    "reciprocal_rank_fusion",
    "timestamp",
    "vector_weight",
    "zone",
]

RRF_K = 60
MAX_TERMS = 16
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def query_terms(query: str) -> list[str]:
    """The distinct content words of `query`, at most `MAX_TERMS`, for full-text search."""
    return list(dict.fromkeys(content_words(query)))[:MAX_TERMS]


def vector_weight(handle: str) -> float:
    """How much the vector ranking of embedding `handle` counts in the fusion (full text: 1)."""
    return 0.5 if handle.startswith(f"{LOCAL_PROVIDER}/") else 1.0


def reciprocal_rank_fusion(
    rankings: Iterable[Sequence[int]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse rankings (lists of keys, best first; each with a weight, default 1) into one:
    `(key, score)`, best first. Ties go to the larger key (the newer row)."""
    scores: dict[int, float] = {}
    for index, ranking in enumerate(rankings):
        weight = weights[index] if weights is not None else 1.0
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], -item[0]))


def zone(name: str | None) -> tzinfo:
    """The agent's time zone (UTC when unset or unknown)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_bound(value: str | datetime | None, *, end: bool, tz: tzinfo = UTC, field: str) -> datetime | None:
    """A search's start or end: ISO 8601 date or datetime; naive values are in `tz`.

    A bare date as the end means the whole day (`2024-05-01` -> up to 23:59:59.999999)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        try:
            if _DATE_ONLY.match(text):
                day = date.fromisoformat(text)
                parsed = datetime.combine(day, time.max if end else time.min)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as e:
            raise InvalidValueError(
                f"{field} {value!r} is not an ISO 8601 date or datetime, e.g. '2024-05-01' or "
                "'2024-05-01T14:30:00+00:00'"
            ) from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def timestamp(moment: datetime, tz: tzinfo = UTC) -> str:
    """`moment` in the agent's time zone, ISO 8601 to the second."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()
