"""The cluster at runtime: autoscaling with cold starts, draining, admission, balancing, cost."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from slokit.errors import ConfigError
from slokit.policies import ScalingSnapshot
from slokit.sim import (
    ClusterView,
    Outcome,
    Profile,
    ReplicaView,
    Request,
    RoundRobinBalancer,
    simulate,
)

PROFILE = Profile(
    model="cluster",
    prefill_per_token_s=1e-4,
    decode_base_s=0.01,
    max_batch_size=16,
    max_batched_tokens=1024,
    kv_capacity_tokens=100_000,
    cold_start_s=5.0,
    price_per_hour=3600.0,  # one unit per replica-second: costs read as seconds
)


@dataclass
class Scripted:
    """Desired replica counts from given times on: ``[(0, 1), (10, 2)]``."""

    steps: Sequence[tuple[float, int]]
    interval_s: float = 1.0

    def desired_replicas(self, snapshot: ScalingSnapshot, now_s: float) -> int:  # noqa: ARG002
        return [count for start_s, count in self.steps if start_s <= now_s][-1]


def _steady(duration_s: float, rate: float = 10.0) -> dict[str, np.ndarray]:
    count = int(duration_s * rate)
    return {
        "arrival_s": np.arange(count) / rate,
        "prompt_tokens": np.full(count, 200),
        "output_tokens": np.full(count, 20),
    }


def test_scale_up_pays_from_the_add_and_serves_after_the_cold_start() -> None:
    workload = _steady(40.0)
    result = simulate(
        profile=PROFILE, replicas=1, autoscaler=Scripted([(0, 1), (10, 2)]), **workload
    )
    first, second = result.replicas
    assert (second.added_s, second.ready_s) == (10.0, 15.0)
    on_second = result.replica == 1
    assert on_second.sum() > 100
    assert result.arrival_s[on_second].min() >= 15.0
    assert result.completed == workload["arrival_s"].size
    assert first.retired_s == second.retired_s == result.duration_s
    assert result.cost == pytest.approx(result.duration_s + (result.duration_s - 10.0))


def test_scale_down_drains_then_retires() -> None:
    result = simulate(
        profile=PROFILE, replicas=2, autoscaler=Scripted([(0, 2), (10, 1)]), **_steady(30.0)
    )
    drained = next(r for r in result.replicas if r.retired_s < result.duration_s)
    index = result.replicas.index(drained)
    mine = result.replica == index
    assert result.arrival_s[mine].max() < 10.0
    assert drained.retired_s == pytest.approx(result.end_s[mine].max())
    assert drained.retired_s >= 10.0
    assert result.completed == result.arrival_s.size


def test_scaling_from_zero_holds_requests_until_a_replica_is_ready() -> None:
    result = simulate(profile=PROFILE, replicas=0, autoscaler=Scripted([(0, 1)]), **_steady(10.0))
    assert result.completed == result.arrival_s.size
    assert result.wait_s[0] == pytest.approx(5.0)
    assert np.nanmin(result.first_token_s) > 5.0


def test_without_any_ready_replica_requests_are_unavailable() -> None:
    result = simulate(profile=PROFILE, replicas=0, autoscaler=Scripted([(0, 0)]), **_steady(2.0))
    assert np.all(result.outcome == Outcome.UNAVAILABLE)
    record = next(result.records())
    assert (record.error, record.status) == ("unavailable", 503)


def test_removing_a_starting_replica_cancels_it() -> None:
    slow = dataclasses.replace(PROFILE, cold_start_s=100.0)
    result = simulate(
        profile=slow, replicas=1, autoscaler=Scripted([(0, 1), (5, 2), (8, 1)]), **_steady(20.0)
    )
    cancelled = result.replicas[1]
    assert (cancelled.added_s, cancelled.retired_s, cancelled.requests) == (5.0, 8.0, 0)


@dataclass
class ShedAbove:
    """Refuse arrivals while ``limit`` requests are outstanding."""

    limit: int

    def admit(self, cluster: ClusterView, request: Request, now_s: float) -> bool:  # noqa: ARG002
        return cluster.outstanding_requests < self.limit


def test_admission_sheds_at_arrival() -> None:
    workload = _steady(5.0, rate=200.0)
    result = simulate(profile=PROFILE, replicas=1, admission=ShedAbove(8), **workload)
    shed = result.outcome == Outcome.SHED
    assert 0 < shed.sum() < shed.size
    assert np.array_equal(result.end_s[shed], result.arrival_s[shed])
    record = next(r for r in result.records() if not r.ok)
    assert (record.error, record.status, record.replica) == ("shed", 429, None)


class _Broken:
    def choose(self, replicas: Sequence[ReplicaView], key: object, now_s: float) -> int:  # noqa: ARG002
        return len(replicas)


def test_a_balancer_index_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="_Broken chose replica 2 of 2"):
        simulate(profile=PROFILE, replicas=2, balancer=_Broken(), **_steady(1.0))


@pytest.mark.parametrize("round_robin", [True, False])
def test_balancers_spread_identical_load_evenly(round_robin: bool) -> None:
    result = simulate(
        profile=PROFILE,
        replicas=4,
        balancer=RoundRobinBalancer() if round_robin else None,
        **_steady(20.0, rate=40.0),
    )
    counts = [report.requests for report in result.replicas]
    assert max(counts) - min(counts) <= (1 if round_robin else 0.1 * max(counts))
    utilizations = [report.utilization for report in result.replicas]
    assert max(utilizations) - min(utilizations) < 0.1
