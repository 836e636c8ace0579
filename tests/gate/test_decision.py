import math

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.gate import (
    GateConfig,
    GateResult,
    MetricComparison,
    RunSamples,
    Verdict,
    compare,
    parse_metrics,
)

FAST = GateConfig(resamples=2_000)


def run(
    seed: int, n: int = 1_000, *, factor: float = 1.0, failed: int = 5, sigma: float = 0.3
) -> RunSamples:
    rng = np.random.default_rng(seed)
    ttft = 0.2 * rng.lognormal(0.0, sigma, n) * factor
    tpot = 0.02 * rng.lognormal(0.0, sigma / 2, n) * factor
    e2e = ttft + tpot * 100
    return RunSamples(ttft_s=ttft, tpot_s=tpot, itl_s=tpot, e2e_s=e2e, failed=failed, total=n)


def verdicts(result: GateResult) -> dict[str, Verdict]:
    return {c.metric: c.verdict for c in result.comparisons}


def only(result: GateResult) -> MetricComparison:
    (comparison,) = result.comparisons
    return comparison


def test_identical_runs_pass_with_no_change() -> None:
    result = compare(run(1), run(1), config=FAST)
    assert not result.regressed
    assert set(verdicts(result).values()) == {Verdict.NO_CHANGE}
    assert result.confidence == pytest.approx(1 - 2 * 0.01 / 7)


def test_two_runs_of_the_same_system_pass() -> None:
    assert not compare(run(1), run(2), config=FAST).regressed


def test_a_slower_candidate_regresses_on_every_latency() -> None:
    result = compare(run(1), run(2, factor=1.3), config=FAST)
    assert result.regressed
    assert {"ttft_s.p50", "tpot_s.p50", "e2e_s.p50"} <= set(result.regressions)
    comparison = verdicts(result)
    assert comparison["error_rate"] is Verdict.NO_CHANGE


def test_a_faster_candidate_is_improved() -> None:
    result = compare(run(1), run(2, factor=0.7), config=FAST)
    assert not result.regressed
    assert verdicts(result)["e2e_s.p50"] is Verdict.IMPROVED


def test_a_significant_change_inside_the_tolerance_is_not_a_regression() -> None:
    metrics = parse_metrics(["e2e_s.p50"])
    baseline, candidate = run(1, 4_000, sigma=0.02), run(2, 4_000, factor=1.03, sigma=0.02)
    within = only(compare(baseline, candidate, metrics=metrics, config=FAST))
    assert within.verdict is Verdict.WORSE_WITHIN_TOLERANCE
    assert 1.0 < within.low < within.change < 1.05
    strict = GateConfig(resamples=2_000, max_regression=0.01)
    assert compare(baseline, candidate, metrics=metrics, config=strict).regressed


def test_more_failures_regress_and_fewer_improve() -> None:
    metrics = parse_metrics(["error_rate"])
    worse = only(compare(run(1, failed=2), run(1, failed=40), metrics=metrics, config=FAST))
    assert worse.verdict is Verdict.REGRESSION
    assert worse.change == pytest.approx(0.038)
    better = only(compare(run(1, failed=40), run(1, failed=2), metrics=metrics, config=FAST))
    assert better.verdict is Verdict.IMPROVED
    tolerant = GateConfig(resamples=2_000, max_error_increase=0.05)
    tolerated = compare(run(1, failed=2), run(1, failed=40), metrics=metrics, config=tolerant)
    assert only(tolerated).verdict is Verdict.WORSE_WITHIN_TOLERANCE


def test_too_few_samples_leave_a_quantile_undecided_with_the_size_needed() -> None:
    metrics = parse_metrics(["e2e_s.p99", "e2e_s.p50"])
    result = compare(run(1, 50), run(2, 50, factor=3.0), metrics=metrics, config=FAST)
    p99, p50 = result.comparisons
    assert p99.verdict is Verdict.NOT_DECIDED
    assert "at least 100" in p99.notes[0]
    assert "5,000 or more recommended" in p99.notes[0]
    assert p50.verdict is Verdict.REGRESSION


def test_a_quantile_on_few_tail_samples_is_decided_with_a_note() -> None:
    result = compare(run(1, 300), run(2, 300), metrics=parse_metrics(["e2e_s.p99"]), config=FAST)
    notes = only(result).notes
    assert any("5,000 or more recommended" in note for note in notes)
    assert any("requests per run would narrow it" in note for note in notes)


def test_empty_and_zero_samples_are_not_decided() -> None:
    empty = RunSamples(
        ttft_s=np.zeros(10),
        tpot_s=np.empty(0),
        itl_s=np.empty(0),
        e2e_s=np.ones(10),
        failed=0,
        total=0,
    )
    metrics = parse_metrics(["ttft_s.p50", "tpot_s.p50", "error_rate"])
    result = compare(empty, empty, metrics=metrics, config=FAST)
    assert set(verdicts(result).values()) == {Verdict.NOT_DECIDED}
    assert all(c.notes for c in result.comparisons)


def test_results_are_seeded_and_independent_of_the_other_metrics() -> None:
    baseline, candidate = run(1), run(2, factor=1.05)
    one = compare(baseline, candidate, metrics=parse_metrics(["e2e_s.p99"]), config=FAST)
    again = compare(baseline, candidate, metrics=parse_metrics(["e2e_s.p99"]), config=FAST)
    assert one == again
    both = compare(
        baseline, candidate, metrics=parse_metrics(["tpot_s.p50", "e2e_s.p99"]), config=FAST
    )
    # Same draws; only the Bonferroni level differs, so the point estimates agree.
    assert both.comparisons[1].change == one.comparisons[0].change


@pytest.mark.parametrize(
    "settings_",
    [
        {"max_regression": -0.1},
        {"max_regression": math.nan},
        {"max_error_increase": 1.0},
        {"alpha": 0.0},
        {"alpha": 0.5},
        {"resamples": 10},
        {"seed": -1},
    ],
)
def test_bad_settings_are_refused(settings_: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        GateConfig(**settings_)  # type: ignore[arg-type]


def test_too_few_resamples_for_many_metrics_name_the_fix() -> None:
    config = GateConfig(resamples=100)
    with pytest.raises(ConfigError, match="at least 700 resamples"):
        compare(run(1), run(2), config=config)


positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_subnormal=False)
latencies = st.lists(st.floats(0.5, 2.0), min_size=2, max_size=40).map(np.array)
statistics = st.sampled_from(["e2e_s.mean", "e2e_s.p50", "e2e_s.p90"])


def e2e_run(values: np.ndarray) -> RunSamples:
    empty = np.empty(0)
    return RunSamples(
        ttft_s=empty, tpot_s=empty, itl_s=empty, e2e_s=values, failed=0, total=values.size
    )


def near_a_boundary(comparison: MetricComparison, tolerance: float) -> bool:
    """Within rounding of a decision's edge, where scaling may tip the verdict either way."""
    edges = (0.0, math.log1p(tolerance))
    values = (math.log(comparison.change), math.log(comparison.low), math.log(comparison.high))
    return any(math.isclose(v, e, rel_tol=1e-9, abs_tol=1e-12) for v in values for e in edges)


@settings(max_examples=60, deadline=None)
@given(
    baseline=latencies,
    candidate=latencies,
    shift=st.sampled_from([0.5, 1.0, 1.04, 2.0]),
    metric=statistics,
    factor=positive,
)
def test_scaling_both_runs_keeps_the_decision(
    baseline: np.ndarray, candidate: np.ndarray, shift: float, metric: str, factor: float
) -> None:
    candidate = candidate * shift
    metrics = parse_metrics([metric])
    config = GateConfig(resamples=300)
    plain = only(compare(e2e_run(baseline), e2e_run(candidate), metrics=metrics, config=config))
    assume(plain.verdict is not Verdict.NOT_DECIDED)
    assume(not near_a_boundary(plain, config.max_regression))
    scaled = only(
        compare(
            e2e_run(baseline * factor), e2e_run(candidate * factor), metrics=metrics, config=config
        )
    )
    assert scaled.verdict is plain.verdict
    event(plain.verdict.value)
    assert scaled.change == pytest.approx(plain.change, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    samples=st.integers(2, 400),
    factor=st.floats(1.0, 3.0),
    metric=statistics,
)
def test_swapping_a_regression_gives_an_improvement(
    seed: int, samples: int, factor: float, metric: str
) -> None:
    rng = np.random.default_rng(seed)
    baseline = e2e_run(rng.lognormal(0.0, 0.5, samples))
    candidate = e2e_run(rng.lognormal(0.0, 0.5, samples) * factor)
    metrics = parse_metrics([metric])
    config = GateConfig(resamples=300)
    forward = only(compare(baseline, candidate, metrics=metrics, config=config))
    assume(forward.verdict is Verdict.REGRESSION)
    backward = only(compare(candidate, baseline, metrics=metrics, config=config))
    assert backward.verdict is Verdict.IMPROVED
    assert backward.change == pytest.approx(1.0 / forward.change, rel=1e-12)
    assert backward.low == pytest.approx(1.0 / forward.high, rel=1e-12)
