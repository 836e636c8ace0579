"""The ``Store`` protocol the cache writes to, and the entry it keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One cached reply.

    ``key`` is the request's exact key; ``scope``, ``text`` and ``vector`` (unit length) are set
    when the entry can also answer semantic lookups. Time is wall-clock seconds since the epoch,
    so that expiry survives restarts; a hit never moves ``expires_s``.
    """

    key: str
    body: Mapping[str, Any]
    created_s: float
    expires_s: float
    scope: str | None = None
    text: str | None = None
    vector: Vector | None = None

    def expired(self, now_s: float) -> bool:
        return now_s >= self.expires_s


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A semantic candidate: a stored entry and its cosine similarity to the query."""

    entry: Entry
    similarity: float


class Store(Protocol):
    """Where entries live: exact lookups by key, semantic lookups by scope and vector.

    A store drops expired entries from every answer and keeps at most its capacity, evicting
    the oldest inserted entries first.
    """

    def get(self, key: str, now_s: float) -> Entry | None:
        """The live entry under ``key``, or None."""
        ...

    def put(self, entry: Entry) -> None:
        """Insert or replace the entry under ``entry.key``; durable when this returns."""
        ...

    def search(self, scope: str, vector: Vector, k: int, now_s: float) -> list[Neighbour]:
        """Up to ``k`` live entries of ``scope``, most similar first."""
        ...

    def delete(self, key: str) -> None:
        """Remove the entry under ``key`` if there is one."""
        ...

    def __len__(self) -> int:
        """Entries held, live or not yet purged."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
