"""Vector indexes: brute force is exact; HNSW agrees with it; the automatic switch keeps data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slokit.cache import AutoIndex, BruteForceIndex, HnswConfig, HnswIndex
from slokit.errors import ConfigError


def unit_vectors(count: int, dimensions: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_brute_force_returns_the_exact_nearest_most_similar_first() -> None:
    vectors = unit_vectors(200)
    index = BruteForceIndex(32)
    for label, vector in enumerate(vectors):
        index.add(label, vector)
    found = index.search(vectors[17], 5)
    assert found[0] == (17, pytest.approx(1.0, abs=1e-5))
    similarities = [s for _, s in found]
    assert similarities == sorted(similarities, reverse=True)
    expected = np.argsort(-(vectors @ vectors[17]))[:5]
    assert [label for label, _ in found] == expected.tolist()


def test_brute_force_remove_keeps_the_other_vectors_findable() -> None:
    vectors = unit_vectors(50)
    index = BruteForceIndex(32)
    for label, vector in enumerate(vectors):
        index.add(label, vector)
    for label in range(0, 50, 2):
        index.remove(label)
    assert len(index) == 25
    for label in range(1, 50, 2):
        assert index.search(vectors[label], 1)[0][0] == label
    assert all(found % 2 == 1 for found, _ in index.search(vectors[0], 25))


def test_hnsw_finds_what_brute_force_finds() -> None:
    vectors = unit_vectors(2_000, seed=1)
    exact, graph = BruteForceIndex(32), HnswIndex(32)
    for label, vector in enumerate(vectors):
        exact.add(label, vector)
        graph.add(label, vector)
    queries = unit_vectors(50, seed=2)
    agree = sum(exact.search(q, 1)[0][0] == graph.search(q, 1)[0][0] for q in queries)
    assert agree >= 48
    graph.remove(5)
    assert graph.search(vectors[5], 1)[0][0] != 5


def test_auto_index_moves_to_hnsw_above_the_threshold_keeping_every_vector() -> None:
    vectors = unit_vectors(300, seed=3)
    index = AutoIndex(32, ann_threshold=100)
    for label, vector in enumerate(vectors):
        index.add(label, vector)
        assert index.approximate is (label >= 100)
    assert len(index) == 300
    assert all(index.search(vectors[i], 1)[0][0] == i for i in range(0, 300, 7))


def test_a_saved_graph_loads_with_the_same_answers(tmp_path: Path) -> None:
    vectors = unit_vectors(500, seed=4)
    graph = HnswIndex(32)
    graph.add_many(list(range(500)), vectors)
    graph.remove(7)
    graph.save(tmp_path / "graph.hnsw")
    loaded = HnswIndex.load(tmp_path / "graph.hnsw", 32, HnswConfig(expansion_search=50))
    assert len(loaded) == 499
    assert loaded.dimensions == 32
    for query in vectors[::50]:
        assert loaded.search(query, 3) == graph.search(query, 3)
    loaded.add(7, vectors[7])
    assert loaded.search(vectors[7], 1)[0][0] == 7
    with pytest.raises(ConfigError):
        loaded.set_expansion_search(0)
