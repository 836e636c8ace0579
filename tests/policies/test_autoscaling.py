"""Autoscaling rules on a manual clock: Ray Serve's, Knative's KPA, and the SLO-aware one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.capacity import min_replicas
from slokit.clock import ManualClock
from slokit.errors import ConfigError
from slokit.policies import (
    KnativeAutoscaler,
    KnativeConfig,
    RayServeAutoscaler,
    RayServeConfig,
    ScalingSnapshot,
    SLOAutoscaler,
    SLOScalingConfig,
)
from slokit.slo import parse_slo

# One-second loops and windows keep the arithmetic of these tests readable.
FAST_RAY = RayServeConfig(
    min_replicas=0,
    max_replicas=50,
    interval_s=1.0,
    metrics_interval_s=1.0,
    look_back_period_s=1.0,
    upscale_delay_s=5.0,
    downscale_delay_s=10.0,
)


def drive(
    scaler: RayServeAutoscaler | KnativeAutoscaler,
    clock: ManualClock,
    *,
    loops: int,
    ready: int,
    ongoing: int,
) -> list[int]:
    """Ask ``loops`` times, one interval apart, with a fixed load; the answers in order."""
    answers = []
    for _ in range(loops):
        snapshot = ScalingSnapshot(ready_replicas=ready, ongoing_requests=ongoing)
        answers.append(scaler.desired_replicas(snapshot, clock.now()))
        clock.advance(scaler.interval_s)
    return answers


# ------------------------------------------------------------------------ Ray Serve


def test_ray_defaults_are_ray_serves() -> None:
    config = RayServeConfig()
    assert (config.upscale_delay_s, config.downscale_delay_s) == (30.0, 600.0)
    assert (config.target_ongoing_requests, config.look_back_period_s) == (2.0, 30.0)
    assert config.interval_s == 0.1


def test_ray_scales_up_to_ongoing_over_target_after_the_upscale_delay() -> None:
    clock = ManualClock()
    scaler = RayServeAutoscaler(FAST_RAY)
    answers = drive(scaler, clock, loops=8, ready=1, ongoing=20)
    # The same decision must be made in more than int(5 / 1) loops in a row.
    assert answers == [1, 1, 1, 1, 1, 10, 10, 10]


def test_ray_scales_down_after_the_downscale_delay_and_a_reversal_resets_it() -> None:
    clock = ManualClock()
    scaler = RayServeAutoscaler(FAST_RAY)
    drive(scaler, clock, loops=6, ready=1, ongoing=20)
    down = drive(scaler, clock, loops=5, ready=10, ongoing=4)
    drive(scaler, clock, loops=2, ready=10, ongoing=40)  # back up: the count restarts
    down = drive(scaler, clock, loops=12, ready=10, ongoing=4)
    assert down[:10] == [10] * 10
    assert down[10:] == [2, 2]


def test_ray_scaling_factors_damp_the_step() -> None:
    clock = ManualClock()
    config = RayServeConfig(
        max_replicas=50,
        interval_s=1.0,
        metrics_interval_s=1.0,
        look_back_period_s=1.0,
        upscale_delay_s=0.0,
        downscale_delay_s=0.0,
        upscaling_factor=0.5,
        downscaling_factor=0.01,
    )
    scaler = RayServeAutoscaler(config)
    # ceil(2 + 0.5 * (10 - 2)) = 6
    assert drive(scaler, clock, loops=1, ready=2, ongoing=20) == [6]
    # A tiny downscaling factor still removes one replica per decision.
    assert drive(scaler, clock, loops=1, ready=6, ongoing=2) == [5]


def test_ray_averages_ongoing_requests_over_the_look_back_period() -> None:
    clock = ManualClock()
    config = RayServeConfig(
        max_replicas=50,
        interval_s=1.0,
        metrics_interval_s=1.0,
        look_back_period_s=4.0,
        upscale_delay_s=0.0,
    )
    scaler = RayServeAutoscaler(config)
    answers = []
    for second in range(8):
        snapshot = ScalingSnapshot(ready_replicas=1, ongoing_requests=20 * (second % 2))
        answers.append(scaler.desired_replicas(snapshot, clock.now()))
        clock.advance(1.0)
    assert answers[-1] == 5  # mean 10 ongoing / target 2


def test_ray_starts_a_replica_at_once_from_zero() -> None:
    clock = ManualClock()
    scaler = RayServeAutoscaler(FAST_RAY)
    assert drive(scaler, clock, loops=1, ready=0, ongoing=0) == [0]
    assert drive(scaler, clock, loops=1, ready=0, ongoing=3) == [1]


@settings(max_examples=50)
@given(
    loads=st.lists(st.integers(0, 500), min_size=1, max_size=30),
    ready=st.integers(0, 60),
    bounds=st.tuples(st.integers(0, 5), st.integers(5, 40)),
)
def test_ray_answers_stay_within_the_bounds(
    loads: list[int], ready: int, bounds: tuple[int, int]
) -> None:
    low, high = bounds
    config = RayServeConfig(min_replicas=low, max_replicas=high, interval_s=1.0)
    scaler = RayServeAutoscaler(config)
    for second, load in enumerate(loads):
        snapshot = ScalingSnapshot(ready_replicas=ready, ongoing_requests=load)
        assert low <= scaler.desired_replicas(snapshot, float(second)) <= high


def test_ray_bad_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match="target_ongoing_requests"):
        RayServeConfig(target_ongoing_requests=0)
    with pytest.raises(ConfigError, match="min_replicas"):
        RayServeConfig(min_replicas=5, max_replicas=2)


# ------------------------------------------------------------------------ Knative KPA


def test_kpa_defaults_are_knatives() -> None:
    config = KnativeConfig()
    assert config.stable_window_s == 60.0
    assert config.panic_window_s == pytest.approx(6.0)
    assert config.panic_threshold_percentage == 200.0
    assert config.target_per_replica == pytest.approx(70.0)


def test_kpa_stable_mode_sizes_for_the_target_concurrency() -> None:
    clock = ManualClock()
    scaler = KnativeAutoscaler(KnativeConfig(target_concurrency=10, target_utilization=1.0))
    answers = drive(scaler, clock, loops=40, ready=4, ongoing=45)
    # Started over more than one replica: panic mode holds 4 for a stable window, then ceil(4.5).
    assert answers[-1] == 5
    assert not scaler.panicking


def test_kpa_panics_on_a_burst_and_does_not_scale_down_while_panicking() -> None:
    clock = ManualClock()
    config = KnativeConfig(target_concurrency=10, target_utilization=1.0, max_scale_up_rate=3)
    scaler = KnativeAutoscaler(config)
    assert drive(scaler, clock, loops=31, ready=1, ongoing=5) == [1] * 31
    burst = drive(scaler, clock, loops=1, ready=1, ongoing=100)
    assert scaler.panicking
    # The panic window (6 s, 3 samples) sees 100 at once; the rate caps the step at 3x.
    assert burst == [3]
    calm = drive(scaler, clock, loops=20, ready=3, ongoing=5)
    assert min(calm) >= 3  # no scale-down in panic mode
    later = drive(scaler, clock, loops=30, ready=3, ongoing=5)
    assert not scaler.panicking
    assert later[-1] == 1


def test_kpa_threshold_is_a_ratio_of_ready_replicas() -> None:
    def panics(ongoing: int) -> bool:
        scaler = KnativeAutoscaler(KnativeConfig(target_concurrency=10, target_utilization=1.0))
        drive(scaler, ManualClock(), loops=3, ready=1, ongoing=ongoing)
        return scaler.panicking

    assert panics(11)  # ceil(11 / 10) = 2 pods for 1 ready: 200%
    assert not panics(10)  # 1 pod for 1 ready: 100%


def test_kpa_scale_down_delay_keeps_the_recent_maximum() -> None:
    clock = ManualClock()
    config = KnativeConfig(
        target_concurrency=10, target_utilization=1.0, scale_down_delay_s=10.0, stable_window_s=6
    )
    scaler = KnativeAutoscaler(config)
    drive(scaler, clock, loops=10, ready=1, ongoing=8)
    drive(scaler, clock, loops=6, ready=1, ongoing=15)
    after = drive(scaler, clock, loops=10, ready=2, ongoing=0)
    assert after[0] == 2
    assert after[-1] == 1


# ------------------------------------------------------------------------ SLO-aware


def slo_scaler(**changes: object) -> SLOAutoscaler:
    objectives = parse_slo("wait_p99<=2s", metrics=frozenset({"wait", "e2e"})).objectives
    settings: dict[str, object] = {"objectives": objectives, "interval_s": 1.0, "window_s": 10.0}
    settings.update(changes)
    return SLOAutoscaler(SLOScalingConfig(**settings))  # type: ignore[arg-type]


def feed(
    scaler: SLOAutoscaler,
    clock: ManualClock,
    *,
    seconds: int,
    rate: float,
    service_s: float,
    totals: list[float],
) -> list[int]:
    """Steady arrivals at ``rate`` served in ``service_s`` each; ``totals`` carries counters."""
    answers = []
    for _ in range(seconds):
        arrivals, completions = int(totals[0]), int(totals[1])
        snapshot = ScalingSnapshot(
            ready_replicas=1,
            arrivals=arrivals,
            completions=completions,
            service_s=completions * service_s,
        )
        answers.append(scaler.desired_replicas(snapshot, clock.now()))
        clock.advance(1.0)
        totals[0] += rate
        totals[1] += rate
    return answers


def test_slo_rule_sizes_with_erlang_c_from_measured_rate_and_service_time() -> None:
    clock = ManualClock()
    scaler = slo_scaler(max_replicas=50)
    answers = feed(scaler, clock, seconds=15, rate=3.0, service_s=1.0, totals=[0.0, 0.0])
    # 3 req/s of 1 s each, p99 wait <= 2 s: M/M/c needs 5 servers (docs/plan.md).
    assert answers[-1] == 5
    assert scaler.replicas_for(3.0, 1.0) == 5


def test_slo_rule_divides_servers_by_what_a_replica_serves_at_once() -> None:
    scaler = slo_scaler(servers_per_replica=4)
    objectives = scaler.config.objectives
    servers = min_replicas(30.0, 1.0, objectives).replicas
    assert scaler.replicas_for(30.0, 1.0) == -(-servers // 4)


def test_slo_rule_scales_down_only_after_the_delay_and_with_headroom() -> None:
    clock = ManualClock()
    scaler = slo_scaler(max_replicas=50, downscale_delay_s=20.0, headroom=0.0)
    totals = [0.0, 0.0]
    feed(scaler, clock, seconds=15, rate=3.0, service_s=1.0, totals=totals)
    low = feed(scaler, clock, seconds=40, rate=1.0, service_s=1.0, totals=totals)
    assert low[0] == 5
    assert low[-1] == scaler.replicas_for(1.0, 1.0) < 5
    # Not before the window has seen the lower rate plus the delay.
    assert low[19] == 5


@given(rate=st.floats(0.0, 80.0), service=st.floats(0.05, 5.0))
def test_slo_replicas_grow_with_load(rate: float, service: float) -> None:
    scaler = slo_scaler(max_replicas=1000)
    assert scaler.replicas_for(rate, service) <= scaler.replicas_for(rate * 1.5 + 0.1, service)


def test_slo_rule_refuses_objectives_it_cannot_plan() -> None:
    with pytest.raises(ConfigError, match="cannot be planned"):
        slo_scaler(objectives=parse_slo("ttft_p99<=1s").objectives)
