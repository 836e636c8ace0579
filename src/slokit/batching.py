"""Micro-batching: concurrent callers share one call of a batch function in a worker thread.

While a batch runs (in a thread, so the event loop keeps serving), new items queue up; the
next batch takes all of them, up to ``max_batch``. No timer is involved: under load batches
grow by themselves, and a lone caller waits for nothing. The cache batches embeddings with it,
the router its scoring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from slokit.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


class BatchCaller(Generic[T, R]):
    """``await call(item)`` from many tasks; ``function`` gets them in batches, in order.

    ``function`` maps a list of items to a sequence of results of the same length.
    ``batch_sizes`` keeps the size of every batch run (for tests and benchmarks).
    """

    __slots__ = ("_function", "_max_batch", "_pending", "_worker", "batch_sizes")

    def __init__(self, function: Callable[[list[T]], Sequence[R]], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {max_batch}")
        self._function = function
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
                results = await asyncio.to_thread(self._function, [item for item, _ in live])
            except Exception as error:  # noqa: BLE001 - handed to every waiter of the batch
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for result, (_, future) in zip(results, live, strict=True):
                if not future.done():
                    future.set_result(result)
