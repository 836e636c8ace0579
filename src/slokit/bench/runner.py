"""The load runner: open loop (send on schedule) or closed loop (N users), in one or more processes.

Every time is ``time.monotonic()`` minus the run's start instant (see
:mod:`slokit.bench.schedule` for why that holds across processes). The runner prints nothing:
progress goes to ``on_progress`` (once per completed request), warnings to ``on_warning`` or,
without one, to this module's logger.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from slokit.bench.client import BenchClient, BenchRequest, ClientConfig
from slokit.bench.schedule import (
    ProgressCallback,
    loop_factory,
    run_processes,
    send_on_schedule,
)
from slokit.errors import ConfigError
from slokit.results.record import RequestRecord

_LOG = logging.getLogger(__name__)

#: Schedule lag p99 above which a run is flagged: its offered load was not the one asked for.
DEFAULT_LAG_WARNING_S = 0.005
#: Requests per second one process keeps on schedule, the rule of ``processes="auto"``.
#: Measured with benchmarks/bench_accuracy.py on 2 cores, the emulator beside the runner,
#: short replies: one process held schedule lag p99 <= 5 ms at 1,000/s Poisson (0.9-2.1 ms)
#: and mostly at 2,000/s (1.3-5.9 ms, Poisson bursts fail first); two held 3,000/s Poisson
#: (2.1 ms) where one did not (9.3 ms). 1,500/s per process leaves that margin.
REQUESTS_PER_PROCESS = 1500.0

WarningCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenLoop:
    """Send every request at its scheduled time, whatever the server does.

    ``max_concurrency`` (``None``: unbounded) makes due requests wait for a free slot; the wait
    shows as schedule lag. ``processes`` shards requests round-robin across worker processes
    (the concurrency cap is split among them); ``"auto"`` picks by the peak rate.
    """

    max_concurrency: int | None = None
    processes: int | Literal["auto"] = 1

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1 or None, got {self.max_concurrency}")
        if self.processes != "auto" and (type(self.processes) is not int or self.processes < 1):
            raise ConfigError(f"processes must be >= 1 or 'auto', got {self.processes!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoop:
    """``users`` users, each sending a request, awaiting the reply and thinking, in turn.

    Requests are taken in order from the run's requests (their ``scheduled_s`` is ignored);
    the run ends when they run out, after ``max_requests``, or when ``duration_s`` has passed
    (requests in flight then are completed). ``think_time_s`` returns one think time.
    """

    users: int
    think_time_s: Callable[[], float] | None = None
    duration_s: float | None = None
    max_requests: int | None = None

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ConfigError(f"users must be >= 1, got {self.users}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"duration_s must be > 0 or None, got {self.duration_s}")
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError(f"max_requests must be >= 1 or None, got {self.max_requests}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LagStats:
    """Schedule lag (sent - scheduled) over a run's requests, in seconds."""

    count: int
    mean_s: float
    p50_s: float
    p99_s: float
    max_s: float

    @classmethod
    def of(cls, records: Sequence[RequestRecord]) -> LagStats:
        if not records:
            return cls(count=0, mean_s=0.0, p50_s=0.0, p99_s=0.0, max_s=0.0)
        lags = np.fromiter((r.sent_s - r.scheduled_s for r in records), float, len(records))
        p50, p99 = np.percentile(lags, (50, 99))
        return cls(
            count=len(records),
            mean_s=float(lags.mean()),
            p50_s=float(p50),
            p99_s=float(p99),
            max_s=float(lags.max()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What a run produced: its records in request order and how well it kept its schedule.

    ``start_s`` is the ``time.monotonic()`` instant the records' times count from;
    ``duration_s`` runs from it to the last reply. ``max_in_flight`` is the most requests
    sent and not yet answered at any instant, from the records. ``lag_exceeded`` is true when
    the lag p99 passed the run's threshold; ``warnings`` says so in words.
    """

    records: tuple[RequestRecord, ...]
    start_s: float
    duration_s: float
    lag: LagStats
    lag_exceeded: bool
    warnings: tuple[str, ...]
    processes: int
    max_in_flight: int

    @property
    def end_s(self) -> float:
        """The ``time.monotonic()`` instant of the last reply."""
        return self.start_s + self.duration_s


def run(
    requests: Iterable[BenchRequest],
    client: ClientConfig,
    load: OpenLoop | ClosedLoop,
    *,
    lag_warning_s: float = DEFAULT_LAG_WARNING_S,
    on_progress: ProgressCallback | None = None,
    on_warning: WarningCallback | None = None,
) -> RunResult:
    """Run a load on a fresh event loop (uvloop when installed), in worker processes if asked.

    A closed loop may take an endless iterable (``itertools.cycle``) and stop on its own terms.
    """
    if isinstance(load, OpenLoop):
        requests = requests if isinstance(requests, Sequence) else list(requests)
        processes = plan_processes(requests, load.processes)
        if processes > 1:
            records, start_s = run_processes(
                requests, client, load.max_concurrency, processes, on_progress
            )
            report = _Report(lag_warning_s=lag_warning_s, on_warning=on_warning, load=load)
            return report.result(records, start_s, processes)
        load = OpenLoop(max_concurrency=load.max_concurrency)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(
            run_async(
                requests,
                client,
                load,
                lag_warning_s=lag_warning_s,
                on_progress=on_progress,
                on_warning=on_warning,
            )
        )


async def run_async(
    requests: Iterable[BenchRequest],
    client: ClientConfig,
    load: OpenLoop | ClosedLoop,
    *,
    lag_warning_s: float = DEFAULT_LAG_WARNING_S,
    on_progress: ProgressCallback | None = None,
    on_warning: WarningCallback | None = None,
) -> RunResult:
    """Run a load on the running loop, in this process (an open loop's ``processes`` is 1)."""
    records: list[RequestRecord] = []

    def collect(record: RequestRecord) -> None:
        records.append(record)
        if on_progress is not None:
            on_progress(record)

    start_s = time.monotonic()
    if isinstance(load, ClosedLoop):
        await _run_users(iter(requests), client, load, start_s, collect)
    elif load.processes != 1:
        raise ConfigError("several processes need loops of their own: use slokit.bench.run()")
    else:
        numbered = list(enumerate(requests))
        await send_on_schedule(numbered, client, load.max_concurrency, start_s, collect)
    report = _Report(lag_warning_s=lag_warning_s, on_warning=on_warning, load=load)
    return report.result(records, start_s, 1)


def plan_processes(requests: Sequence[BenchRequest], processes: int | Literal["auto"]) -> int:
    """Worker processes for an open-loop run: ``processes`` itself, or for ``"auto"``
    ``ceil(peak requests in any 1 s window / REQUESTS_PER_PROCESS)``, at most the CPU count."""
    if processes != "auto":
        return processes
    times = np.sort(np.fromiter((r.scheduled_s for r in requests), float, len(requests)))
    if times.size == 0:
        return 1
    peak_per_s = int((np.searchsorted(times, times + 1.0) - np.arange(times.size)).max())
    wanted = math.ceil(peak_per_s / REQUESTS_PER_PROCESS)
    return max(1, min(wanted, os.cpu_count() or 1))


async def _run_users(
    source: Iterator[BenchRequest],
    client: ClientConfig,
    load: ClosedLoop,
    start_s: float,
    on_record: ProgressCallback,
) -> None:
    """The closed loop: a record's schedule is when its user was ready (after thinking)."""
    issued = 0
    stop_s = math.inf if load.duration_s is None else load.duration_s
    limit = math.inf if load.max_requests is None else load.max_requests

    async def user(bench: BenchClient) -> None:
        nonlocal issued
        ready_s = time.monotonic() - start_s
        while issued < limit and ready_s < stop_s:
            request = next(source, None)
            if request is None:
                return
            request_id = issued
            issued += 1
            record = await bench.send(
                request, request_id=request_id, run_start_s=start_s, scheduled_s=ready_s
            )
            on_record(record)
            think_s = load.think_time_s() if load.think_time_s is not None else 0.0
            ready_s = time.monotonic() - start_s + think_s
            if think_s > 0:
                await asyncio.sleep(think_s)

    async with BenchClient(client) as bench:
        await asyncio.gather(*(user(bench) for _ in range(load.users)))


def _max_in_flight(records: Sequence[RequestRecord]) -> int:
    # Ends sort before sends at the same instant: a reply and the next send do not overlap.
    events = sorted([(r.sent_s, 1) for r in records] + [(r.end_s, -1) for r in records])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


@dataclass(frozen=True, slots=True, kw_only=True)
class _Report:
    """Turns a run's records into its result, and warns when the schedule was not kept."""

    lag_warning_s: float
    on_warning: WarningCallback | None
    load: OpenLoop | ClosedLoop

    def result(self, records: list[RequestRecord], start_s: float, processes: int) -> RunResult:
        records.sort(key=lambda record: record.request_id)
        lag = LagStats.of(records)
        warnings: list[str] = []
        exceeded = lag.p99_s > self.lag_warning_s
        if exceeded:
            limit = self.load.max_concurrency if isinstance(self.load, OpenLoop) else None
            cause = (
                "the load generator could not keep up; give it more processes or CPU"
                if limit is None
                else f"requests waited for one of max_concurrency={limit} slots"
            )
            warnings.append(
                f"schedule lag p99 {lag.p99_s * 1e3:.1f} ms exceeds "
                f"{self.lag_warning_s * 1e3:.1f} ms (max {lag.max_s * 1e3:.1f} ms): "
                f"the offered load was lower than planned; {cause}"
            )
        for message in warnings:
            if self.on_warning is None:
                _LOG.warning(message)
            else:
                self.on_warning(message)
        return RunResult(
            records=tuple(records),
            start_s=start_s,
            duration_s=max((r.end_s for r in records), default=0.0),
            lag=lag,
            lag_exceeded=exceeded,
            warnings=tuple(warnings),
            processes=processes,
            max_in_flight=_max_in_flight(records),
        )
