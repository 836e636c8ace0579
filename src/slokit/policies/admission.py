"""SLO-aware admission, the pure parts a gateway drives: the queue and the shed decision.

- :class:`AdmissionQueue`: a bounded queue in front of the concurrency limit
  (:mod:`slokit.policies.concurrency`), by priority then deadline.
- :func:`predicted_wait_s` and :func:`shed_decision`: refuse a request whose predicted wait
  exceeds what is left of its SLO budget, with a retry-after.

Per-tenant rates are :mod:`slokit.policies.rate_limit`. Nothing here sleeps or reads a clock:
times come in as ``now_s`` arguments.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from slokit.errors import ConfigError

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True, order=True)
class Queued(Generic[Item]):
    """An entry of :class:`AdmissionQueue`: lower ``priority`` first, then earlier deadline."""

    priority: int
    deadline_s: float
    sequence: int
    item: Item = field(compare=False)


class AdmissionQueue(Generic[Item]):
    """A bounded queue ordered by priority (lower first), then deadline, then arrival.

    :meth:`push` on a full queue keeps the better-ranked entries: it returns whichever entry
    must be shed, the newcomer or the worst one queued.
    """

    __slots__ = ("_heap", "_sequence", "capacity")

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ConfigError(
                f"admission queue: 'capacity' must be an integer >= 0, got {capacity!r}"
            )
        self.capacity = capacity
        self._heap: list[Queued[Item]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: Item, *, priority: int = 0, deadline_s: float = math.inf) -> Item | None:
        """Queue ``item``; returns the item shed to make room (``None`` when it all fits)."""
        entry = Queued(priority, deadline_s, next(self._sequence), item)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, entry)
            return None
        if not self._heap:
            return item
        worst = max(range(len(self._heap)), key=self._heap.__getitem__)
        if entry >= self._heap[worst]:
            return item
        shed = self._heap[worst].item
        self._heap[worst] = entry
        heapq.heapify(self._heap)
        return shed

    def ahead_of(self, *, priority: int = 0, deadline_s: float = math.inf) -> int:
        """Entries that would be served before a newcomer of this priority and deadline."""
        return sum(
            1
            for entry in self._heap
            if (entry.priority, entry.deadline_s) <= (priority, deadline_s)
        )

    def peek(self) -> Queued[Item] | None:
        """The next entry, without removing it."""
        return self._heap[0] if self._heap else None

    def pop(self) -> Queued[Item]:
        """Remove and return the next entry; :class:`IndexError` when empty."""
        return heapq.heappop(self._heap)

    def remove(self, item: Item) -> bool:
        """Withdraw ``item`` (its client went away); False if it is not queued."""
        for index, entry in enumerate(self._heap):
            if entry.item == item:
                self._heap[index] = self._heap[-1]
                self._heap.pop()
                heapq.heapify(self._heap)
                return True
        return False


def predicted_wait_s(
    *, queued_ahead: int, in_flight: int, limit: int, service_time_s: float
) -> float:
    """Expected wait of a request that joins the queue behind ``queued_ahead`` others.

    With every slot busy, slots free at ``limit / S`` per second (Little's law on the
    requests in service), so the newcomer starts once ``queued_ahead + 1`` slots beyond the
    free ones have freed::

        wait = max(0, queued_ahead + 1 - (limit - in_flight)) * S / limit
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    behind = queued_ahead + 1 - max(0, limit - in_flight)
    return max(0, behind) * service_time_s / limit


@dataclass(frozen=True, slots=True, kw_only=True)
class ShedDecision:
    """Whether to admit; when not, ``retry_after_s`` tells the client when to come back."""

    admit: bool
    predicted_wait_s: float
    retry_after_s: float = 0.0


def shed_decision(
    *, predicted_wait_s: float, remaining_budget_s: float, min_retry_after_s: float = 1.0
) -> ShedDecision:
    """Shed when the predicted wait exceeds what is left of the request's budget.

    The backlog ahead drains at the rate the wait was predicted with, so with no new arrivals
    a request sent ``predicted - remaining`` seconds later would just fit::

        retry_after = max(min_retry_after_s, predicted_wait - remaining_budget)

    (A gateway rounds it up to whole seconds for the ``Retry-After`` header.)
    """
    if predicted_wait_s <= remaining_budget_s:
        return ShedDecision(admit=True, predicted_wait_s=predicted_wait_s)
    late_s = predicted_wait_s - max(remaining_budget_s, 0.0)
    return ShedDecision(
        admit=False,
        predicted_wait_s=predicted_wait_s,
        retry_after_s=max(min_retry_after_s, late_s),
    )
