"""Autoscalers, gateway admission and balancers from slokit.policies driving the simulator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from slokit.policies import (
    ConcurrencyConfig,
    KnativeAutoscaler,
    KnativeConfig,
    PrefixAffinityBalancer,
    RayServeAutoscaler,
    RayServeConfig,
    SLOAutoscaler,
    SLOScalingConfig,
    TenantLimits,
)
from slokit.sim import GatewayConfig, Outcome, Profile, simulate
from slokit.slo import parse_slo

# One request at a time, 1 s each: a replica is one M/M/1-like server.
ONE_AT_A_TIME = Profile(
    model="single",
    prefill_per_token_s=0.0,
    decode_base_s=0.01,
    max_batch_size=1,
    max_batched_tokens=1,
    kv_capacity_tokens=10**6,
    kv_block_tokens=1,
    cold_start_s=10.0,
    price_per_hour=3600.0,  # one unit per replica-second
)


def step_load(low: float, high: float, seconds: tuple[float, float, float]) -> dict[str, object]:
    """Constant-rate arrivals: ``low`` req/s, then ``high``, then ``low`` again."""
    first, second, third = seconds
    arrival = np.concatenate(
        [
            np.arange(0.0, first, 1 / low),
            np.arange(first, first + second, 1 / high),
            np.arange(first + second, first + second + third, 1 / low),
        ]
    )
    count = arrival.size
    return {
        "arrival_s": arrival,
        "prompt_tokens": np.ones(count, dtype=np.int64),
        "output_tokens": np.full(count, 101, dtype=np.int64),  # 100 steps of 10 ms: 1 s
    }


def test_ray_serve_scales_up_under_a_step_and_back_down_after_the_delay() -> None:
    config = RayServeConfig(
        min_replicas=1,
        max_replicas=20,
        target_ongoing_requests=1.0,
        upscale_delay_s=5.0,
        downscale_delay_s=60.0,
        look_back_period_s=5.0,
        metrics_interval_s=1.0,
        interval_s=0.5,
    )
    result = simulate(
        profile=ONE_AT_A_TIME,
        replicas=1,
        autoscaler=RayServeAutoscaler(config),
        **step_load(0.5, 6.0, (60.0, 120.0, 300.0)),  # type: ignore[arg-type]
    )
    timeline = result.timeline
    assert timeline is not None
    times, replicas = timeline.time_s, timeline.replicas
    assert replicas[0] == 1
    first_up = times[np.argmax(replicas > 1)]
    assert 60.0 + 5.0 <= first_up <= 60.0 + 20.0  # the delay, then look-back and reports
    peak = replicas.max()
    assert 6 <= peak <= 20
    assert replicas[-1] == 1
    # Each decision needs the delay's worth of consecutive loops after the previous change.
    changes = np.flatnonzero(np.diff(replicas)) + 1
    for previous, change in itertools.pairwise(changes):
        delay_s = 5.0 if replicas[change] > replicas[change - 1] else 60.0
        assert times[change] - times[previous] >= delay_s
    back_s = times[changes[-1]]
    assert back_s >= 180.0  # the final scale-down waited for the load to fall
    assert result.completed == result.arrival_s.size
    # Extra replicas sped the high-load phase up: mean waits stay far below one replica's.
    assert float(np.nanmean(result.wait_s)) < 30.0
    summary = result.summary()
    assert summary["mean_replicas"] == pytest.approx(timeline.mean_replicas())
    assert 1.0 < summary["mean_replicas"] < peak
    assert result.cost == pytest.approx(result.replica_seconds)
    assert 0.0 < result.utilization <= 1.0


def test_kpa_panics_on_the_step_and_scales_up_fast() -> None:
    scaler = KnativeAutoscaler(
        KnativeConfig(target_concurrency=1.0, target_utilization=1.0, max_replicas=20)
    )
    result = simulate(
        profile=ONE_AT_A_TIME,
        replicas=1,
        autoscaler=scaler,
        **step_load(0.5, 6.0, (60.0, 60.0, 200.0)),  # type: ignore[arg-type]
    )
    timeline = result.timeline
    assert timeline is not None
    first_up = timeline.time_s[np.argmax(timeline.replicas > 1)]
    assert 60.0 <= first_up <= 70.0
    assert timeline.replicas.max() >= 6
    assert timeline.replicas[-1] < timeline.replicas.max()


def test_slo_autoscaler_keeps_the_wait_objective_under_a_step() -> None:
    objectives = parse_slo("wait_p99<=5s", metrics=frozenset({"wait"})).objectives
    scaler = SLOAutoscaler(
        SLOScalingConfig(objectives=objectives, max_replicas=20, interval_s=5.0, window_s=20.0)
    )
    result = simulate(
        profile=ONE_AT_A_TIME,
        replicas=1,
        autoscaler=scaler,
        **step_load(0.5, 6.0, (60.0, 200.0, 100.0)),  # type: ignore[arg-type]
    )
    assert result.timeline is not None
    assert result.timeline.replicas.max() >= 7  # 6 req/s of 1 s need more than 6 servers
    # Once scaled (the cold start and the measuring window are behind), the objective holds.
    high = (result.arrival_s > 160.0) & (result.arrival_s < 260.0)
    assert float(np.nanpercentile(result.wait_s[high], 99)) < 5.0


def test_gateway_admission_sheds_with_429_and_queues_within_the_budget() -> None:
    workload = step_load(0.5, 8.0, (10.0, 30.0, 10.0))
    gateway = GatewayConfig(
        concurrency=ConcurrencyConfig(latency_budget_s=1.5, initial_limit=2, max_limit=2),
        queue_capacity=50,
        wait_budget_s=3.0,
    )
    result = simulate(
        profile=ONE_AT_A_TIME,
        replicas=2,
        gateway=gateway,
        **workload,  # type: ignore[arg-type]
    )
    shed = result.outcome == Outcome.SHED
    ok = result.outcome == Outcome.OK
    assert shed.sum() > 100
    assert ok.sum() + shed.sum() == result.outcome.size
    # Admitted requests waited (gateway queue + replica) about the budget at most.
    queued_s = result.e2e_s[ok] - 1.0
    assert float(np.max(queued_s)) < 3.0 + 1.5
    record = next(r for r in result.records() if not r.ok)
    assert (record.status, record.error) == (429, "shed")
    ungated = simulate(profile=ONE_AT_A_TIME, replicas=2, **workload)  # type: ignore[arg-type]
    assert float(np.max(ungated.e2e_s)) > 20.0


def test_gateway_rate_limit_refuses_beyond_the_tenant_rate() -> None:
    workload = step_load(4.0, 4.0, (10.0, 10.0, 10.0))
    gateway = GatewayConfig(rate_limits=TenantLimits(requests_per_s=2.0, request_burst=2.0))
    result = simulate(profile=ONE_AT_A_TIME, replicas=4, gateway=gateway, **workload)  # type: ignore[arg-type]
    limited = result.outcome == Outcome.RATE_LIMITED
    assert int((~limited).sum()) == pytest.approx(2.0 * 30.0, abs=3)
    record = next(r for r in result.records() if not r.ok)
    assert (record.status, record.error) == (429, "rate_limited")
    assert result.summary()["rate_limited"] == int(limited.sum())


def test_prefix_affinity_raises_prefix_cache_hits_in_the_simulator() -> None:
    from slokit.sim import example_profile  # noqa: PLC0415  (used only here)

    rng = np.random.default_rng(4)
    count = 3000
    prompt = np.full(count, 1200)
    workload = {
        "arrival_s": np.cumsum(rng.exponential(1 / 60.0, count)),
        "prompt_tokens": prompt,
        "output_tokens": np.full(count, 50),
        "prefix_group": rng.integers(0, 400, count),
        "prefix_tokens": np.full(count, 1024),
    }
    hits = {}
    for name, balancer in (("affinity", PrefixAffinityBalancer()), ("least", None)):
        result = simulate(profile=example_profile(), replicas=4, balancer=balancer, **workload)
        hits[name] = sum(r.prefix_hit_tokens for r in result.replicas)
    assert hits["affinity"] > 1.1 * hits["least"]
