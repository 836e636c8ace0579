"""Exact and semantic response caching with a calibrated bound on the false-hit rate."""

from __future__ import annotations

from slokit.cache.batching import BatchingConfig, MicroBatcher
from slokit.cache.cache import (
    CACHEABLE_FINISH_REASONS,
    CacheConfig,
    CacheResult,
    Completion,
    ResponseCache,
    WallClock,
)
from slokit.cache.calibration import (
    Calibration,
    LabelledLookup,
    calibrate,
    clopper_pearson_upper,
    select_threshold,
)
from slokit.cache.embedder import Embedder
from slokit.cache.evaluation import Evaluation, Pair, build_protocol, evaluate, read_pairs
from slokit.cache.index import AutoIndex, BruteForceIndex, HnswConfig, HnswIndex
from slokit.cache.memory import MemoryStore, MemoryStoreConfig
from slokit.cache.pgvector_store import PgvectorStore, PgvectorStoreConfig
from slokit.cache.redis_store import RedisStore, RedisStoreConfig
from slokit.cache.remote import StoreUnavailableError
from slokit.cache.request import CacheRequest
from slokit.cache.sqlite import SqliteStore, SqliteStoreConfig
from slokit.cache.store import Entry, Neighbour, Store
from slokit.cache.vcache import PerEntryThresholds, SimilarityPrior, VCacheConfig, fit_prior

__all__ = [
    "CACHEABLE_FINISH_REASONS",
    "AutoIndex",
    "BatchingConfig",
    "BruteForceIndex",
    "CacheConfig",
    "CacheRequest",
    "CacheResult",
    "Calibration",
    "Completion",
    "Embedder",
    "Entry",
    "Evaluation",
    "HnswConfig",
    "HnswIndex",
    "LabelledLookup",
    "MemoryStore",
    "MemoryStoreConfig",
    "MicroBatcher",
    "Neighbour",
    "Pair",
    "PerEntryThresholds",
    "PgvectorStore",
    "PgvectorStoreConfig",
    "RedisStore",
    "RedisStoreConfig",
    "ResponseCache",
    "SimilarityPrior",
    "SqliteStore",
    "SqliteStoreConfig",
    "Store",
    "StoreUnavailableError",
    "VCacheConfig",
    "WallClock",
    "build_protocol",
    "calibrate",
    "clopper_pearson_upper",
    "evaluate",
    "fit_prior",
    "read_pairs",
    "select_threshold",
]
