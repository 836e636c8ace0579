"""The admission queue, the predicted wait and the shedding decision."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.clock import ManualClock
from slokit.policies import (
    AdmissionQueue,
    ConcurrencyConfig,
    ConcurrencyLimit,
    predicted_wait_s,
    shed_decision,
)


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
