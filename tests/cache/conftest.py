"""Shared pieces of the cache tests: a counting embedder and a calibration that accepts by rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from slokit.cache import Calibration
from slokit.cache.scoring import FEATURE_NAMES, HitModel
from slokit.cache.store import Vector
from slokit.embedding import HashingEmbedder


class CountingEmbedder:
    """The hashing embedder, counting calls and texts (a deterministic stand-in for MiniLM)."""

    def __init__(self) -> None:
        self._inner = HashingEmbedder(dimensions=256)
        self.calls: list[int] = []

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls.append(len(texts))
        return self._inner.embed(texts)


def _similarity_calibration(min_similarity: float, *, hard_guards: bool = True) -> Calibration:
    """A calibration whose score is ``similarity - min_similarity``: a hit at or above it."""
    names = FEATURE_NAMES
    weights = tuple(1.0 if name == "similarity" else 0.0 for name in names)
    return Calibration(
        max_false_hit_rate=0.01,
        confidence=0.95,
        candidates=4,
        threshold=0.0,
        hard_guards=hard_guards,
        model=HitModel(
            feature_names=names,
            mean=(0.0,) * len(names),
            scale=(1.0,) * len(names),
            weights=weights,
            bias=-min_similarity,
        ),
    )


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def similarity_calibration() -> Callable[..., Calibration]:
    """``similarity_calibration(0.8)``: hits at cosine similarity >= 0.8 (guards on)."""
    return _similarity_calibration
