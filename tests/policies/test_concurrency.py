"""The adaptive concurrency limit: Little's law budget, knee finding, service quantile."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.clock import ManualClock
from slokit.errors import ConfigError
from slokit.policies import (
    ConcurrencyConfig,
    ConcurrencyLimit,
)


def saturate(limit: ConcurrencyLimit) -> None:
    while limit.try_acquire():
        pass


def test_limit_holds_slots_and_frees_them() -> None:
    limit = ConcurrencyLimit(ConcurrencyConfig(latency_budget_s=1.0, initial_limit=2))
    assert limit.try_acquire()
    assert limit.try_acquire()
    assert not limit.try_acquire()
    limit.release()
    assert limit.in_flight == 1
    with pytest.raises(ValueError, match="release"):
        ConcurrencyLimit(ConcurrencyConfig(latency_budget_s=1.0)).release()


def test_limit_shrinks_when_service_exceeds_the_budget() -> None:
    limit = ConcurrencyLimit(ConcurrencyConfig(latency_budget_s=1.0, initial_limit=40))
    saturate(limit)
    limit.release(2.0)  # limit * B / S = 20
    assert limit.limit == 20
    assert limit.service_time_s == pytest.approx(2.0)


def test_limit_grows_only_while_it_is_what_holds_requests_back() -> None:
    config = ConcurrencyConfig(latency_budget_s=2.0, initial_limit=10, smoothing=1.0)
    idle = ConcurrencyLimit(config)
    idle.try_acquire()
    idle.release(0.5)
    assert idle.limit == 10
    busy = ConcurrencyLimit(config)
    for _ in range(20):  # a round filling the slots, then a measured one
        saturate(busy)
        busy.release(0.5)
    assert busy.limit == 11  # far within budget, yet a probe is one request: no overshoot


def service_at(concurrency: int) -> float:
    """A batching server: each request takes longer the more share the batch."""
    return 0.2 + 0.05 * concurrency


def test_limit_settles_at_the_knee_within_the_budget() -> None:
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=1.2, initial_limit=4, smoothing=0.3)
    )
    for _ in range(400):
        saturate(limit)
        limit.release(service_at(limit.in_flight + 1))
    # Each request runs with n + 1 sharing: X(n) = n / (0.25 + 0.05 n), and one more request
    # adds 0.25 / (n (0.3 + 0.05 n)) of throughput, at least probe_gain / n up to n = 14 only;
    # the budget (0.25 + 0.05 n <= 1.2) would allow 19.
    assert 13 <= limit.limit <= 15
    assert service_at(limit.limit + 1) <= 1.2


def batching(concurrency: int) -> float:
    """A server that batches 8: each step costs more per sequence; beyond 8, requests queue."""
    step_s = 0.010 + 0.0025 * min(concurrency, 8)
    return 32 * step_s * max(1.0, concurrency / 8)


def one_at_a_time(concurrency: int) -> float:
    return 0.5 * concurrency


def run_saturated(
    limit: ConcurrencyLimit, service_at: Callable[[int], float], seconds: float
) -> list[int]:
    """Keep every slot taken (an overloaded queue in front) on a ManualClock; the limits seen.

    Each request's service time is the server's at the concurrency it started under.
    """
    clock = ManualClock()
    running: list[tuple[float, float]] = []  # (finish, start), a heap
    limits = []
    while clock.now() < seconds:
        while limit.try_acquire():
            start_s = clock.now()
            heapq.heappush(running, (start_s + service_at(limit.in_flight), start_s))
        finish_s, start_s = heapq.heappop(running)
        clock.advance(finish_s - clock.now())
        limit.release(clock.now() - start_s)
        limits.append(limit.limit)
    return limits


@pytest.mark.parametrize("initial", [1, 8, 30])
def test_limit_finds_the_knee_of_a_batching_server(initial: int) -> None:
    # Up to 8 at once the server's throughput grows; beyond, service time grows with no gain.
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=1.5, initial_limit=initial, max_limit=64, per_round=True)
    )
    limits = run_saturated(limit, batching, 300.0)
    late = limits[len(limits) // 2 :]
    assert min(late) >= 7
    assert max(late) <= 9
    assert sum(late) / len(late) == pytest.approx(8, abs=0.5)
    assert limit.throughput_per_s == pytest.approx(8 / batching(8), rel=0.05)


def test_limit_shrinks_when_service_time_grows_without_throughput() -> None:
    # One request at a time: each extra one only adds its own service time to everyone's.
    limit = ConcurrencyLimit(ConcurrencyConfig(latency_budget_s=10.0, initial_limit=6))
    limits = run_saturated(limit, one_at_a_time, 200.0)
    assert max(limits) <= 7
    assert limits[-40:].count(1) > 30


def test_a_slower_upstream_shrinks_the_limit_at_once() -> None:
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=1.0, initial_limit=16, per_round=True)
    )
    run_saturated(limit, lambda n: 0.05 * n, 30.0)  # within budget
    before = limit.limit
    run_saturated(limit, lambda n: 0.25 * n, 10.0)  # five times slower: 16 x 0.25 > 1 s
    assert limit.limit <= min(before, 4)


@settings(max_examples=60)
@given(services=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=50))
def test_limit_stays_within_its_bounds(services: list[float]) -> None:
    config = ConcurrencyConfig(latency_budget_s=1.0, initial_limit=8, min_limit=2, max_limit=64)
    limit = ConcurrencyLimit(config)
    for service in services:
        saturate(limit)
        limit.release(service)
        assert 2 <= limit.limit <= 64


def test_limit_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="latency_budget_s"):
        ConcurrencyConfig(latency_budget_s=0)
    with pytest.raises(ConfigError, match="initial_limit"):
        ConcurrencyConfig(latency_budget_s=1, initial_limit=5000)
    with pytest.raises(ConfigError, match="quantile"):
        ConcurrencyConfig(latency_budget_s=1, quantile=0.0)
    with pytest.raises(ConfigError, match="window"):
        ConcurrencyConfig(latency_budget_s=1, window=0)
    with pytest.raises(ConfigError, match="probe_gain"):
        ConcurrencyConfig(latency_budget_s=1, probe_gain=1.5)
    with pytest.raises(ConfigError, match="hold_rounds"):
        ConcurrencyConfig(latency_budget_s=1, hold_rounds=-1)


def test_a_fixed_limit_keeps_its_size_but_still_learns_the_service_time() -> None:
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=1.0, initial_limit=4, adaptive=False)
    )
    for service_s in (5.0, 5.0, 0.01):
        assert limit.try_acquire()
        limit.release(service_s)
    assert limit.limit == 4
    assert limit.service_time_s is not None
    assert limit.service_time_s > 1.0


def rounds(limit: ConcurrencyLimit, service_s: float, count: int = 1) -> None:
    """``count`` rounds of ``limit`` completions, every slot taken."""
    for _ in range(count):
        for _ in range(limit.limit):
            saturate(limit)
            limit.release(service_s)


def test_per_round_moves_the_limit_once_per_round_of_completions() -> None:
    config = ConcurrencyConfig(latency_budget_s=1.0, initial_limit=4, per_round=True)
    limit = ConcurrencyLimit(config)
    rounds(limit, 0.1)  # the first round fills the slots: not measured
    for _ in range(3):
        saturate(limit)
        limit.release(0.1)  # saturated, well within budget
        assert limit.limit == 4  # not yet: a round is 4 completions
    saturate(limit)
    limit.release(0.1)
    assert limit.limit == 5  # a probe: one more
    assert limit.throughput_per_s == pytest.approx(40.0)  # 4 in service / 0.1 s


def test_a_probe_that_buys_no_throughput_is_undone() -> None:
    config = ConcurrencyConfig(latency_budget_s=10.0, initial_limit=2, hold_rounds=3)
    limit = ConcurrencyLimit(config)
    rounds(limit, 1.0, 2)  # filled, then measured: 2 per second; probe 3
    assert limit.limit == 3
    rounds(limit, 1.5)  # settling: the round after a move is not measured
    assert limit.limit == 3
    rounds(limit, 1.5)  # 3 / 1.5 s: still 2 per second, the probe did not pay
    assert limit.limit == 2
    rounds(limit, 1.0, 4)  # settle, then hold three rounds
    assert limit.limit == 2
    rounds(limit, 1.0)  # then probe the other way
    assert limit.limit == 1
    rounds(limit, 0.5, 2)  # settle; 1 / 0.5 s: 2 per second, nothing lost: kept
    assert limit.limit == 1
    assert limit.throughput_per_s == pytest.approx(2.0)


def test_service_quantile_is_the_nearest_rank_of_a_sliding_window() -> None:
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=5.0, quantile=0.9, window=10, adaptive=False)
    )
    assert limit.service_quantile_s is None
    limit.try_acquire()
    limit.release(2.0)
    assert limit.service_quantile_s == 2.0  # one reply: the slowest so far
    for service_s in (1.0,) * 8 + (3.0, 4.0):
        limit.try_acquire()
        limit.release(service_s)
    assert limit.service_quantile_s == 3.0  # the 9th smallest of 10
    assert limit.service_time_s is not None
    assert limit.service_time_s < 2.0  # the mean hides the tail
    for _ in range(10):  # the window forgets the slow ones
        limit.try_acquire()
        limit.release(1.0)
    assert limit.service_quantile_s == 1.0


@settings(max_examples=60)
@given(
    services=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=80),
    quantile=st.floats(0.01, 1.0),
)
def test_service_quantile_lies_within_the_window(services: list[float], quantile: float) -> None:
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=1.0, quantile=quantile, window=16, adaptive=False)
    )
    for service_s in services:
        limit.try_acquire()
        limit.release(service_s)
    recent = services[-16:]
    value = limit.service_quantile_s
    enough = 16 if quantile == 1.0 else min(16, math.ceil(1 / (1 - quantile)))
    assert value in recent
    if len(recent) < enough:
        assert value == max(recent)  # too few replies to tell a tail: plan on the slowest
    assert sum(1 for s in recent if s <= value) >= quantile * len(recent)
