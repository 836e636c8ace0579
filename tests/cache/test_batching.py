"""Micro-batching: concurrent embeds share forward passes and each gets its own row."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from slokit.cache import MicroBatcher
from slokit.cache.batching import BatchingConfig
from slokit.cache.store import Vector
from slokit.embedding import HashingEmbedder
from slokit.errors import ConfigError


class GatedEmbedder:
    """Blocks its first call until released, so that the next callers must queue up."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(dimensions=16)
        self.calls: list[list[str]] = []

    @property
    def dimensions(self) -> int:
        return 16

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls.append(list(texts))
        if any(text == "fail" for text in texts):
            raise RuntimeError("model crashed")
        return self.inner.embed(texts)


@pytest.mark.asyncio
async def test_concurrent_texts_are_embedded_together_each_getting_its_own_vector() -> None:
    embedder = GatedEmbedder()
    batcher = MicroBatcher(embedder, BatchingConfig(max_batch=8))
    texts = [f"text {i}" for i in range(20)]
    vectors = await asyncio.gather(*(batcher.embed_one(t) for t in texts))
    expected = embedder.inner.embed(texts)
    for got, want in zip(vectors, expected, strict=True):
        np.testing.assert_allclose(got, want)
    assert sorted(len(call) for call in embedder.calls) == [4, 8, 8]
    assert batcher.batch_sizes == [8, 8, 4]


@pytest.mark.asyncio
async def test_an_embedding_error_reaches_the_waiters_of_its_batch_only() -> None:
    batcher = MicroBatcher(GatedEmbedder(), BatchingConfig(max_batch=2))
    results = await asyncio.gather(
        batcher.embed_one("fail"),
        batcher.embed_one("b"),
        batcher.embed_one("c"),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError)
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], np.ndarray)


@pytest.mark.asyncio
async def test_a_batch_is_embedded_in_passes_of_similar_length_rows_in_order() -> None:
    embedder = GatedEmbedder()
    batcher = MicroBatcher(embedder, BatchingConfig(max_batch=16, chunk_size=3, workers=2))
    texts = [("word " * (i * 7 % 10)) + str(i) for i in range(10)]
    vectors = await asyncio.gather(*(batcher.embed_one(t) for t in texts))
    for got, want in zip(vectors, embedder.inner.embed(texts), strict=True):
        np.testing.assert_allclose(got, want)
    assert batcher.batch_sizes == [10]
    assert sorted(len(call) for call in embedder.calls) == [1, 3, 3, 3]
    for call in embedder.calls:
        lengths = [len(t) for t in call]
        assert lengths == sorted(lengths)
    with pytest.raises(ConfigError):
        BatchingConfig(workers=0)
