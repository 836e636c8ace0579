"""The in-process store: exact and scoped lookups, expiry, eviction of the oldest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slokit.cache import Entry, HnswIndex, MemoryStore, MemoryStoreConfig
from slokit.errors import ConfigError


def entry(
    key: str, *, scope: str | None = "s", created_s: float = 0.0, ttl_s: float = 10.0
) -> Entry:
    vector = np.zeros(4, dtype=np.float32)
    vector[hash(key) % 4] = 1.0
    return Entry(
        key=key,
        body={"answer": key},
        created_s=created_s,
        expires_s=created_s + ttl_s,
        scope=scope,
        text=key,
        vector=vector if scope else None,
    )


def random_entries(count: int, dimensions: int, *, seed: int) -> tuple[np.ndarray, list[Entry]]:
    """``count`` random unit vectors, and an entry ``k<i>`` of scope ``s`` for each."""
    vectors = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    entries = [
        Entry(key=f"k{i}", body={}, created_s=0.0, expires_s=9.0, scope="s", text="", vector=v)
        for i, v in enumerate(vectors)
    ]
    return vectors, entries


def test_get_and_search_see_live_entries_of_the_scope_only() -> None:
    store = MemoryStore()
    store.put(entry("a", scope="tenant-1"))
    store.put(entry("b", scope="tenant-2"))
    assert store.get("a", now_s=1.0) is not None
    vector = entry("b").vector
    assert vector is not None
    assert [n.entry.key for n in store.search("tenant-2", vector, 5, now_s=1.0)] == ["b"]
    assert store.search("tenant-3", vector, 5, now_s=1.0) == []


def test_expired_entries_are_not_served_and_are_dropped() -> None:
    store = MemoryStore()
    store.put(entry("a", ttl_s=10.0))
    vector = entry("a").vector
    assert vector is not None
    assert store.search("s", vector, 1, now_s=10.0) == []
    assert store.get("a", now_s=10.0) is None
    assert len(store) == 0


def test_capacity_evicts_the_oldest_inserted_first() -> None:
    store = MemoryStore(MemoryStoreConfig(max_entries=3))
    for key in "abcd":
        store.put(entry(key))
    assert len(store) == 3
    assert store.get("a", now_s=0.0) is None
    assert all(store.get(key, now_s=0.0) is not None for key in "bcd")


def test_replacing_a_key_keeps_one_entry_and_one_vector() -> None:
    store = MemoryStore()
    store.put(entry("a"))
    store.put(entry("a", created_s=1.0))
    assert len(store) == 1
    vector = entry("a").vector
    assert vector is not None
    assert len(store.search("s", vector, 5, now_s=2.0)) == 1
    store.delete("a")
    assert store.search("s", vector, 5, now_s=2.0) == []


def test_bulk_insert_finds_the_same_entries_as_one_by_one() -> None:
    vectors, entries = random_entries(300, 4, seed=0)
    bulk = MemoryStore(MemoryStoreConfig(max_entries=250, ann_threshold=100))
    bulk.put_many(entries)
    single = MemoryStore(MemoryStoreConfig(max_entries=250, ann_threshold=10_000))
    for item in entries:
        single.put(item)
    assert len(bulk) == len(single) == 250
    assert bulk.get("k49", now_s=0.0) is None
    for query in vectors[50::25]:
        assert (
            bulk.search("s", query, 1, 0.0)[0].entry.key
            == single.search("s", query, 1, 0.0)[0].entry.key
        )


def test_prebuilt_graphs_serve_like_a_built_store(tmp_path: Path) -> None:
    vectors, entries = random_entries(200, 8, seed=1)
    graph = HnswIndex(8)
    graph.add_many(list(range(200)), vectors)
    graph.save(tmp_path / "s.hnsw")
    store = MemoryStore(MemoryStoreConfig(ann_threshold=50))
    store.put_many(entries, graphs={"s": HnswIndex.load(tmp_path / "s.hnsw", 8)})
    assert len(store) == 200
    assert store.search("s", vectors[42], 1, 0.0)[0].entry.key == "k42"
    store.delete("k42")
    assert store.search("s", vectors[42], 1, 0.0)[0].entry.key != "k42"
    store.put(entries[42])
    assert store.search("s", vectors[42], 1, 0.0)[0].entry.key == "k42"
    assert store.search("s", vectors[3], 1, now_s=9.0) == []
    with pytest.raises(ConfigError):
        store.put_many(entries[:1], graphs={"s": graph})
