"""The ``Embedder`` protocol the cache consumes.

Any object with ``dimensions`` and ``embed`` fits: :mod:`slokit.embedding`'s all-MiniLM-L6-v2
(the ``embed`` extra) or its dependency-free hashing embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from slokit.cache.store import Vector


class Embedder(Protocol):
    """Texts to unit-length float32 vectors, one row per text."""

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vector:
        """An array of shape ``(len(texts), dimensions)``, each row of L2 norm 1."""
        ...
