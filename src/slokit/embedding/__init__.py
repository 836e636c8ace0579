"""Text embedders: the ``Embedder`` protocol, a fast hashing embedder and bundled MiniLM."""

from slokit.embedding.base import Embedder, embed_all
from slokit.embedding.disk_cache import DiskCachedEmbedder
from slokit.embedding.hashing import HashingEmbedder
from slokit.embedding.minilm import MINILM_NAME, MiniLMConfig, MiniLMEmbedder, serving_threads
from slokit.embedding.named import embedder_named
from slokit.embedding.static import STATIC_NAME, StaticConfig, StaticMiniLMEmbedder

__all__ = [
    "MINILM_NAME",
    "STATIC_NAME",
    "DiskCachedEmbedder",
    "Embedder",
    "HashingEmbedder",
    "MiniLMConfig",
    "MiniLMEmbedder",
    "StaticConfig",
    "StaticMiniLMEmbedder",
    "embed_all",
    "embedder_named",
    "serving_threads",
]
