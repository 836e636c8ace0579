"""What a simulation produced: per-request columns, per-replica reports, and request records."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from slokit.results.record import RequestRecord


class Outcome(IntEnum):
    """How a request ended, with the error class and HTTP status its record carries."""

    OK = 0
    #: Refused at arrival by the admission policy.
    SHED = 1
    #: Prompt plus output can never fit a replica's KV cache (or, without chunked prefill,
    #: the prompt exceeds the iteration token budget).
    TOO_LONG = 2
    #: Admitted while no replica was ready, and none became ready before the run ended.
    UNAVAILABLE = 3
    #: Refused at arrival by the tenant's token buckets (requests/s or tokens/s).
    RATE_LIMITED = 4


_ERRORS: dict[int, tuple[str | None, int]] = {
    Outcome.OK: (None, 200),
    Outcome.SHED: ("shed", 429),
    Outcome.TOO_LONG: ("too_long", 400),
    Outcome.UNAVAILABLE: ("unavailable", 503),
    Outcome.RATE_LIMITED: ("rate_limited", 429),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaReport:
    """One replica's life in a run.

    ``utilization = busy_s / (retired_s - ready_s)``: the share of its serving life spent
    running iterations. ``cost = (retired_s - added_s) * price_per_hour / 3600``: a replica is
    paid for from the moment it is added, cold start included.
    """

    replica_id: str
    added_s: float
    ready_s: float
    retired_s: float
    busy_s: float
    requests: int
    iterations: int
    preemptions: int
    peak_kv_tokens: int
    prefix_hit_tokens: int
    price_per_hour: float

    @property
    def lifetime_s(self) -> float:
        """Seconds from being added to retiring."""
        return self.retired_s - self.added_s

    @property
    def utilization(self) -> float:
        """Busy share of the serving life (NaN if it never served)."""
        serving_s = self.retired_s - self.ready_s
        return self.busy_s / serving_s if serving_s > 0 else math.nan

    @property
    def cost(self) -> float:
        """Replica-seconds times price."""
        return self.lifetime_s * self.price_per_hour / 3600.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, derived figures included."""
        return {
            "replica": self.replica_id,
            "added_s": self.added_s,
            "ready_s": self.ready_s,
            "retired_s": self.retired_s,
            "busy_s": self.busy_s,
            "utilization": self.utilization,
            "cost": self.cost,
            "requests": self.requests,
            "iterations": self.iterations,
            "preemptions": self.preemptions,
            "peak_kv_tokens": self.peak_kv_tokens,
            "prefix_hit_tokens": self.prefix_hit_tokens,
        }


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Timeline:
    """Replica counts over time: from ``time_s[i]`` on, ``replicas[i]`` were asked for
    (starting or ready) and ``ready[i]`` served. The last point is the end of the run.
    """

    time_s: NDArray[np.float64]
    replicas: NDArray[np.int32]
    ready: NDArray[np.int32]

    def to_json(self) -> dict[str, Any]:
        """The ``timeline`` object of results.json: ``t_s``, ``replicas`` and ``ready``."""
        return {
            "t_s": self.time_s.tolist(),
            "replicas": self.replicas.tolist(),
            "ready": self.ready.tolist(),
        }

    def mean_replicas(self) -> float:
        """Time-average of ``replicas`` over the run (NaN for a run of no length)."""
        spans_s = np.diff(self.time_s)
        total_s = float(spans_s.sum())
        if total_s <= 0:
            return math.nan
        return float(np.dot(spans_s, self.replicas[:-1]) / total_s)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SimulationResult:
    """Per-request columns (index = request id) and per-replica reports of one run.

    Times are seconds of virtual time from the start of the run. ``first_token_s`` and
    ``wait_s`` are NaN where there is none; ``replica`` is an index into ``replicas`` (-1 for a
    request never placed); ``outcome`` holds :class:`Outcome` codes. ``wait_s`` is the time
    from arrival until the request's prefill was first scheduled. ``timeline``: the replica
    counts over time (``None`` when the producer kept none).
    """

    arrival_s: NDArray[np.float64]
    first_token_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    wait_s: NDArray[np.float64]
    prompt_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    replica: NDArray[np.int32]
    outcome: NDArray[np.int8]
    replicas: tuple[ReplicaReport, ...]
    duration_s: float
    timeline: Timeline | None = None

    @property
    def completed(self) -> int:
        """Requests that finished successfully."""
        return int(np.count_nonzero(self.outcome == Outcome.OK))

    @property
    def cost(self) -> float:
        """Total replica cost of the run."""
        return sum(report.cost for report in self.replicas)

    @property
    def replica_seconds(self) -> float:
        """Seconds of replica life paid for, summed over replicas."""
        return sum(report.lifetime_s for report in self.replicas)

    @property
    def utilization(self) -> float:
        """Busy share of all replicas' serving time (NaN if none served)."""
        serving_s = sum(max(0.0, r.retired_s - r.ready_s) for r in self.replicas)
        busy_s = sum(report.busy_s for report in self.replicas)
        return busy_s / serving_s if serving_s > 0 else math.nan

    @property
    def ttft_s(self) -> NDArray[np.float64]:
        """Time to first token per request (NaN where none)."""
        return self.first_token_s - self.arrival_s

    @property
    def e2e_s(self) -> NDArray[np.float64]:
        """End-to-end latency per request."""
        return self.end_s - self.arrival_s

    def records(self) -> Iterator[RequestRecord]:
        """The per-request records, in request-id order, made one at a time."""
        names = [report.replica_id for report in self.replicas]
        columns = zip(
            self.arrival_s.tolist(),
            self.first_token_s.tolist(),
            self.end_s.tolist(),
            self.wait_s.tolist(),
            self.prompt_tokens.tolist(),
            self.output_tokens.tolist(),
            self.replica.tolist(),
            self.outcome.tolist(),
            strict=True,
        )
        for request_id, (arrival, first, end, wait, prompt, output, replica, outcome) in enumerate(
            columns
        ):
            error, status = _ERRORS[outcome]
            yield RequestRecord(
                request_id=request_id,
                scheduled_s=arrival,
                sent_s=arrival,
                end_s=end,
                first_token_s=None if math.isnan(first) else first,
                prompt_tokens=prompt,
                output_tokens=output if error is None else 0,
                status=status,
                error=error,
                wait_s=None if math.isnan(wait) else wait,
                replica=None if replica < 0 else names[replica],
            )

    def summary(self) -> dict[str, Any]:
        """Run-level figures and the per-replica reports, JSON-ready (no per-request data)."""
        ok = self.outcome == Outcome.OK
        return {
            "requests": int(self.outcome.size),
            "completed": int(np.count_nonzero(ok)),
            "shed": int(np.count_nonzero(self.outcome == Outcome.SHED)),
            "too_long": int(np.count_nonzero(self.outcome == Outcome.TOO_LONG)),
            "unavailable": int(np.count_nonzero(self.outcome == Outcome.UNAVAILABLE)),
            "rate_limited": int(np.count_nonzero(self.outcome == Outcome.RATE_LIMITED)),
            "duration_s": self.duration_s,
            "output_tokens": int(self.output_tokens[ok].sum()),
            "cost": self.cost,
            "replica_seconds": self.replica_seconds,
            "utilization": self.utilization,
            "mean_replicas": math.nan if self.timeline is None else self.timeline.mean_replicas(),
            "replicas": [report.to_json() for report in self.replicas],
        }
