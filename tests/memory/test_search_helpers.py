"""Rank fusion, query words, date bounds and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memfold.errors import InvalidValueError
from memfold.memory.archival import split_text
from memfold.memory.recall import searchable_text
from memfold.memory.search import (
    parse_bound,
    query_terms,
    reciprocal_rank_fusion,
    timestamp,
    vector_weight,
    zone,
)


def test_reciprocal_rank_fusion_rewards_agreement_and_keeps_single_side_finds() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [2, 4]])
    assert [key for key, _ in fused] == [2, 1, 4, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    weighted = reciprocal_rank_fusion([[1, 2], [3]], [1.0, 0.5])
    assert [key for key, _ in weighted] == [1, 2, 3]
    assert reciprocal_rank_fusion([[5], [6]])[0][0] == 6  # a tie goes to the newer row
    assert vector_weight("local/hash-384") == 0.5 and vector_weight("openai/text-embedding-3-small") == 1.0


def test_query_terms_drop_stopwords_and_repeats() -> None:
    assert query_terms("What did I say about my sister's WEDDING, the wedding?") == [
        "say",
        "sister",
        "wedding",
    ]
    assert query_terms("the and of") == ["the", "and", "of"]  # nothing but stopwords: keep them
    assert query_terms("") == []


def test_bounds_and_timestamps() -> None:
    lisbon = zone("Europe/Lisbon")
    assert parse_bound("2024-07-01", end=False, tz=lisbon, field="x") == datetime(2024, 6, 30, 23, tzinfo=UTC)
    end = parse_bound("2024-07-01", end=True, field="x")
    assert end == datetime(2024, 7, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_bound("2024-07-01T10:00:00Z", end=False, field="x") == datetime(2024, 7, 1, 10, tzinfo=UTC)
    assert parse_bound(None, end=False, field="x") is None
    with pytest.raises(InvalidValueError, match="start"):
        parse_bound("soon", end=False, field="start")
    assert zone("Not/AZone") is UTC
    assert timestamp(datetime(2024, 7, 1, 10, 0, 0, 123, tzinfo=UTC), lisbon) == "2024-07-01T11:00:00+01:00"


def test_searchable_text_and_splitting() -> None:
    call = {"id": "c", "name": "send_message", "arguments": '{"message": "See you at 9."}'}
    broken = {"id": "d", "name": "send_message", "arguments": "{not json"}
    assert searchable_text("assistant", None, [call, broken]) == "See you at 9."
    assert searchable_text("user", "  hi  ", None) == "hi"
    assert searchable_text("tool", None, None) == ""
    pieces = split_text("\n\n".join(["a" * 40] * 5), limit=100)
    assert pieces == ["\n\n".join(["a" * 40] * 2)] * 2 + ["a" * 40]
    assert split_text("x" * 250, limit=100) == ["x" * 100, "x" * 100, "x" * 50]
