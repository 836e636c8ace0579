"""The in-process store: a dict for exact lookups, one vector index per semantic scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from slokit.cache.index import DEFAULT_ANN_THRESHOLD, AutoIndex, HnswConfig, HnswIndex
from slokit.cache.store import Entry, Neighbour, Vector
from slokit.errors import ConfigError

DEFAULT_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryStoreConfig:
    """Capacity (entries, oldest inserted evicted first) and when a scope moves to HNSW."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    ann_threshold: int = DEFAULT_ANN_THRESHOLD
    hnsw: HnswConfig | None = None

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ConfigError(f"max_entries must be >= 1, got {self.max_entries}")
        if self.ann_threshold < 1:
            raise ConfigError(f"ann_threshold must be >= 1, got {self.ann_threshold}")


class MemoryStore:
    """Entries in a dict in insertion order; not shared between processes, lost on exit."""

    __slots__ = ("_config", "_entries", "_indexes", "_key_of", "_label_of", "_next_label")

    def __init__(self, config: MemoryStoreConfig | None = None) -> None:
        self._config = config or MemoryStoreConfig()
        self._entries: dict[str, Entry] = {}
        self._label_of: dict[str, int] = {}
        self._key_of: dict[int, str] = {}
        self._indexes: dict[str, AutoIndex] = {}
        self._next_label = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now_s: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expired(now_s):
            self.delete(key)
            return None
        return entry

    def put(self, entry: Entry) -> None:
        self.delete(entry.key)
        while len(self._entries) >= self._config.max_entries:
            self.delete(next(iter(self._entries)))
        self._entries[entry.key] = entry
        if entry.scope is not None and entry.vector is not None:
            label = self._next_label
            self._next_label += 1
            self._label_of[entry.key] = label
            self._key_of[label] = entry.key
            index = self._indexes.get(entry.scope)
            if index is None:
                index = AutoIndex(
                    len(entry.vector),
                    ann_threshold=self._config.ann_threshold,
                    hnsw=self._config.hnsw,
                )
                self._indexes[entry.scope] = index
            index.add(label, entry.vector)

    def put_many(
        self, entries: Sequence[Entry], *, graphs: Mapping[str, HnswIndex] | None = None
    ) -> None:
        """Insert many entries at once (one bulk index build per scope), e.g. on loading.

        ``graphs``: HNSW graphs already built (and saved, see :meth:`HnswIndex.save`) over these
        entries, one per scope, each vector labelled by its entry's position in ``entries``.
        They are used as they are instead of being built again; only into an empty store.
        """
        if graphs:
            self._adopt(entries, graphs)
            return
        for entry in entries:
            self.delete(entry.key)
        entries = entries[-self._config.max_entries :]
        while len(self._entries) + len(entries) > self._config.max_entries:
            self.delete(next(iter(self._entries)))
        by_scope: dict[str, tuple[list[int], list[Vector]]] = {}
        for entry in entries:
            self._entries[entry.key] = entry
            if entry.scope is None or entry.vector is None:
                continue
            label = self._next_label
            self._next_label += 1
            self._label_of[entry.key] = label
            self._key_of[label] = entry.key
            labels, vectors = by_scope.setdefault(entry.scope, ([], []))
            labels.append(label)
            vectors.append(entry.vector)
        for scope, (labels, vectors) in by_scope.items():
            index = self._indexes.get(scope)
            if index is None:
                index = AutoIndex(
                    len(vectors[0]),
                    ann_threshold=self._config.ann_threshold,
                    hnsw=self._config.hnsw,
                )
                self._indexes[scope] = index
            index.add_many(labels, np.stack(vectors))

    def _adopt(self, entries: Sequence[Entry], graphs: Mapping[str, HnswIndex]) -> None:
        if self._next_label or self._entries:
            raise ConfigError("prebuilt graphs can only be loaded into an empty store")
        if len(entries) > self._config.max_entries:
            raise ConfigError(
                f"{len(entries)} entries with prebuilt graphs exceed max_entries "
                f"{self._config.max_entries}"
            )
        for scope, graph in graphs.items():
            self._indexes[scope] = AutoIndex(
                graph.dimensions,
                ann_threshold=self._config.ann_threshold,
                hnsw=self._config.hnsw,
                graph=graph,
            )
        for label, entry in enumerate(entries):
            if entry.key in self._entries:
                raise ConfigError(f"key {entry.key!r} appears twice among prebuilt entries")
            self._entries[entry.key] = entry
            if entry.scope is None or entry.vector is None:
                continue
            if entry.scope not in graphs:
                raise ConfigError(f"no prebuilt graph for scope {entry.scope!r}")
            self._label_of[entry.key] = label
            self._key_of[label] = entry.key
        self._next_label = len(entries)

    def delete(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        label = self._label_of.pop(key, None)
        if entry is None or label is None or entry.scope is None:
            return
        del self._key_of[label]
        index = self._indexes[entry.scope]
        index.remove(label)
        if len(index) == 0:
            del self._indexes[entry.scope]

    def search(self, scope: str, vector: Vector, k: int, now_s: float) -> list[Neighbour]:
        index = self._indexes.get(scope)
        if index is None:
            return []
        neighbours: list[Neighbour] = []
        expired: list[str] = []
        for label, similarity in index.search(vector, k):
            key = self._key_of[label]
            entry = self._entries[key]
            if entry.expired(now_s):
                expired.append(key)
            else:
                neighbours.append(Neighbour(entry, similarity))
        for key in expired:
            self.delete(key)
        return neighbours

    def close(self) -> None:
        self._entries.clear()
        self._label_of.clear()
        self._key_of.clear()
        self._indexes.clear()
