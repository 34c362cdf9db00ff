"""Vector indexes: exact and HNSW search agree, removal, restricted search, persistence, catch-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memfold.memory.vectors import HNSW_AVAILABLE, VectorCollections, VectorIndex, from_bytes, to_bytes


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_exact_search_remove_and_restricted_search() -> None:
    vectors = unit_vectors(100, 16)
    index = VectorIndex(16, use_hnsw=False)
    index.add(list(range(1, 101)), vectors)
    assert len(index) == 100
    best = index.search(vectors[41], 3)
    assert best[0][0] == 42 and best[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)

    index.remove([42, 999])
    assert len(index) == 99
    assert all(key != 42 for key, _ in index.search(vectors[41], 10))

    among = index.search(vectors[41], 5, among=[7, 8, 42, 500])
    assert {key for key, _ in among} == {7, 8}

    index.add([7], vectors[41:42])  # replacing a key keeps one entry
    assert len(index) == 99
    assert index.search(vectors[41], 1)[0][0] == 7


@pytest.mark.skipif(not HNSW_AVAILABLE, reason="needs memfold[vector] (usearch)")
def test_hnsw_takes_over_past_the_threshold_and_finds_the_same_neighbours(tmp_path: Path) -> None:
    vectors = unit_vectors(300, 32, seed=1)
    exact = VectorIndex(32, use_hnsw=False)
    graph = VectorIndex(32, hnsw_threshold=200, background=False)
    for index in (exact, graph):
        index.add(list(range(300)), vectors)
    assert graph.is_hnsw and not exact.is_hnsw
    for probe in (3, 150, 299):
        assert graph.search(vectors[probe], 1)[0][0] == probe
        top_exact = {k for k, _ in exact.search(vectors[probe], 10)}
        top_graph = {k for k, _ in graph.search(vectors[probe], 10)}
        assert len(top_exact & top_graph) >= 8
    assert {k for k, _ in graph.search(vectors[5], 3, among=[5, 6, 1000])} == {5, 6}
    graph.remove([150])
    assert graph.search(vectors[150], 1)[0][0] != 150

    path = tmp_path / "graph.usearch"
    assert graph.save(path) and not graph.dirty
    loaded = VectorIndex.load(path, 32)
    assert loaded is not None and loaded.is_hnsw and len(loaded) == 299
    assert loaded.search(vectors[3], 1)[0][0] == 3
    assert VectorIndex.load(path, 64) is None  # another dimension: not this index


def test_collections_catch_up_with_the_database_rows() -> None:
    vectors = unit_vectors(10, 8, seed=2)
    rows = [(seq, to_bytes(vectors[seq - 1])) for seq in range(1, 11)]
    visible = rows[:6]

    def fetch(after: int, limit: int) -> list[tuple[int, bytes]]:
        return [(s, b) for s, b in visible if s > after][:limit]

    collections = VectorCollections()
    name = VectorCollections.name("archive", "archive-1", "local/hash-8")
    first = collections.synced(name, fetch, lambda up_to: len([s for s, _ in visible if s <= up_to]))
    assert first.index is not None and len(first.index) == 6 and first.watermark == 6
    visible = rows  # four more rows were committed
    again = collections.synced(name, fetch, lambda up_to: 10)
    assert again is first and len(first.index) == 10 and first.watermark == 10
    assert np.allclose(from_bytes(rows[0][1]), vectors[0])

    collections.remove(name, [3])
    assert len(first.index) == 9
    collections.forget("archive-archive-1-")
    assert collections.synced(name, fetch, lambda up_to: 10).index is not first.index
