"""Micro-batching: concurrent callers share one call of a batch function in a worker thread.

While a batch runs (off the event loop's back, so it keeps serving), new items queue up; the
next batch takes all of them, up to ``max_batch``. No timer is involved: under load batches
grow by themselves, and a lone caller waits for nothing. The cache batches embeddings with it
(:class:`slokit.cache.batching.MicroBatcher`, whose batch runs as several passes at once), the
router its scoring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from slokit.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


class BatchCaller(Generic[T, R]):
    """``await call(item)`` from many tasks; ``function`` gets them in batches, in order.

    ``function`` maps a list of items to as many results, in order; it runs in a worker
    thread. :meth:`awaiting` takes a coroutine function instead, awaited on the loop.
    ``batch_sizes`` keeps the size of every batch run (for tests and benchmarks).
    """

    __slots__ = ("_max_batch", "_pending", "_run", "_worker", "batch_sizes")

    def __init__(self, function: Callable[[list[T]], Iterable[R]], *, max_batch: int = 64) -> None:
        self._setup(lambda items: asyncio.to_thread(function, items), max_batch)

    @classmethod
    def awaiting(
        cls, function: Callable[[list[T]], Awaitable[Iterable[R]]], *, max_batch: int = 64
    ) -> BatchCaller[T, R]:
        """Batches for ``function``, awaited on the loop (it may use threads of its own)."""
        caller = cls.__new__(cls)
        caller._setup(function, max_batch)
        return caller

    def _setup(self, run: Callable[[list[T]], Awaitable[Iterable[R]]], max_batch: int) -> None:
        if max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {max_batch}")
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []

    async def call(self, item: T) -> R:
        """The result for ``item``, computed together with whatever else is waiting."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            live = [(item, future) for item, future in batch if not future.cancelled()]
            if not live:
                continue
            self.batch_sizes.append(len(live))
            try:
                results = await self._run([item for item, _ in live])
            except Exception as error:  # noqa: BLE001 - handed to every waiter of the batch
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for result, (_, future) in zip(results, live, strict=True):
                if not future.done():
                    future.set_result(result)
