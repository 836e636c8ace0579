import itertools
import os
import time
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from slokit.bench import (
    BenchRequest,
    ClientConfig,
    ClosedLoop,
    OpenLoop,
    RunResult,
    plan_processes,
    run,
    run_async,
)
from slokit.bench.runner import REQUESTS_PER_PROCESS
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process, serve_emulator
from slokit.errors import ConfigError

BODY = {"model": "m", "prompt": "hello", "max_tokens": 1}


def at_rate(count: int, rate_per_s: float, *, stream: bool = False) -> list[BenchRequest]:
    body = {**BODY, "stream": stream}
    return [
        BenchRequest(scheduled_s=index / rate_per_s, endpoint="completions", body=body)
        for index in range(count)
    ]


def slow_server(reply_s: float = 0.2) -> EmulatorConfig:
    return EmulatorConfig(timing=FixedTiming(ttft_s=reply_s, itl_s=0.0, output_tokens=1))


def lags_s(result: RunResult) -> list[float]:
    return [record.schedule_lag_s for record in result.records]


@pytest.mark.asyncio
async def test_open_loop_keeps_its_schedule_whatever_the_server_does() -> None:
    progressed: list[int] = []
    async with serve_emulator(slow_server()) as running:
        result = await run_async(
            at_rate(50, 100.0),
            ClientConfig(base_url=running.base_url),
            OpenLoop(),
            on_progress=lambda record: progressed.append(record.request_id),
        )
    assert [record.request_id for record in result.records] == list(range(50))
    assert sorted(progressed) == list(range(50))
    assert all(record.ok for record in result.records)
    # 200 ms replies at 100 requests/s: about 20 in flight at once, server and client agree.
    assert running.stats.max_in_flight >= 15
    assert result.max_in_flight >= 15
    assert result.lag.p50_s < 0.003
    assert min(lags_s(result)) > -0.0005  # never sent early
    assert result.duration_s == pytest.approx(0.49 + 0.2, abs=0.05)
    assert result.lag.count == 50
    assert result.processes == 1


@pytest.mark.asyncio
async def test_a_concurrency_cap_shows_as_growing_lag_and_a_warning() -> None:
    warnings: list[str] = []
    async with serve_emulator(slow_server(0.05)) as running:
        result = await run_async(
            at_rate(12, 100.0),
            ClientConfig(base_url=running.base_url),
            OpenLoop(max_concurrency=2),
            on_warning=warnings.append,
        )
    assert running.stats.max_in_flight == 2
    assert result.max_in_flight == 2
    # Two slots, 50 ms each: request i is sent near 25 ms * i, scheduled at 10 ms * i.
    assert lags_s(result)[-1] == pytest.approx(11 * 0.015, abs=0.02)
    assert result.lag_exceeded
    assert warnings == list(result.warnings)
    assert "max_concurrency=2" in warnings[0]


@pytest.mark.asyncio
async def test_closed_loop_never_exceeds_its_users() -> None:
    think_times = itertools.cycle([0.0, 0.004])
    async with serve_emulator(slow_server(0.01)) as running:
        result = await run_async(
            itertools.repeat(at_rate(1, 1.0)[0]),
            ClientConfig(base_url=running.base_url),
            ClosedLoop(users=3, think_time_s=lambda: next(think_times), max_requests=30),
        )
    assert len(result.records) == 30
    assert running.stats.requests == 30
    assert running.stats.max_in_flight == 3
    assert result.max_in_flight <= 3
    assert result.lag.p50_s < 0.003


@pytest.mark.asyncio
async def test_closed_loop_stops_after_its_duration() -> None:
    async with serve_emulator(slow_server(0.02)) as running:
        result = await run_async(
            at_rate(1000, 1.0),
            ClientConfig(base_url=running.base_url),
            ClosedLoop(users=2, duration_s=0.2),
        )
    # Two users, 20 ms per request, 0.2 s: about 20 requests, none sent after the end.
    assert 10 <= len(result.records) <= 22
    assert max(record.scheduled_s for record in result.records) < 0.2


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[str]:
    with run_emulator_process(slow_server(0.005)) as base_url:
        yield base_url


def served_requests(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url.removesuffix('/v1')}/stats") as response:
        return int(orjson.loads(response.read())["requests"])


def test_several_processes_return_every_record_once_in_order_on_one_clock(
    emulator_process: str,
) -> None:
    requests = at_rate(240, 400.0, stream=True)
    seen: list[int] = []
    served_before = served_requests(emulator_process)
    before_s = time.monotonic()
    result = run(
        requests,
        ClientConfig(base_url=emulator_process),
        OpenLoop(processes=2),
        on_progress=lambda record: seen.append(record.request_id),
    )
    assert result.processes == 2
    assert [record.request_id for record in result.records] == list(range(240))
    assert sorted(seen) == list(range(240))
    assert served_requests(emulator_process) - served_before == 240
    assert all(record.ok for record in result.records)
    # Both workers' times count from the parent's start instant: each request went out on
    # its own schedule, and the run started after the parent called run().
    assert result.start_s > before_s
    assert min(lags_s(result)) > -0.0005
    assert sorted(lags_s(result))[len(requests) // 2] < 0.003
    for record in result.records:
        assert record.scheduled_s == requests[record.request_id].scheduled_s
        assert record.sent_s <= record.first_token_s <= record.end_s  # type: ignore[operator]


def test_auto_processes_follow_the_peak_rate() -> None:
    assert plan_processes(at_rate(100, 10.0), "auto") == 1
    assert plan_processes([], "auto") == 1
    burst = at_rate(int(REQUESTS_PER_PROCESS * 2.5), REQUESTS_PER_PROCESS * 100)
    assert plan_processes(burst, "auto") == min(3, os.cpu_count() or 1)
    assert plan_processes(burst, 4) == 4


def test_loads_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        OpenLoop(max_concurrency=0)
    with pytest.raises(ConfigError, match="processes"):
        OpenLoop(processes=0)
    with pytest.raises(ConfigError, match="users"):
        ClosedLoop(users=0)
    with pytest.raises(ConfigError, match="duration_s"):
        ClosedLoop(users=1, duration_s=0)


@pytest.mark.asyncio
async def test_run_async_refuses_processes() -> None:
    with pytest.raises(ConfigError, match="processes"):
        await run_async([], ClientConfig(base_url="http://127.0.0.1:9/v1"), OpenLoop(processes=2))


def test_run_drives_a_closed_loop_from_an_endless_source(emulator_process: str) -> None:
    result = run(
        itertools.cycle(at_rate(3, 1.0)),
        ClientConfig(base_url=emulator_process),
        ClosedLoop(users=4, max_requests=40),
    )
    assert [record.request_id for record in result.records] == list(range(40))
    assert result.max_in_flight <= 4
    assert not result.lag_exceeded
