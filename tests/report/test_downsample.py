"""Invariants of the reductions: exact CDF points, bounded seeded samples, rolling medians."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from slokit.errors import ConfigError
from slokit.report.downsample import (
    GapSampler,
    cdf_points,
    quantile_grid,
    rolling_median,
    sample_indices,
)

latencies = arrays(
    np.float64,
    st.integers(1, 3_000),
    elements=st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False),
)


@given(points=st.integers(3, 5_000))
def test_quantile_grid_spans_0_to_1_and_increases(points: int) -> None:
    grid = quantile_grid(points)
    assert grid.size == points
    assert grid[0] == 0.0
    assert grid[-1] == 1.0
    assert np.all(np.diff(grid) > 0)


def test_quantile_grid_is_dense_in_the_tail() -> None:
    grid = quantile_grid(1_000)
    assert np.count_nonzero(grid >= 0.99) == 200
    assert np.count_nonzero(grid >= 0.999) >= 100


@given(values=latencies, max_points=st.integers(3, 2_000))
@settings(deadline=None)
def test_cdf_points_are_exact(values: np.ndarray, max_points: int) -> None:
    xs, shares = cdf_points(values, max_points=max_points)
    assert xs.size == shares.size == min(values.size, max_points)
    assert np.all(np.diff(xs) >= 0)
    assert np.all(np.diff(shares) > 0)
    assert shares[-1] == 1.0
    assert xs[0] == values.min()
    assert xs[-1] == values.max()
    if values.size <= max_points:
        # The empirical CDF itself: the i-th smallest value is reached at share (i + 1) / n.
        assert np.array_equal(xs, np.sort(values))
    else:
        assert np.array_equal(xs, np.quantile(values, shares, method="linear"))


def test_cdf_points_ignore_nan() -> None:
    xs, shares = cdf_points(np.array([3.0, np.nan, 1.0]), max_points=10)
    assert xs.tolist() == [1.0, 3.0]
    assert shares.tolist() == [0.5, 1.0]


@given(
    count=st.integers(0, 5_000),
    max_points=st.integers(1, 1_000),
    keep_largest=st.integers(0, 50),
    seed=st.integers(0, 2**32 - 1),
)
@settings(deadline=None)
def test_sample_indices_bounded_unique_sorted_and_keep_the_largest(
    count: int, max_points: int, keep_largest: int, seed: int
) -> None:
    values = np.random.default_rng(seed).lognormal(size=count)
    chosen = sample_indices(
        values, max_points=max_points, keep_largest=keep_largest, rng=np.random.default_rng(seed)
    )
    assert chosen.size == min(count, max_points)
    assert np.all(np.diff(chosen) > 0)
    largest = np.argsort(values)[count - min(keep_largest, max_points, count) :]
    assert set(largest.tolist()) <= set(chosen.tolist())


def test_sample_indices_depend_only_on_the_seed() -> None:
    values = np.arange(10_000, dtype=np.float64)

    def pick(seed: int) -> list[int]:
        rng = np.random.default_rng(seed)
        return sample_indices(values, max_points=100, keep_largest=5, rng=rng).tolist()

    assert pick(1) == pick(1)
    assert pick(1) != pick(2)


@given(level=st.floats(0.0, 10.0), count=st.integers(5, 500))
def test_rolling_median_of_a_constant_is_that_constant(level: float, count: int) -> None:
    times_s = np.linspace(0.0, 10.0, count)
    centres_s, medians = rolling_median(
        times_s, np.full(count, level), window_s=2.0, points=50, min_count=1
    )
    assert 1 <= centres_s.size <= 50
    assert np.all(medians == level)


def test_rolling_median_with_a_window_wider_than_the_run_is_the_median() -> None:
    rng = np.random.default_rng(3)
    times_s, values = rng.uniform(0, 10, 1_001), rng.exponential(size=1_001)
    _, medians = rolling_median(times_s, values, window_s=100.0, points=7)
    assert np.allclose(medians, np.median(values))


def test_rolling_median_follows_a_step_and_skips_sparse_windows() -> None:
    times_s = np.concatenate([np.linspace(0, 10, 200), [100.0]])
    values = np.where(times_s < 5, 1.0, 9.0)
    centres_s, medians = rolling_median(times_s, values, window_s=1.0, points=101, min_count=5)
    assert medians[centres_s < 4].tolist() == [1.0] * int(np.sum(centres_s < 4))
    assert set(medians[(centres_s > 6) & (centres_s < 10)].tolist()) == {9.0}
    assert not np.any((centres_s > 11) & (centres_s < 99)), "no point without 5 values nearby"


def test_rolling_median_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        rolling_median(np.zeros(3), np.zeros(3), window_s=0.0, points=3)
    assert rolling_median(np.empty(0), np.empty(0), window_s=1.0, points=3)[0].size == 0


def test_gap_sampler_is_exact_below_its_limit() -> None:
    sampler = GapSampler(limit=100, rng=np.random.default_rng(0))
    for start in range(0, 150, 10):
        sampler.add(np.arange(start, start + 10, dtype=np.float64))
    assert sampler.exact
    assert sampler.seen == 150
    assert sampler.values().tolist() == list(range(150))


@given(limit=st.integers(1, 2_000), batches=st.lists(st.integers(0, 3_000), max_size=20))
@settings(deadline=None)
def test_gap_sampler_stays_bounded(limit: int, batches: list[int]) -> None:
    sampler = GapSampler(limit=limit, rng=np.random.default_rng(0))
    for size in batches:
        sampler.add(np.ones(size))
    assert sampler.seen == sum(batches)
    assert sampler.values().size <= 2 * limit
    assert sampler.exact == (sampler.values().size == sum(batches))


def test_gap_sampler_is_uniform() -> None:
    # Values 0..999_999 in order: a sample biased towards early or late batches shifts the mean.
    sampler = GapSampler(limit=20_000, rng=np.random.default_rng(5))
    for start in range(0, 1_000_000, 5_000):
        sampler.add(np.arange(start, start + 5_000, dtype=np.float64))
    kept = sampler.values()
    assert not sampler.exact
    assert 20_000 <= kept.size <= 40_000
    assert abs(kept.mean() - 499_999.5) < 6_000  # 3 standard errors of the mean, or more
    counts, _ = np.histogram(kept, bins=10, range=(0, 1_000_000))
    assert counts.min() > 0.9 * counts.mean()


def test_gap_sampler_needs_a_positive_limit() -> None:
    with pytest.raises(ConfigError):
        GapSampler(limit=0, rng=np.random.default_rng(0))
