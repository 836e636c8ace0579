"""The embedder a saved file (a router, a cache index) names, rebuilt from that name."""

from __future__ import annotations

from slokit.embedding.base import Embedder
from slokit.embedding.hashing import HashingEmbedder
from slokit.embedding.minilm import MINILM_NAME, MiniLMEmbedder
from slokit.embedding.static import STATIC_NAME, StaticMiniLMEmbedder
from slokit.errors import ConfigError


def embedder_named(name: str) -> Embedder:
    """The embedder a saved file names: ``all-MiniLM-L6-v2``, its static distillation
    ``all-MiniLM-L6-v2-static`` or ``hashing-<dimensions>``."""
    if name == MINILM_NAME:
        return MiniLMEmbedder()
    if name == STATIC_NAME:
        return StaticMiniLMEmbedder()
    prefix = "hashing-"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return HashingEmbedder(dimensions=int(name[len(prefix) :]))
    raise ConfigError(
        f"unknown embedder {name!r}: use {MINILM_NAME!r}, {STATIC_NAME!r} or 'hashing-<dimensions>'"
    )
