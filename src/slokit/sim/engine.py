"""The discrete-event simulator: a workload through a cluster of replicas on a virtual clock.

Events are kept in one heap ordered by (time, kind, replica): a replica's next iteration
boundary, a replica finishing its cold start, an autoscaler tick. Arrivals come from the
workload's sorted array and are merged in; at equal times arrivals go first, so requests that
arrive together are scheduled together, and an arrival at an iteration boundary joins the
iteration that starts there. Nothing is random: the same inputs give the same outputs.

At arrival a request passes the :class:`Admission` policy, then (when given) the gateway's
admission stage (:mod:`slokit.sim.gateway`), then the balancer places it. The autoscaler sees a
:class:`~slokit.policies.ScalingSnapshot` at each tick; every change of the replica count is
kept in the result's timeline.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from slokit.errors import ConfigError
from slokit.policies import Autoscaler, Balancer, LeastOutstandingBalancer, ScalingSnapshot
from slokit.sim.cluster import Admission, Cluster
from slokit.sim.decisions import AlwaysAdmit
from slokit.sim.events import EventKind, Request
from slokit.sim.gateway import GatewayAdmission, GatewayConfig, Verdict
from slokit.sim.profile import Profile
from slokit.sim.result import Outcome, ReplicaReport, SimulationResult, Timeline

#: Arrivals between two progress reports.
PROGRESS_EVERY = 10_000

# Heap event kinds, in the order they are handled at equal times.
_BOUNDARY, _READY, _TICK = 0, 1, 2
_FIRST_TOKEN = int(EventKind.FIRST_TOKEN)
_FINISHED = int(EventKind.FINISHED)
_SCHEDULED = int(EventKind.SCHEDULED)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Workload:
    """Validated workload columns; ``prefix_group`` < 0 means no shared prefix."""

    arrival_s: NDArray[np.float64]
    prompt_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    prefix_group: NDArray[np.int64] | None = None
    prefix_tokens: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        size = self.arrival_s.shape
        for name in ("prompt_tokens", "output_tokens", "prefix_group", "prefix_tokens"):
            column = getattr(self, name)
            if column is not None and column.shape != size:
                raise ConfigError(
                    f"workload: {name!r} has shape {column.shape}, 'arrival_s' has {size}; "
                    "give one value per request"
                )
        if (self.prefix_group is None) != (self.prefix_tokens is None):
            raise ConfigError("workload: give both 'prefix_group' and 'prefix_tokens', or neither")
        if self.arrival_s.ndim != 1:
            raise ConfigError("workload: 'arrival_s' must be one-dimensional")
        if self.arrival_s.size:
            if not np.all(np.isfinite(self.arrival_s)) or self.arrival_s[0] < 0:
                raise ConfigError("workload: 'arrival_s' must be finite and >= 0")
            if np.any(np.diff(self.arrival_s) < 0):
                raise ConfigError("workload: 'arrival_s' must be sorted; sort the requests first")
            for name in ("prompt_tokens", "output_tokens"):
                if int(getattr(self, name).min()) < 1:
                    raise ConfigError(f"workload: every {name!r} value must be >= 1")
            if self.prefix_tokens is not None and int(self.prefix_tokens.min()) < 0:
                raise ConfigError("workload: 'prefix_tokens' must be >= 0")


def simulate(
    *,
    profile: Profile,
    replicas: int,
    arrival_s: ArrayLike,
    prompt_tokens: ArrayLike,
    output_tokens: ArrayLike,
    prefix_group: ArrayLike | None = None,
    prefix_tokens: ArrayLike | None = None,
    balancer: Balancer | None = None,
    admission: Admission | None = None,
    autoscaler: Autoscaler | None = None,
    gateway: GatewayConfig | None = None,
    price_per_hour: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run a workload (one value per request, sorted by arrival) through ``replicas`` replicas.

    Defaults: least-outstanding-requests balancing, every request admitted, no gateway
    admission stage, a fixed replica count. ``price_per_hour`` overrides the profile's price of
    a replica. ``on_progress`` hears how many requests have arrived, now and then (every
    :data:`PROGRESS_EVERY`). The run ends when every request has finished (or failed).
    """
    workload = Workload(
        arrival_s=np.asarray(arrival_s, dtype=np.float64),
        prompt_tokens=np.asarray(prompt_tokens, dtype=np.int64),
        output_tokens=np.asarray(output_tokens, dtype=np.int64),
        prefix_group=None if prefix_group is None else np.asarray(prefix_group, dtype=np.int64),
        prefix_tokens=None if prefix_tokens is None else np.asarray(prefix_tokens, dtype=np.int64),
    )
    if replicas < 1 and autoscaler is None:
        raise ConfigError("simulate: 'replicas' must be >= 1 unless an autoscaler adds them")
    if autoscaler is not None and not autoscaler.interval_s > 0:
        raise ConfigError("simulate: the autoscaler's 'interval_s' must be > 0")
    if price_per_hour is not None:
        if not (math.isfinite(price_per_hour) and price_per_hour >= 0):
            raise ConfigError(f"simulate: 'price_per_hour' must be >= 0, got {price_per_hour!r}")
        profile = dataclasses.replace(profile, price_per_hour=price_per_hour)
    run = _Run(
        workload,
        Cluster(profile, replicas=replicas),
        balancer if balancer is not None else LeastOutstandingBalancer(),
        admission if admission is not None else AlwaysAdmit(),
        autoscaler,
        None if gateway is None else GatewayAdmission(gateway),
    )
    return run.execute(on_progress)


class _Run:
    """The state of one simulation run."""

    def __init__(  # noqa: PLR0917  (private; built in one place, from simulate()'s keywords)
        self,
        workload: Workload,
        cluster: Cluster,
        balancer: Balancer,
        admission: Admission,
        autoscaler: Autoscaler | None,
        gateway: GatewayAdmission | None,
    ) -> None:
        self.workload = workload
        self.cluster = cluster
        self.balancer = balancer
        self.admission = admission
        self.autoscaler = autoscaler
        self.gateway = gateway
        size = workload.arrival_s.size
        # Python lists: the hot loop reads and writes single items, where numpy is slow.
        self.arrival = workload.arrival_s.tolist()
        self.prompt = workload.prompt_tokens.tolist()
        self.output = workload.output_tokens.tolist()
        self.group: list[int] | None = None
        self.group_tokens: list[int] | None = None
        if workload.prefix_group is not None and workload.prefix_tokens is not None:
            self.group = workload.prefix_group.tolist()
            self.group_tokens = workload.prefix_tokens.tolist()
        self.first = [math.nan] * size
        self.end = [math.nan] * size
        self.scheduled = [math.nan] * size
        self.placed = [-1] * size
        self.outcome = bytearray(size)
        self.heap: list[tuple[float, int, int]] = []
        self.due_s = [math.inf] * len(cluster.members)
        self.now_s = 0.0
        self.arrived = 0
        self.completions = 0
        self.service_s = 0.0
        ready = len(cluster.ready_replicas)
        self.timeline: list[tuple[float, int, int]] = [(0.0, cluster.live_replicas(), ready)]

    def request(self, index: int) -> Request:
        """The request at ``index`` of the workload."""
        group, tokens = self.group, self.group_tokens
        if group is None or tokens is None or group[index] < 0:
            return Request(index, self.prompt[index], self.output[index])
        return Request(index, self.prompt[index], self.output[index], group[index], tokens[index])

    def execute(self, on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        heap = self.heap
        due_s = self.due_s
        arrival = self.arrival
        count = len(arrival)
        if self.autoscaler is not None:
            heapq.heappush(heap, (0.0, _TICK, -1))
        position = 0
        report_at = PROGRESS_EVERY if on_progress is not None else -1
        next_arrival_s = arrival[0] if count else math.inf
        while True:
            if heap and heap[0][0] < next_arrival_s:
                time_s, kind, index = heapq.heappop(heap)
                self.now_s = time_s
                if kind == _BOUNDARY:
                    if time_s == due_s[index]:  # else superseded by a later plan of that replica
                        self.on_boundary(index, time_s)
                elif kind == _READY:
                    self.on_ready(index)
                else:
                    self.on_tick(arrivals_left=position < count)
            elif position < count:
                self.now_s = next_arrival_s
                self.arrive(position)
                position += 1
                self.arrived = position
                if position == report_at and on_progress is not None:
                    on_progress(position)
                    report_at += PROGRESS_EVERY
                next_arrival_s = arrival[position] if position < count else math.inf
            else:
                break
        if on_progress is not None:
            on_progress(count)
        return self.result()

    def on_boundary(self, index: int, time_s: float) -> None:
        """Collect a replica's events up to its due time and schedule its next one."""
        member = self.cluster.members[index]
        replica = member.replica
        end, first, scheduled = self.end, self.first, self.scheduled
        services: list[float] = []
        for event_kind, request_id, event_s, _ in replica.advance(time_s):
            if event_kind == _FINISHED:
                end[request_id] = event_s
                services.append(event_s - scheduled[request_id])
            elif event_kind == _FIRST_TOKEN:
                first[request_id] = event_s
            elif event_kind == _SCHEDULED and math.isnan(scheduled[request_id]):
                # Only the first admission counts toward the wait, not re-admissions.
                scheduled[request_id] = event_s
        self.completions += len(services)
        self.service_s += sum(services)
        if member.draining:
            self.cluster.retire_if_drained(index, time_s)
        next_s = replica.next_event_s()
        self.due_s[index] = next_s
        if next_s < math.inf:
            heapq.heappush(self.heap, (next_s, _BOUNDARY, index))
        if self.gateway is not None:
            for service_s in services:
                self.release(service_s)

    def arrive(self, index: int) -> None:
        request = self.request(index)
        if not self.admission.admit(self.cluster, request, self.now_s):
            self.fail(index, Outcome.SHED)
            return
        if self.gateway is not None:
            tokens = request.prompt_tokens + request.output_tokens
            verdict, evicted = self.gateway.arrive(index, tokens, self.now_s)
            if evicted is not None:
                self.fail(evicted, Outcome.SHED)
            if verdict == Verdict.SHED:
                self.fail(index, Outcome.SHED)
                return
            if verdict == Verdict.RATE_LIMITED:
                self.fail(index, Outcome.RATE_LIMITED)
                return
            if verdict == Verdict.QUEUED:
                return
        self.place(index)

    def fail(self, index: int, outcome: Outcome) -> None:
        """End a request that never reaches a replica."""
        self.outcome[index] = outcome
        self.end[index] = self.now_s

    def place(self, index: int) -> None:
        """Dispatch an admitted request now, or hold it until a replica is ready."""
        if self.cluster.ready_replicas:
            self.dispatch(self.request(index))
        else:
            self.cluster.pending.append(index)

    def release(self, service_s: float | None) -> None:
        """A request left its gateway slot: start the queued ones that now fit."""
        assert self.gateway is not None  # only called with a gateway
        dispatch, expired = self.gateway.finish(service_s, self.now_s)
        for index in expired:
            self.fail(index, Outcome.SHED)
        for index in dispatch:
            self.place(index)

    def dispatch(self, request: Request) -> None:
        """Place an admitted request on the replica the balancer picks."""
        cluster = self.cluster
        ready = cluster.ready_replicas
        position = self.balancer.choose(ready, request.prefix_group, self.now_s)
        if not 0 <= position < len(ready):
            raise ConfigError(
                f"balancer {type(self.balancer).__name__} chose replica {position} of "
                f"{len(ready)} ready; it must return an index into the sequence it is given"
            )
        replica = ready[position]
        if replica.submit(request, self.now_s) is not None:
            self.fail(request.request_id, Outcome.TOO_LONG)
            if self.gateway is not None:
                self.release(None)
            return
        index = cluster.member_of_ready(position)
        self.placed[request.request_id] = index
        next_s = replica.next_event_s()
        if next_s != self.due_s[index]:
            self.due_s[index] = next_s
            heapq.heappush(self.heap, (next_s, _BOUNDARY, index))

    def on_ready(self, index: int) -> None:
        if self.cluster.mark_ready(index):
            self.mark_timeline()
            pending = self.cluster.pending
            while pending and self.cluster.ready_replicas:
                self.dispatch(self.request(pending.popleft()))

    def mark_timeline(self) -> None:
        """Note the replica counts now, if they changed."""
        cluster = self.cluster
        point = (self.now_s, cluster.live_replicas(), len(cluster.ready_replicas))
        last = self.timeline[-1]
        if point[1:] != last[1:]:
            if point[0] == last[0]:
                self.timeline[-1] = point
            else:
                self.timeline.append(point)

    def snapshot(self) -> ScalingSnapshot:
        """What the autoscaler sees: replica counts, ongoing requests, running totals."""
        cluster = self.cluster
        queued = 0 if self.gateway is None else self.gateway.queued
        return ScalingSnapshot(
            ready_replicas=len(cluster.ready_replicas),
            starting_replicas=cluster.starting_replicas,
            ongoing_requests=cluster.outstanding_requests + queued,
            arrivals=self.arrived,
            completions=self.completions,
            service_s=self.service_s,
        )

    def on_tick(self, *, arrivals_left: bool) -> None:
        assert self.autoscaler is not None  # only scheduled when there is one
        cluster = self.cluster
        desired = max(0, self.autoscaler.desired_replicas(self.snapshot(), self.now_s))
        while cluster.live_replicas() < desired:
            index, ready_s = cluster.add_replica(self.now_s)
            self.due_s.append(math.inf)
            heapq.heappush(self.heap, (ready_s, _READY, index))
        while cluster.live_replicas() > desired and cluster.remove_replica(self.now_s) is not None:
            pass
        self.mark_timeline()
        # Pending requests alone do not keep the clock going: when the workload is over and the
        # autoscaler, asked once more, starts no replica, they end unavailable.
        placed = cluster.outstanding_requests - cluster.pending_requests
        if arrivals_left or placed or cluster.starting_replicas:
            heapq.heappush(self.heap, (self.now_s + self.autoscaler.interval_s, _TICK, -1))

    def result(self) -> SimulationResult:
        cluster = self.cluster
        # The run ends with its last arrival or finish; a trailing autoscaler tick does not count.
        finished = [time_s for time_s in self.end if not math.isnan(time_s)]
        end_s = max(max(finished, default=0.0), self.arrival[-1] if self.arrival else 0.0)
        left = list(cluster.pending)
        if self.gateway is not None:
            left += self.gateway.drain()
        for index in left:
            self.outcome[index] = Outcome.UNAVAILABLE
            self.end[index] = end_s
        cluster.pending.clear()
        cluster.finish(end_s)
        placed = np.asarray(self.placed, dtype=np.int32)
        outcome = np.frombuffer(bytes(self.outcome), dtype=np.int8).copy()
        served = np.bincount(placed[placed >= 0], minlength=len(cluster.members))
        reports = tuple(
            ReplicaReport(
                replica_id=member.replica.replica_id,
                added_s=member.added_s,
                ready_s=member.ready_s,
                retired_s=member.retired_s if member.retired_s is not None else end_s,
                busy_s=member.replica.busy_s,
                requests=int(served[index]),
                iterations=member.replica.iterations,
                preemptions=member.replica.preemptions,
                peak_kv_tokens=member.replica.peak_kv_tokens,
                prefix_hit_tokens=member.replica.prefix_hit_tokens,
                price_per_hour=member.replica.profile.price_per_hour,
            )
            for index, member in enumerate(cluster.members)
        )
        arrival = self.workload.arrival_s
        return SimulationResult(
            arrival_s=arrival,
            first_token_s=np.asarray(self.first, dtype=np.float64),
            end_s=np.asarray(self.end, dtype=np.float64),
            wait_s=np.asarray(self.scheduled, dtype=np.float64) - arrival,
            prompt_tokens=self.workload.prompt_tokens,
            output_tokens=self.workload.output_tokens,
            replica=placed,
            outcome=outcome,
            replicas=reports,
            duration_s=end_s,
            timeline=self.result_timeline(end_s),
        )

    def result_timeline(self, end_s: float) -> Timeline:
        """The replica counts over time, closed at the end of the run."""
        points = [point for point in self.timeline if point[0] <= end_s]
        if points[-1][0] < end_s:
            points.append((end_s, *points[-1][1:]))
        times_s, replicas, ready = zip(*points, strict=True)
        return Timeline(
            time_s=np.asarray(times_s, dtype=np.float64),
            replicas=np.asarray(replicas, dtype=np.int32),
            ready=np.asarray(ready, dtype=np.int32),
        )
