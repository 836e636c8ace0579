"""Micro-batching: concurrent lookups share one embedding forward pass.

While a batch is being embedded (in worker threads, so the event loop keeps running), new
texts queue up; the next batch takes all of them, up to ``max_batch``. No timer is involved:
under load batches grow by themselves, and a lone request waits for nothing.

A batch is sorted by length and cut into forward passes of ``chunk_size`` texts: a transformer
pads every text of a pass to its longest, and on short questions of mixed length one pass of
32 spent most of its time on padding (benchmarks/cache_speed.py). ``workers`` passes run at
once; on a CPU, two single-threaded passes (``torch.set_num_threads(1)``) on two cores
outran one pass on two threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slokit.batching import BatchCaller
from slokit.cache.embedder import Embedder
from slokit.cache.store import Vector
from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchingConfig:
    """Largest batch taken at once, texts per forward pass, passes run at once."""

    max_batch: int = 64
    chunk_size: int = 8
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("max_batch", "chunk_size", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


class MicroBatcher:
    """Wraps an :class:`Embedder`; ``await embed_one(text)`` from many tasks at once."""

    __slots__ = ("_caller", "_config", "_embedder")

    def __init__(self, embedder: Embedder, config: BatchingConfig | None = None) -> None:
        self._embedder = embedder
        self._config = config or BatchingConfig()
        self._caller: BatchCaller[str, Vector] = BatchCaller.awaiting(
            self._embed, max_batch=self._config.max_batch
        )

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions

    @property
    def batch_sizes(self) -> list[int]:
        """The size of every batch embedded so far."""
        return self._caller.batch_sizes

    def embed(self, texts: Sequence[str]) -> Vector:
        """The wrapped embedder, called directly (for synchronous callers)."""
        return self._embedder.embed(texts)

    async def embed_one(self, text: str) -> Vector:
        """The vector of ``text``, embedded together with whatever else is waiting."""
        return await self._caller.call(text)

    async def _embed(self, texts: list[str]) -> Vector:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self._config.chunk_size
        chunks = [order[start : start + size] for start in range(0, len(order), size)]
        slots = asyncio.Semaphore(self._config.workers)

        async def run(chunk: list[int]) -> Vector:
            async with slots:
                return await asyncio.to_thread(self._embedder.embed, [texts[i] for i in chunk])

        parts = await asyncio.gather(*(run(chunk) for chunk in chunks))
        vectors = np.empty((len(texts), self._embedder.dimensions), dtype=np.float32)
        for chunk, part in zip(chunks, parts, strict=True):
            vectors[chunk] = part
        return vectors
