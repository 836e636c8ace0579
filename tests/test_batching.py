"""BatchCaller: concurrent callers share batches, get their own results, and see errors."""

from __future__ import annotations

import asyncio
import threading

import pytest

from slokit.batching import BatchCaller
from slokit.errors import ConfigError


def test_callers_waiting_behind_a_batch_share_the_next_one() -> None:
    release = threading.Event()
    seen: list[list[int]] = []

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def double(items: list[int]) -> list[int]:
            seen.append(items)
            if len(seen) == 1:
                loop.call_soon_threadsafe(started.set)
                release.wait(5)  # the first batch runs until every other caller has queued
            return [2 * item for item in items]

        caller: BatchCaller[int, int] = BatchCaller(double, max_batch=4)
        first = asyncio.create_task(caller.call(0))
        await started.wait()
        rest = [asyncio.create_task(caller.call(i)) for i in range(1, 7)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(first, *rest)
        assert caller.batch_sizes == [1, 4, 2]
        return results

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10, 12]
    assert seen == [[0], [1, 2, 3, 4], [5, 6]]


def test_an_error_reaches_every_caller_of_its_batch_only() -> None:
    def fail_on_three(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three")
        return items

    async def main() -> tuple[object, ...]:
        caller: BatchCaller[int, int] = BatchCaller(fail_on_three, max_batch=2)
        results = await asyncio.gather(
            *(caller.call(i) for i in range(1, 5)), return_exceptions=True
        )
        later = await caller.call(5)
        return (*results, later)

    first, second, third, fourth, later = asyncio.run(main())
    # All four queue before the first batch starts: [1, 2] succeeds, [3, 4] fails together.
    assert (first, second, later) == (1, 2, 5)
    assert isinstance(third, ValueError)
    assert isinstance(fourth, ValueError)


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        BatchCaller(list, max_batch=0)


def test_an_awaited_batch_function_runs_on_the_loop_and_batches_alike() -> None:
    threads: list[threading.Thread] = []

    async def main() -> list[int]:
        gate = asyncio.Event()

        async def square(items: list[int]) -> list[int]:
            threads.append(threading.current_thread())
            await gate.wait()  # the first batch holds until every other caller has queued
            return [item * item for item in items]

        caller: BatchCaller[int, int] = BatchCaller.awaiting(square, max_batch=3)
        calls = [asyncio.create_task(caller.call(i)) for i in range(5)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*calls)
        assert caller.batch_sizes == [3, 2]
        return results

    assert asyncio.run(main()) == [0, 1, 4, 9, 16]
    assert threads == [threading.main_thread()] * 2


def test_an_awaited_batch_function_checks_max_batch_too() -> None:
    async def same(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ConfigError, match="max_batch"):
        BatchCaller.awaiting(same, max_batch=0)
