"""Text embedders: the ``Embedder`` protocol, a fast hashing embedder and bundled MiniLM."""

from slokit.embedding.base import Embedder, embed_all
from slokit.embedding.disk_cache import DiskCachedEmbedder
from slokit.embedding.hashing import HashingEmbedder
from slokit.embedding.minilm import MINILM_NAME, MiniLMConfig, MiniLMEmbedder
from slokit.embedding.named import embedder_named

__all__ = [
    "MINILM_NAME",
    "DiskCachedEmbedder",
    "Embedder",
    "HashingEmbedder",
    "MiniLMConfig",
    "MiniLMEmbedder",
    "embed_all",
    "embedder_named",
]
