"""The gateway's admission stage in front of a simulated cluster, built on slokit.policies.

It runs the very objects a gateway runs: a :class:`~slokit.policies.ConcurrencyLimit` on the
requests in service, an :class:`~slokit.policies.AdmissionQueue` in front of it, the
predicted-wait shed decision, and a :class:`~slokit.policies.RateLimiter` (one tenant: the
simulated workload). A request is, at arrival: rate limited, dispatched, queued, or shed; a
queued one is dispatched when a request in service finishes, or shed when its wait budget
runs out first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from slokit.errors import ConfigError
from slokit.policies import (
    AdmissionQueue,
    ConcurrencyConfig,
    ConcurrencyLimit,
    RateLimiter,
    TenantLimits,
    predicted_wait_s,
    shed_decision,
)

#: The tenant every simulated request belongs to.
SIMULATED_TENANT = "simulated"


class Verdict(IntEnum):
    """What the gateway did with an arriving request."""

    DISPATCH = 0
    QUEUED = 1
    SHED = 2
    RATE_LIMITED = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """``concurrency``: the limit on requests in service (``None``: none, and no queue);
    ``queue_capacity``: requests waiting for a slot; ``wait_budget_s``: the most a request may
    wait in the queue, its SLO budget for queueing; ``rate_limits``: the tenant's rates.
    """

    concurrency: ConcurrencyConfig | None = None
    queue_capacity: int = 1024
    wait_budget_s: float = math.inf
    rate_limits: TenantLimits | None = None

    def __post_init__(self) -> None:
        if isinstance(self.queue_capacity, bool) or self.queue_capacity < 0:
            raise ConfigError("gateway: 'queue_capacity' must be an integer >= 0")
        if math.isnan(self.wait_budget_s) or self.wait_budget_s < 0:
            raise ConfigError("gateway: 'wait_budget_s' must be >= 0 seconds")


class GatewayAdmission:
    """One run's admission state; ask it at each arrival and tell it at each finish."""

    __slots__ = ("_queue", "_rates", "config", "limit", "retry_after_s")

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.limit = None if config.concurrency is None else ConcurrencyLimit(config.concurrency)
        self._queue: AdmissionQueue[int] = AdmissionQueue(config.queue_capacity)
        self._rates = (
            None if config.rate_limits is None else RateLimiter(default=config.rate_limits)
        )
        #: Retry-after told to each refused request, by request id.
        self.retry_after_s: dict[int, float] = {}

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return len(self._queue)

    def arrive(self, request_id: int, tokens: int, now_s: float) -> tuple[Verdict, int | None]:
        """The verdict on an arriving request, and a queued request evicted for it (or None)."""
        if self._rates is not None:
            rate = self._rates.check(SIMULATED_TENANT, tokens, now_s)
            if not rate.allowed:
                self.retry_after_s[request_id] = rate.retry_after_s
                return Verdict.RATE_LIMITED, None
        limit = self.limit
        if limit is None or (not self._queue and limit.try_acquire()):
            return Verdict.DISPATCH, None
        service_s = limit.service_quantile_s  # a high quantile, as the gateway's stage
        wait_s = predicted_wait_s(
            queued_ahead=len(self._queue),
            in_flight=limit.in_flight,
            limit=limit.limit,
            service_time_s=limit.config.latency_budget_s if service_s is None else service_s,
        )
        decision = shed_decision(
            predicted_wait_s=wait_s, remaining_budget_s=self.config.wait_budget_s
        )
        if not decision.admit:
            self.retry_after_s[request_id] = decision.retry_after_s
            return Verdict.SHED, None
        evicted = self._queue.push(request_id, deadline_s=now_s + self.config.wait_budget_s)
        if evicted == request_id:
            return Verdict.SHED, None
        return Verdict.QUEUED, evicted

    def finish(self, service_s: float | None, now_s: float) -> tuple[list[int], list[int]]:
        """A request in service left (``service_s``: None if it never ran).

        Returns the queued requests to dispatch now, and those whose wait budget ran out.
        """
        limit = self.limit
        if limit is None:
            return [], []
        limit.release(service_s)
        dispatch: list[int] = []
        expired: list[int] = []
        while self._queue and limit.in_flight < limit.limit:
            entry = self._queue.pop()
            if entry.deadline_s < now_s:
                expired.append(entry.item)
            elif limit.try_acquire():
                dispatch.append(entry.item)
        return dispatch, expired

    def drain(self) -> list[int]:
        """Every request still queued (the run is over), removed."""
        left = []
        while self._queue:
            left.append(self._queue.pop().item)
        return left
