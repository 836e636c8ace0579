"""Open-loop sending: each request at its scheduled time, in this process or sharded across
worker processes when one event loop cannot keep up.

Clocks: every time is ``time.monotonic()`` minus the run's start instant. On Linux that is
``CLOCK_MONOTONIC`` (``time.get_clock_info("monotonic")``), one clock for the whole system,
so worker processes given the same start instant produce times on one axis
(``tests/bench/test_runner.py`` checks it).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from slokit.bench.client import BenchClient, BenchRequest, ClientConfig
from slokit.results.record import RequestRecord

ProgressCallback = Callable[[RequestRecord], None]

#: Head start between the workers' "ready" and the common start instant, so that the start
#: message has reached every worker before the first request is due.
_WORKER_START_DELAY_S = 0.2
_WORKER_READY_TIMEOUT_S = 60.0
#: Workers send their records in batches at most this often (progress granularity).
_WORKER_FLUSH_S = 0.1
_MAX_SLEEPS = 4


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when installed, else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415  (optional: the standard loop works, only slower)
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def send_on_schedule(
    numbered: list[tuple[int, BenchRequest]],
    client: ClientConfig,
    max_concurrency: int | None,
    start_s: float,
    on_record: ProgressCallback,
) -> None:
    """Send each ``(request_id, request)`` at ``start_s + scheduled_s`` (monotonic seconds);
    with ``max_concurrency`` a due request first waits for one of that many slots."""
    numbered.sort(key=lambda pair: pair[1].scheduled_s)
    slots = asyncio.Semaphore(max_concurrency) if max_concurrency is not None else None
    pending: set[asyncio.Task[None]] = set()
    clock = time.monotonic

    async with BenchClient(client) as bench:

        async def one(request_id: int, request: BenchRequest) -> None:
            try:
                on_record(await bench.send(request, request_id=request_id, run_start_s=start_s))
            finally:
                if slots is not None:
                    slots.release()

        for request_id, request in numbered:
            due_s = start_s + request.scheduled_s
            # uvloop keeps time in whole milliseconds and may wake up to 1 ms early: sleep
            # again for the rest (a sub-millisecond sleep is one more loop iteration).
            for _ in range(_MAX_SLEEPS):
                delay_s = due_s - clock()
                if delay_s <= 0:
                    break
                await asyncio.sleep(delay_s)
            if slots is not None:
                await slots.acquire()
            task = asyncio.create_task(one(request_id, request))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)


def run_processes(
    requests: Sequence[BenchRequest],
    client: ClientConfig,
    max_concurrency: int | None,
    processes: int,
    on_progress: ProgressCallback | None,
) -> tuple[list[RequestRecord], float]:
    """Shard request ``i`` to worker ``i % processes``; all start at one monotonic instant."""
    context = multiprocessing.get_context("spawn")  # a fork would copy the parent's loop state
    workers: dict[Connection, BaseProcess] = {}
    try:
        for worker in range(processes):
            shard = [(i, requests[i]) for i in range(worker, len(requests), processes)]
            share = None
            if max_concurrency is not None:
                extra = 1 if worker < max_concurrency % processes else 0
                share = max(1, max_concurrency // processes + extra)
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_worker, args=(shard, client, share, child_end), daemon=True
            )
            process.start()
            child_end.close()
            workers[parent_end] = process
        for pipe, started in workers.items():
            if not pipe.poll(_WORKER_READY_TIMEOUT_S):
                raise ChildProcessError(f"bench worker {started.pid} did not start in time")
            pipe.recv()
        start_s = time.monotonic() + _WORKER_START_DELAY_S
        for pipe in workers:
            pipe.send(start_s)
        return _gather(workers, on_progress), start_s
    finally:
        for pipe, started in workers.items():
            pipe.close()
            started.join(1.0)
            if started.is_alive():
                started.terminate()
                started.join()


def _gather(
    workers: dict[Connection, BaseProcess], on_progress: ProgressCallback | None
) -> list[RequestRecord]:
    """Records from the workers' pipes, as they come, until each has said it is done."""
    records: list[RequestRecord] = []
    open_pipes = dict(workers)
    while open_pipes:
        for pipe in wait(list(open_pipes)):
            if not isinstance(pipe, Connection):
                continue
            try:
                batch: list[RequestRecord] | None = pipe.recv()
            except EOFError:
                process = open_pipes[pipe]
                process.join()
                raise ChildProcessError(
                    f"bench worker {process.pid} exited early (code {process.exitcode})"
                ) from None
            if batch is None:
                del open_pipes[pipe]
                continue
            records.extend(batch)
            if on_progress is not None:
                for record in batch:
                    on_progress(record)
    return records


def _worker(
    shard: list[tuple[int, BenchRequest]],
    client: ClientConfig,
    max_concurrency: int | None,
    pipe: Connection,
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    batch: list[RequestRecord] = []
    flushed_s = time.monotonic()

    def on_record(record: RequestRecord) -> None:
        nonlocal flushed_s
        batch.append(record)
        now_s = time.monotonic()
        if now_s - flushed_s >= _WORKER_FLUSH_S:
            pipe.send(batch[:])
            batch.clear()
            flushed_s = now_s

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        pipe.send("ready")
        start_s: float = pipe.recv()
        runner.run(send_on_schedule(shard, client, max_concurrency, start_s, on_record))
    pipe.send(batch)
    pipe.send(None)
    pipe.close()
