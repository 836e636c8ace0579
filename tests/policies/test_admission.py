"""Admission parts: concurrency limit by Little's law, priority queue, shedding, token buckets."""

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
    AdmissionQueue,
    ConcurrencyConfig,
    ConcurrencyLimit,
    RateLimiter,
    TenantLimits,
    TokenBucket,
    predicted_wait_s,
    shed_decision,
)

# ------------------------------------------------------------------------ concurrency limit


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


# ------------------------------------------------------------------------ queue


def test_queue_orders_by_priority_then_deadline_then_arrival() -> None:
    queue: AdmissionQueue[str] = AdmissionQueue(10)
    queue.push("late", priority=1, deadline_s=5.0)
    queue.push("batch", priority=2, deadline_s=1.0)
    queue.push("urgent", priority=1, deadline_s=2.0)
    queue.push("urgent-too", priority=1, deadline_s=2.0)
    queue.push("vip", priority=0)
    order = [queue.pop().item for _ in range(len(queue))]
    assert order == ["vip", "urgent", "urgent-too", "late", "batch"]


def test_a_full_queue_sheds_its_worst_entry() -> None:
    queue: AdmissionQueue[str] = AdmissionQueue(2)
    assert queue.push("a", priority=1) is None
    assert queue.push("b", priority=2) is None
    assert queue.push("c", priority=3) == "c"  # worse than all: refused
    assert queue.push("d", priority=0) == "b"  # better: evicts the worst
    assert [queue.pop().item for _ in range(2)] == ["d", "a"]
    assert AdmissionQueue[str](0).push("x") == "x"


def test_queue_removes_a_withdrawn_item() -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(5)
    for item in range(4):
        queue.push(item, deadline_s=float(item))
    assert queue.remove(2)
    assert not queue.remove(9)
    assert [queue.pop().item for _ in range(3)] == [0, 1, 3]


@given(
    entries=st.lists(st.tuples(st.integers(0, 3), st.floats(0, 100)), max_size=40),
    capacity=st.integers(0, 20),
)
def test_queue_never_exceeds_capacity_and_keeps_the_best(
    entries: list[tuple[int, float]], capacity: int
) -> None:
    queue: AdmissionQueue[int] = AdmissionQueue(capacity)
    shed = []
    for item, (priority, deadline) in enumerate(entries):
        dropped = queue.push(item, priority=priority, deadline_s=deadline)
        if dropped is not None:
            shed.append(dropped)
        assert len(queue) <= capacity
    assert len(queue) + len(shed) == len(entries)
    kept = sorted((entries[i][0], entries[i][1], i) for i in range(len(entries)))[:capacity]
    popped = [queue.pop().item for _ in range(len(queue))]
    assert popped == [i for _, _, i in kept]


# ------------------------------------------------------------------------ shedding


def test_predicted_wait_is_the_backlog_over_the_departure_rate() -> None:
    # 10 slots all busy, 1 s each: slots free at 10/s; 4 ahead -> the 5th departure, 0.5 s.
    assert predicted_wait_s(queued_ahead=4, in_flight=10, limit=10, service_time_s=1.0) == 0.5
    assert predicted_wait_s(queued_ahead=0, in_flight=3, limit=10, service_time_s=1.0) == 0.0


@given(
    ahead=st.integers(0, 100),
    in_flight=st.integers(0, 50),
    limit=st.integers(1, 50),
    service=st.floats(0.0, 10.0),
)
def test_predicted_wait_grows_with_the_queue(
    ahead: int, in_flight: int, limit: int, service: float
) -> None:
    shorter = predicted_wait_s(
        queued_ahead=ahead, in_flight=in_flight, limit=limit, service_time_s=service
    )
    longer = predicted_wait_s(
        queued_ahead=ahead + 1, in_flight=in_flight, limit=limit, service_time_s=service
    )
    assert 0.0 <= shorter <= longer


def test_shed_when_the_wait_exceeds_the_remaining_budget_with_a_retry_after() -> None:
    admitted = shed_decision(predicted_wait_s=0.4, remaining_budget_s=0.5)
    assert admitted.admit
    assert admitted.retry_after_s == 0.0
    shed = shed_decision(predicted_wait_s=4.0, remaining_budget_s=1.5)
    assert not shed.admit
    assert shed.retry_after_s == pytest.approx(2.5)
    assert shed_decision(predicted_wait_s=1.1, remaining_budget_s=1.0).retry_after_s == 1.0


# ------------------------------------------------------------------------ token buckets


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate_per_s=10.0, burst=5.0, now_s=clock.now())
    assert bucket.take(5.0, clock.now())
    assert not bucket.take(1.0, clock.now())
    assert bucket.wait_s(1.0, clock.now()) == pytest.approx(0.1)
    clock.advance(0.25)
    assert bucket.level(clock.now()) == pytest.approx(2.5)
    clock.advance(10.0)
    assert bucket.level(clock.now()) == 5.0
    assert math.isinf(bucket.wait_s(6.0, clock.now()))


@settings(max_examples=60)
@given(
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=80),
    rate=st.floats(0.5, 20.0),
    burst=st.floats(1.0, 20.0),
)
def test_bucket_never_grants_more_than_burst_plus_rate_times_time(
    gaps: list[float], rate: float, burst: float
) -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate_per_s=rate, burst=burst)
    granted = 0
    for gap in gaps:
        clock.advance(gap)
        granted += bucket.take(1.0, clock.now())
    assert granted <= burst + rate * clock.now() + 1e-9


def test_tenant_limits_take_both_buckets_or_neither() -> None:
    clock = ManualClock()
    limiter = RateLimiter(
        {"small": TenantLimits(requests_per_s=2.0, tokens_per_s=100.0, token_burst=300.0)},
        default=TenantLimits(requests_per_s=100.0),
    )
    assert limiter.check("small", 250, clock.now()).allowed
    refused = limiter.check("small", 100, clock.now())
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.5)  # 50 tokens left, 50 more at 100/s
    clock.advance(0.5)
    assert limiter.check("small", 100, clock.now()).allowed
    # The request bucket was not drained by the refusal: 2 requests fit in its 2 s burst.
    clock.advance(10.0)
    assert limiter.check("small", 1, clock.now()).allowed
    assert limiter.check("small", 1, clock.now()).allowed
    assert not limiter.check("small", 1, clock.now()).allowed
    assert all(limiter.check("other", 10**6, clock.now()).allowed for _ in range(50))


def test_settle_charges_the_tokens_learned_later() -> None:
    limiter = RateLimiter(default=TenantLimits(tokens_per_s=10.0, token_burst=10.0))
    assert limiter.check("t", 10, 0.0).allowed
    limiter.settle("t", 5, 0.0)  # the reply was 5 tokens longer than asked
    # Level at 0.9 s: -5 + 9 = 4, one token short of 5 at 10/s.
    assert limiter.check("t", 5, 0.9).retry_after_s == pytest.approx(0.1)
    assert limiter.check("t", 5, 1.5).allowed


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


def test_ahead_of_counts_the_entries_served_before_a_newcomer() -> None:
    queue: AdmissionQueue[str] = AdmissionQueue(10)
    queue.push("batch", priority=2, deadline_s=1.0)
    queue.push("standard-late", priority=1, deadline_s=9.0)
    queue.push("interactive", priority=0, deadline_s=5.0)
    assert queue.ahead_of(priority=0, deadline_s=1.0) == 0
    assert queue.ahead_of(priority=1, deadline_s=2.0) == 1
    assert queue.ahead_of(priority=1, deadline_s=9.0) == 2
    assert queue.ahead_of(priority=2, deadline_s=0.5) == 2
    assert queue.ahead_of(priority=3) == len(queue)


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


# ------------------------------------------------------------------------ service quantile


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


def test_a_tail_the_mean_hides_sheds_a_request_that_would_miss_its_deadline() -> None:
    # One slot, an SLO of 4 s, service mostly 1 s with one slow reply of 2.5 s in ten.
    clock = ManualClock()
    limit = ConcurrencyLimit(
        ConcurrencyConfig(latency_budget_s=4.0, initial_limit=1, window=10, adaptive=False)
    )
    for service_s in (1.0,) * 9 + (2.5,):
        assert limit.try_acquire()
        started_s = clock.now()
        clock.advance(service_s)
        limit.release(clock.now() - started_s)
    assert limit.try_acquire()  # the slot is busy again; a newcomer arrives
    budget_s = 4.0

    def admits(service_s: float) -> bool:
        wait_s = predicted_wait_s(
            queued_ahead=0, in_flight=limit.in_flight, limit=limit.limit, service_time_s=service_s
        )
        left_s = budget_s - service_s
        return shed_decision(predicted_wait_s=wait_s, remaining_budget_s=left_s).admit

    mean_s, tail_s = limit.service_time_s, limit.service_quantile_s
    assert mean_s is not None
    assert tail_s == 2.5
    assert admits(mean_s)  # by the mean it would fit: 1.15 s wait + 1.15 s service
    assert not admits(tail_s)  # at the p95 it cannot: 2.5 s wait + 2.5 s service > 4 s
