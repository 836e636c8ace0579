import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.gate.bootstrap import (
    ratio_interval,
    resample_mean,
    resample_quantile,
    sample_statistic,
)


@pytest.mark.parametrize(("quantile", "n"), [(0.5, 101), (0.9, 40), (0.99, 1000), (0.999, 300)])
def test_quantile_resampling_matches_ordinary_resampling(quantile: float, n: int) -> None:
    rng = np.random.default_rng(3)
    values = np.sort(rng.lognormal(0.0, 1.0, n))
    exact = resample_quantile(values, quantile, resamples=40_000, rng=rng)
    indices = rng.integers(0, n, size=(8_000, n))
    ordinary = np.quantile(values[indices], quantile, axis=1)
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    spread = np.quantile(ordinary, 0.95) - np.quantile(ordinary, 0.05)
    gaps = np.abs(np.quantile(exact, levels) - np.quantile(ordinary, levels))
    assert (gaps <= 0.08 * spread).all()


def test_quantile_resampling_of_the_extremes_and_exact_positions() -> None:
    rng = np.random.default_rng(0)
    values = np.arange(1.0, 6.0)
    assert set(resample_quantile(values, 1.0, resamples=500, rng=rng)) <= set(values)
    assert set(resample_quantile(values, 0.0, resamples=500, rng=rng)) <= set(values)
    # 0.5 * (5 - 1) = 2 sits on an order statistic: no interpolation, values only.
    assert set(resample_quantile(values, 0.5, resamples=500, rng=rng)) <= set(values)


def test_mean_resampling_spread_is_the_standard_error() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10.0, 2.0, 400)
    means = resample_mean(values, resamples=5_000, rng=rng)
    assert means.mean() == pytest.approx(values.mean(), abs=0.02)
    assert means.std() == pytest.approx(values.std() / math.sqrt(values.size), rel=0.05)


def test_interval_brackets_a_known_ratio() -> None:
    rng = np.random.default_rng(2)
    baseline = rng.lognormal(0.0, 0.3, 2_000)
    candidate = rng.lognormal(0.0, 0.3, 2_000) * 1.5
    for quantile in (None, 0.5, 0.9):
        interval = ratio_interval(
            baseline,
            candidate,
            quantile=quantile,
            tail_probability=0.0005,
            resamples=4_000,
            baseline_rng=np.random.default_rng(0),
            candidate_rng=np.random.default_rng(1),
        )
        assert interval.low < 1.5 < interval.high
        assert interval.high / interval.low < 1.3


def test_too_few_samples_or_resamples_are_refused() -> None:
    def interval(n: int, resamples: int) -> object:
        values = np.ones(n)
        return ratio_interval(
            values,
            values,
            quantile=0.5,
            tail_probability=0.001,
            resamples=resamples,
            baseline_rng=np.random.default_rng(0),
            candidate_rng=np.random.default_rng(1),
        )

    with pytest.raises(ConfigError, match="two samples"):
        interval(1, 10_000)
    with pytest.raises(ConfigError, match="at least 1000 resamples"):
        interval(10, 500)


# Latencies in seconds: zero, or from the clock's nanosecond resolution up to many minutes.
samples = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e3)),
    min_size=2,
    max_size=60,
).map(np.array)


@settings(max_examples=150, deadline=None)
@given(
    baseline=samples,
    candidate=samples,
    statistic=st.sampled_from([None, 0.5, 0.9, 0.99]),
    seed=st.integers(0, 2**32 - 1),
)
def test_interval_holds_the_point_estimate(
    baseline: np.ndarray, candidate: np.ndarray, statistic: float | None, seed: int
) -> None:
    interval = ratio_interval(
        baseline,
        candidate,
        quantile=statistic,
        tail_probability=0.01,
        resamples=300,
        baseline_rng=np.random.default_rng([seed, 0]),
        candidate_rng=np.random.default_rng([seed, 1]),
    )
    assert interval.log_low <= interval.log_ratio <= interval.log_high
    base, cand = sample_statistic(baseline, statistic), sample_statistic(candidate, statistic)
    if base > 0.0 and cand > 0.0:
        assert interval.ratio == pytest.approx(cand / base, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(baseline=samples, candidate=samples, statistic=st.sampled_from([None, 0.5, 0.95]))
def test_swapping_the_runs_and_their_streams_negates_the_interval(
    baseline: np.ndarray, candidate: np.ndarray, statistic: float | None
) -> None:
    def interval(x: np.ndarray, y: np.ndarray, x_seed: int, y_seed: int) -> tuple[float, ...]:
        result = ratio_interval(
            x,
            y,
            quantile=statistic,
            tail_probability=0.02,
            resamples=200,
            baseline_rng=np.random.default_rng(x_seed),
            candidate_rng=np.random.default_rng(y_seed),
        )
        return result.log_ratio, result.log_low, result.log_high

    ratio, low, high = interval(baseline, candidate, 5, 6)
    assert interval(candidate, baseline, 6, 5) == (-ratio, -high, -low)
