"""A dependency-free embedder: signed feature hashing of word unigrams and bigrams."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from slokit.embedding.base import Vectors

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Bag of hashed words and word pairs, L2-normalised.

    Deterministic across processes (BLAKE2b, not Python's salted ``hash``), microseconds per
    text, no model files: the embedder for unit tests and a cheap baseline feature.
    """

    def __init__(self, *, dimensions: int = 256) -> None:
        if dimensions < 2:
            raise ValueError(f"dimensions must be >= 2, got {dimensions}")
        self._dimensions = dimensions

    @property
    def name(self) -> str:
        return f"hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for feature in (*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))):
                digest = int.from_bytes(
                    hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little"
                )
                sign = 1.0 if digest & 1 else -1.0
                vectors[row, (digest >> 1) % self._dimensions] += sign
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors
