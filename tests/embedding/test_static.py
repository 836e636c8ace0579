"""MiniLM's static distillation: built once from the bundled model, then fast and unit-length."""

from __future__ import annotations

import numpy as np
import pytest

from slokit.embedding import STATIC_NAME, StaticConfig, StaticMiniLMEmbedder, embedder_named
from slokit.errors import ConfigError


@pytest.fixture(scope="module")
def static() -> StaticMiniLMEmbedder:
    # The user's cache folder: the ~40 s distillation runs once per machine, as in production.
    return StaticMiniLMEmbedder()


def test_vectors_are_unit_length_and_related_texts_are_closer(
    static: StaticMiniLMEmbedder,
) -> None:
    texts = [
        "How do I learn to play the guitar?",
        "What is the best way to learn guitar?",
        "What is the boiling point of water at sea level?",
        "",
    ]
    vectors = static.embed(texts)
    assert vectors.shape == (4, static.dimensions) == (4, 256)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors[:3], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert np.all(np.isfinite(vectors))
    related = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert related > unrelated + 0.2
    assert static.embed([]).shape == (0, 256)


def test_the_name_rebuilds_it_from_the_cached_distillation(static: StaticMiniLMEmbedder) -> None:
    again = embedder_named(STATIC_NAME)
    assert again.name == static.name == STATIC_NAME
    text = ["a question about tensors"]
    assert np.array_equal(again.embed(text), static.embed(text))


def test_dimensions_are_checked() -> None:
    with pytest.raises(ConfigError, match="dimensions"):
        StaticConfig(dimensions=4)
