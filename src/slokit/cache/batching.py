"""Micro-batching: concurrent lookups share one embedding forward pass.

While a batch is being embedded (in a worker thread, so the event loop keeps running), new
texts queue up; the next batch takes all of them, up to ``max_batch``. No timer is involved:
under load batches grow by themselves, and a lone request waits for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from slokit.cache.embedder import Embedder
from slokit.cache.store import Vector
from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchingConfig:
    """Largest batch handed to the embedder in one call."""

    max_batch: int = 64

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}")


class MicroBatcher:
    """Wraps an :class:`Embedder`; ``await embed_one(text)`` from many tasks at once."""

    __slots__ = ("_config", "_embedder", "_pending", "_worker", "batch_sizes")

    def __init__(self, embedder: Embedder, config: BatchingConfig | None = None) -> None:
        self._embedder = embedder
        self._config = config or BatchingConfig()
        self._pending: list[tuple[str, asyncio.Future[Vector]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions

    def embed(self, texts: Sequence[str]) -> Vector:
        """The wrapped embedder, called directly (for synchronous callers)."""
        return self._embedder.embed(texts)

    async def embed_one(self, text: str) -> Vector:
        """The vector of ``text``, embedded together with whatever else is waiting."""
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._config.max_batch]
            del self._pending[: len(batch)]
            live = [(text, future) for text, future in batch if not future.cancelled()]
            if not live:
                continue
            self.batch_sizes.append(len(live))
            try:
                vectors = await asyncio.to_thread(self._embedder.embed, [t for t, _ in live])
            except Exception as error:  # noqa: BLE001 - handed to every waiter of the batch
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for row, (_, future) in enumerate(live):
                if not future.done():
                    future.set_result(vectors[row])
