"""Nearest-neighbour indexes over unit vectors: numpy brute force, HNSW (hnswlib), the switch.

Brute force is exact and fastest while a scope is small; above ``ann_threshold`` entries the
index moves to an hnswlib HNSW graph (benchmarks/cache_speed.py measured the crossover and the
library).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from slokit.cache.store import Vector
from slokit.errors import ConfigError, MissingExtraError

DEFAULT_ANN_THRESHOLD = 20_000


class VectorIndex(Protocol):
    """Integer labels to unit vectors; search by inner product (cosine for unit vectors)."""

    def add(self, label: int, vector: Vector) -> None: ...

    def remove(self, label: int) -> None: ...

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]: ...

    def __len__(self) -> int: ...


class BruteForceIndex:
    """Exact search: one matrix-vector product over a growable float32 matrix."""

    __slots__ = ("_dimensions", "_labels", "_matrix", "_position", "_size")

    def __init__(self, dimensions: int) -> None:
        self._dimensions = dimensions
        self._matrix = np.empty((16, dimensions), dtype=np.float32)
        self._labels = np.empty(16, dtype=np.int64)
        self._position: dict[int, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, label: int, vector: Vector) -> None:
        if label in self._position:
            self._matrix[self._position[label]] = vector
            return
        if self._size == len(self._matrix):
            self._matrix = np.resize(self._matrix, (2 * self._size, self._dimensions))
            self._labels = np.resize(self._labels, 2 * self._size)
        self._matrix[self._size] = vector
        self._labels[self._size] = label
        self._position[label] = self._size
        self._size += 1

    def remove(self, label: int) -> None:
        position = self._position.pop(label, None)
        if position is None:
            return
        last = self._size - 1
        if position != last:
            # Move the last row into the hole so the live rows stay contiguous.
            moved = int(self._labels[last])
            self._matrix[position] = self._matrix[last]
            self._labels[position] = moved
            self._position[moved] = position
        self._size = last

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        if self._size == 0 or k < 1:
            return []
        similarities = self._matrix[: self._size] @ vector
        top = np.argpartition(-similarities, k - 1)[:k] if k < self._size else np.arange(self._size)
        top = top[np.argsort(-similarities[top], kind="stable")]
        return [(int(self._labels[i]), float(similarities[i])) for i in top]

    def items(self) -> tuple[Sequence[int], Vector]:
        """Labels and vectors held, for moving to another index."""
        return self._labels[: self._size].tolist(), self._matrix[: self._size]


@dataclass(frozen=True, slots=True, kw_only=True)
class HnswConfig:
    """HNSW graph parameters: ``connectivity`` (M), and the beam widths at insert and search.

    ``expansion_search`` 128 keeps recall@1 above 0.95 at 1M entries (0.961; 96 gave 0.948)
    at p99 under 1 ms (benchmarks/cache_speed.py).
    """

    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 128

    def __post_init__(self) -> None:
        for name in ("connectivity", "expansion_add", "expansion_search"):
            if getattr(self, name) < 1:
                raise ConfigError(f"HnswConfig.{name} must be >= 1, got {getattr(self, name)}")


class HnswIndex:
    """Approximate search on an hnswlib HNSW graph (inner product on unit vectors).

    hnswlib over usearch: on this project's machines it built 3x faster and searched faster at
    the same recall (benchmarks/cache_speed.py measures both).
    """

    __slots__ = ("_capacity", "_index", "_live")

    def __init__(self, dimensions: int, config: HnswConfig | None = None) -> None:
        config = config or HnswConfig()
        self._capacity = 1024
        self._index: Any = _hnswlib().Index(space="ip", dim=dimensions)
        self._index.init_index(
            max_elements=self._capacity,
            ef_construction=config.expansion_add,
            M=config.connectivity,
            allow_replace_deleted=True,
        )
        self._index.set_ef(config.expansion_search)
        self._index.set_num_threads(1)
        self._live: set[int] = set()

    @property
    def dimensions(self) -> int:
        return int(self._index.dim)

    def save(self, path: Path) -> None:
        """Write the graph to ``path`` and its live labels beside it (``path`` + ``.labels.npy``).

        Building a million-vector graph takes minutes; loading it takes seconds.
        """
        self._index.save_index(str(path))
        np.save(_labels_path(path), np.fromiter(self._live, dtype=np.int64, count=len(self._live)))

    @classmethod
    def load(cls, path: Path, dimensions: int, config: HnswConfig | None = None) -> HnswIndex:
        """A graph written by :meth:`save`; ``config.expansion_search`` applies from now on."""
        config = config or HnswConfig()
        index = cls.__new__(cls)
        index._index = _hnswlib().Index(space="ip", dim=dimensions)
        index._index.load_index(str(path), allow_replace_deleted=True)
        index._index.set_ef(config.expansion_search)
        index._index.set_num_threads(1)
        index._capacity = int(index._index.get_max_elements())
        index._live = set(np.load(_labels_path(path)).tolist())
        return index

    def set_expansion_search(self, expansion_search: int) -> None:
        """The search beam width: wider finds the true nearest more often, and takes longer."""
        if expansion_search < 1:
            raise ConfigError(f"expansion_search must be >= 1, got {expansion_search}")
        self._index.set_ef(expansion_search)

    def __len__(self) -> int:
        return len(self._live)

    def add(self, label: int, vector: Vector) -> None:
        self.add_many([label], vector[np.newaxis, :])

    def add_many(self, labels: Sequence[int], vectors: Vector) -> None:
        """Bulk insert, on all cores."""
        if not len(labels):
            return
        needed = self._index.get_current_count() + len(labels)
        if needed > self._capacity:
            self._capacity = max(needed, 2 * self._capacity)
            self._index.resize_index(self._capacity)
        self._index.set_num_threads(-1)
        try:
            self._index.add_items(vectors, np.asarray(labels, dtype=np.int64), replace_deleted=True)
        finally:
            self._index.set_num_threads(1)
        self._live.update(labels)

    def remove(self, label: int) -> None:
        if label in self._live:
            self._index.mark_deleted(label)
            self._live.discard(label)

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        k = min(k, len(self._live))
        if k < 1:
            return []
        labels, distances = self._index.knn_query(vector, k=k)
        # hnswlib's "ip" distance is 1 - inner product.
        return [
            (int(label), 1.0 - float(distance))
            for label, distance in zip(labels[0], distances[0], strict=True)
        ]


class AutoIndex:
    """Brute force until ``ann_threshold`` vectors, then HNSW from there on."""

    __slots__ = ("_ann_threshold", "_dimensions", "_hnsw", "_index")

    def __init__(
        self,
        dimensions: int,
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        hnsw: HnswConfig | None = None,
        graph: HnswIndex | None = None,
    ) -> None:
        """``graph``: start from an existing HNSW graph (e.g. :meth:`HnswIndex.load`)."""
        self._dimensions = dimensions
        self._ann_threshold = ann_threshold
        self._hnsw = hnsw
        self._index: BruteForceIndex | HnswIndex = (
            BruteForceIndex(dimensions) if graph is None else graph
        )

    def __len__(self) -> int:
        return len(self._index)

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, HnswIndex)

    def add(self, label: int, vector: Vector) -> None:
        self._index.add(label, vector)
        if isinstance(self._index, BruteForceIndex) and len(self._index) > self._ann_threshold:
            self._to_graph(self._index)

    def add_many(self, labels: Sequence[int], vectors: Vector) -> None:
        """Bulk insert; a graph built here is built once, on all threads."""
        index = self._index
        if isinstance(index, BruteForceIndex) and len(index) + len(labels) > self._ann_threshold:
            self._to_graph(index)
        index = self._index
        if isinstance(index, HnswIndex):
            index.add_many(labels, vectors)
            return
        for label, vector in zip(labels, vectors, strict=True):
            index.add(label, vector)

    def remove(self, label: int) -> None:
        self._index.remove(label)

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        return self._index.search(vector, k)

    def _to_graph(self, exact: BruteForceIndex) -> None:
        try:
            graph = HnswIndex(self._dimensions, self._hnsw)
        except MissingExtraError:
            # Without the 'cache' extra the search stays exact, only slower on large scopes.
            self._ann_threshold = sys.maxsize
            return
        labels, vectors = exact.items()
        graph.add_many(list(labels), vectors)
        self._index = graph


def _hnswlib() -> Any:
    try:
        import hnswlib  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra
    except ImportError as error:
        raise MissingExtraError("cache", "hnswlib") from error
    return hnswlib


def _labels_path(path: Path) -> Path:
    return path.with_name(path.name + ".labels.npy")
