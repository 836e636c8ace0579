"""The ``Embedder`` protocol shared by routing and the semantic cache, and batched embedding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; equal ``name`` means the same vector space."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row of ``dimensions`` float32 values per text, each of L2 norm 1 (or all 0)."""
        ...


def embed_all(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    chunk_size: int = 256,
    progress: bool = False,
    description: str = "embedding",
) -> Vectors:
    """Embed ``texts`` chunk by chunk, with a progress bar on stderr when ``progress``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not texts:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    chunks: list[Vectors] = []
    with tqdm(
        total=len(texts), desc=description, unit="text", disable=not progress, leave=False
    ) as bar:
        for start in range(0, len(texts), chunk_size):
            chunk = texts[start : start + chunk_size]
            chunks.append(embedder.embed(chunk))
            bar.update(len(chunk))
    return np.concatenate(chunks, axis=0)
