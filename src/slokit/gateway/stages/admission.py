"""Admission: how many calls go upstream at once, who waits, and who is shed.

The stage is generic over an :class:`Admission`: something that either admits a call (returning
the function that gives its place back when the reply ends) or sheds it by raising
:class:`ApiError`. :class:`SLOAdmission` is the built-in one. Per model it drives the pure
objects of :mod:`slokit.policies.admission` on the real clock, the very objects the simulator
drives on virtual time (:mod:`slokit.sim.gateway`):

- a :class:`~slokit.policies.ConcurrencyLimit` on the calls upstream, at the knee of the
  upstream's throughput (Little's law on measured service times), within the SLO's share for
  service;
- an :class:`~slokit.policies.AdmissionQueue` in front of it, by priority class then deadline;
- :func:`~slokit.policies.shed_decision`: a call whose predicted completion (wait plus a high
  quantile of service time) misses its SLO deadline is refused at once with 429 and
  ``Retry-After``; a queued call that can no longer start in time is refused when that moment
  comes;
- 503 with ``Retry-After`` while every replica of the model has its circuit open.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from slokit.clock import Clock
from slokit.gateway.config import ANONYMOUS_TENANT, AdmissionConfig, ModelConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.stages.backend import BackendStage
from slokit.gateway.telemetry import Telemetry
from slokit.gateway.wire import ApiError
from slokit.policies import (
    AdmissionQueue,
    ConcurrencyConfig,
    ConcurrencyLimit,
    predicted_wait_s,
    shed_decision,
)
from slokit.slo import SLOSpec

#: ``release(completed)``: give the place back; a completed call's service time is measured.
Release = Callable[[bool], None]
#: Queue rank of each priority class (lower is served first).
PRIORITY_RANK = {"interactive": 0, "standard": 1, "batch": 2}
#: The concurrency budget of a model without a latency budget: unused, its limit is fixed.
_NO_BUDGET_S = 1.0


class Admission(Protocol):
    """Decides, per call, to admit (now or after a wait) or to shed."""

    async def acquire(self, call: Call) -> Release:
        """Wait until ``call`` may go upstream and return its release, or raise to shed it."""
        ...


class UpstreamHealth(Protocol):
    """Whether a model has a replica that may take a call now."""

    def available(self, model: str) -> bool: ...


class CircuitHealth:
    """A model is available while one of its replicas has a closed (or probing) circuit."""

    __slots__ = ("_backend",)

    def __init__(self, backend: BackendStage) -> None:
        self._backend = backend

    def available(self, model: str) -> bool:
        replicas = self._backend.replicas(model)
        return not replicas or any(not replica.breaker.is_open for replica in replicas)


class AdmissionStage:
    """Holds each call's place from admission until its reply (or stream) has ended.

    An upstream that is down (503) is told to the client with ``Retry-After``
    (``unavailable_retry_after_s``), as a shed is.
    """

    __slots__ = ("_admission", "_unavailable_retry_after_s")

    def __init__(self, admission: Admission, *, unavailable_retry_after_s: float = 1.0) -> None:
        self._admission = admission
        self._unavailable_retry_after_s = unavailable_retry_after_s

    async def handle(self, call: Call, forward: Handler) -> Reply:
        release = await self._admission.acquire(call)
        call.admitted_s = time.perf_counter()
        try:
            reply = await forward(call)
        except ApiError as error:
            release(False)
            if error.status == 503 and error.retry_after_s is None:
                error.retry_after_s = self._unavailable_retry_after_s
            raise
        except BaseException:
            release(False)
            raise
        if reply.chunks is None:
            release(reply.status < 300)
        else:
            ok = reply.status < 300

            def on_end(error: ApiError | None, aborted: bool) -> None:  # noqa: FBT001
                release(ok and error is None and not aborted and not call.disconnected)

            reply.watch(on_end=on_end)
        return reply


def e2e_budget_s(spec: SLOSpec | None) -> float | None:
    """The tightest end-to-end threshold of ``spec`` (any statistic), or None."""
    if spec is None:
        return None
    thresholds = [o.threshold_s for o in spec.objectives if o.metric == "e2e"]
    return min(thresholds) if thresholds else None


class _Waiter:
    """A queued call: granted by a result, shed by an exception on ``future``.

    ``start_by_s``: the latest start reckoned at arrival; ``deadline_s``: its SLO deadline
    (``None`` without a budget), against which the start is checked again at dispatch.
    """

    __slots__ = ("deadline_s", "future", "start_by_s", "tenant")

    def __init__(
        self,
        future: asyncio.Future[None],
        tenant: str,
        *,
        start_by_s: float,
        deadline_s: float | None,
    ) -> None:
        self.future = future
        self.tenant = tenant
        self.start_by_s = start_by_s
        self.deadline_s = deadline_s

    def too_late(self, now_s: float, service_s: float | None) -> bool:
        """Whether starting now would miss the deadline for a reply of ``service_s``."""
        if now_s > self.start_by_s:
            return True
        return (
            self.deadline_s is not None
            and service_s is not None
            and (now_s + service_s > self.deadline_s)
        )


class _Lane:
    """One model's admission state: its limit and its queue."""

    __slots__ = ("limit", "model", "queue")

    def __init__(self, model: str, limit: ConcurrencyLimit, capacity: int) -> None:
        self.model = model
        self.limit = limit
        self.queue: AdmissionQueue[_Waiter] = AdmissionQueue(capacity)


class SLOAdmission:
    """Per-model SLO-aware admission on ``clock`` (see the module docstring).

    A call's budget is the tightest ``e2e`` objective of its tenant's SLO, else its model's,
    else ``config.budget_s``. Calls queue by priority class, then deadline ``arrival +
    budget``. A call may start as late as ``deadline - S_q`` (``S_q``: the
    ``config.service_quantile`` of the model's recent service times, when it is dispatched),
    and never waits longer than ``min(config.max_wait_s, budget - S_q)`` (``S_q`` at arrival;
    before enough replies were measured, ``service_share x budget``). With ``q`` calls ranked
    ahead of it, ``m`` in service and limit ``L``, its predicted wait is ``max(0, q + 1 -
    (L - m)) S_q / L``; above the time left it is shed with ``Retry-After = max(1 s,
    predicted - left)``.
    """

    __slots__ = ("_clock", "_config", "_down_retry_after_s", "_health", "_lanes", "_metrics")

    def __init__(
        self,
        config: AdmissionConfig,
        models: Sequence[ModelConfig],
        clock: Clock,
        *,
        health: UpstreamHealth | None = None,
        metrics: Telemetry | None = None,
        down_retry_after_s: float = 1.0,
    ) -> None:
        if config.max_concurrency is None:
            raise ValueError("SLOAdmission needs stages.admission.max_concurrency")
        self._config = config
        self._clock = clock
        self._health = health
        self._metrics = metrics
        self._down_retry_after_s = down_retry_after_s
        self._lanes = {model.name: self._new_lane(model) for model in models}

    def limit(self, model: str) -> ConcurrencyLimit:
        """The concurrency limit of ``model`` (for inspection)."""
        return self._lanes[model].limit

    def queued(self, model: str) -> int:
        """Calls of ``model`` waiting now."""
        return len(self._lanes[model].queue)

    async def acquire(self, call: Call) -> Release:
        now_s = self._clock.now()
        model = call.model.name
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = self._new_lane(call.model)
        if self._health is not None and not self._health.available(model):
            raise _unavailable(model, self._down_retry_after_s)
        limit = lane.limit
        if not lane.queue and limit.try_acquire():
            self._show(lane)
            return self._releaser(lane, now_s)
        tenant = call.tenant
        spec = tenant.slo if tenant is not None and tenant.slo is not None else call.model.slo
        budget_s = e2e_budget_s(spec)
        if budget_s is None:
            budget_s = self._config.budget_s
        service_s = limit.service_quantile_s
        if service_s is None:  # nothing measured yet: plan on the service share of the budget
            service_s = 0.0 if budget_s is None else budget_s * self._config.service_share
        left_s = self._config.max_wait_s
        if budget_s is not None:
            left_s = min(left_s, budget_s - service_s)
        # Ranked by SLO deadline (first come, first served within a budget), not by latest
        # start: that moves with the service quantile and would let later calls overtake.
        deadline_s = now_s + budget_s if budget_s is not None else now_s + left_s
        priority = PRIORITY_RANK[tenant.priority] if tenant is not None else 1
        wait_s = predicted_wait_s(
            queued_ahead=lane.queue.ahead_of(priority=priority, deadline_s=deadline_s),
            in_flight=limit.in_flight,
            limit=limit.limit,
            service_time_s=service_s,
        )
        decision = shed_decision(predicted_wait_s=wait_s, remaining_budget_s=left_s)
        if not decision.admit:
            raise _shed(
                f"model {model!r} is at capacity: predicted wait {wait_s:.3g} s, "
                f"{max(left_s, 0.0):.3g} s left of the SLO budget",
                decision.retry_after_s,
            )
        tenant_name = tenant.name if tenant is not None else ANONYMOUS_TENANT
        waiter = _Waiter(
            asyncio.get_running_loop().create_future(),
            tenant_name,
            start_by_s=now_s + left_s,
            deadline_s=None if budget_s is None else now_s + budget_s,
        )
        evicted = lane.queue.push(waiter, priority=priority, deadline_s=deadline_s)
        if evicted is waiter:
            raise _shed(f"model {model!r} is at capacity and its queue is full", max(1.0, wait_s))
        self._queue_depth(lane, waiter, +1)
        if evicted is not None:
            self._queue_depth(lane, evicted, -1)
            evicted.future.set_exception(
                _shed(f"model {model!r} is at capacity; a call of higher rank took the place", 1.0)
            )
        return await self._wait(lane, waiter, left_s)

    async def _wait(self, lane: _Lane, waiter: _Waiter, left_s: float) -> Release:
        future = waiter.future
        try:
            async with asyncio.timeout(max(left_s, 0.0)):
                await future
        except BaseException as error:
            granted = future.done() and not future.cancelled() and future.exception() is None
            if granted:
                if isinstance(error, TimeoutError):
                    return self._releaser(lane, self._clock.now())  # granted at the deadline
                self._release(lane, None)  # granted, but the call went away meanwhile
                raise
            if lane.queue.remove(waiter):
                self._queue_depth(lane, waiter, -1)
            if isinstance(error, TimeoutError):
                limit = lane.limit
                raise _shed(
                    f"model {lane.model!r} is at capacity; the call could no longer start "
                    "within its SLO budget",
                    max(
                        1.0,
                        (limit.service_quantile_s or 0.0) * (len(lane.queue) + 1) / limit.limit,
                    ),
                ) from None
            raise
        return self._releaser(lane, self._clock.now())

    def _releaser(self, lane: _Lane, started_s: float) -> Release:
        def release(completed: bool) -> None:  # noqa: FBT001  (the Release signature)
            self._release(lane, self._clock.now() - started_s if completed else None)

        return release

    def _release(self, lane: _Lane, service_s: float | None) -> None:
        limit = lane.limit
        limit.release(service_s)
        queue = lane.queue
        now_s = self._clock.now()
        # A call starts only if a reply as slow as the service quantile still meets its deadline.
        service_s = limit.service_quantile_s
        while queue and limit.in_flight < limit.limit:
            entry = queue.pop()
            waiter = entry.item
            self._queue_depth(lane, waiter, -1)
            if waiter.future.done():  # pragma: no cover - a waiter that left is removed
                continue
            if waiter.too_late(now_s, service_s):
                waiter.future.set_exception(
                    _shed(f"model {lane.model!r} is at capacity; waited past its budget", 1.0)
                )
                continue
            limit.try_acquire()
            waiter.future.set_result(None)
        self._show(lane)

    def _new_lane(self, model: ModelConfig) -> _Lane:
        config = self._config
        top = config.max_concurrency or 1
        budget_s = e2e_budget_s(model.slo)
        if budget_s is None:
            budget_s = config.budget_s
        limit = ConcurrencyLimit(
            ConcurrencyConfig(
                latency_budget_s=_NO_BUDGET_S
                if budget_s is None
                else budget_s * config.service_share,
                initial_limit=top
                if config.initial_concurrency is None
                else config.initial_concurrency,
                min_limit=config.min_concurrency,
                max_limit=top,
                smoothing=config.smoothing,
                max_step=config.max_step,
                quantile=config.service_quantile,
                window=config.service_window,
                probe_gain=config.probe_gain,
                adaptive=config.adaptive and budget_s is not None,
                per_round=True,
            )
        )
        lane = _Lane(model.name, limit, config.max_queue)
        self._show(lane)
        return lane

    def _show(self, lane: _Lane) -> None:
        metrics = self._metrics
        if metrics is not None:
            metrics.concurrency_limit.labels(lane.model).set(lane.limit.limit)
            metrics.in_flight.labels(lane.model).set(lane.limit.in_flight)

    def _queue_depth(self, lane: _Lane, waiter: _Waiter, change: int) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.labels(lane.model, waiter.tenant).inc(change)


def _shed(message: str, retry_after_s: float) -> ApiError:
    return ApiError(
        429,
        message,
        error_type="rate_limit_error",
        code="overloaded",
        retry_after_s=math.ceil(retry_after_s),
    )


def _unavailable(model: str, retry_after_s: float) -> ApiError:
    return ApiError(
        503,
        f"no replica of model {model!r} is available (circuits open)",
        error_type="api_error",
        code="upstream_unavailable",
        retry_after_s=math.ceil(retry_after_s),
    )
