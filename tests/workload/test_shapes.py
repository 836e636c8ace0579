from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.workload import (
    EmpiricalTokens,
    FixedTokens,
    LognormalTokens,
    NormalTokens,
    ReplayTokens,
    UniformTokens,
)
from slokit.workload.shapes import TokenSampler

N = 200_000


def test_fixed_is_always_the_count() -> None:
    assert FixedTokens(tokens=128).sample(0, 5).tolist() == [128] * 5


def test_uniform_covers_both_ends_with_the_midpoint_mean() -> None:
    tokens = UniformTokens(low_tokens=64, high_tokens=512).sample(1, N)
    assert (tokens.min(), tokens.max()) == (64, 512)
    assert tokens.mean() == pytest.approx(288, rel=0.01)


def test_lognormal_by_mean_and_cv_has_that_mean_and_cv() -> None:
    tokens = LognormalTokens(mean_tokens=512, cv=0.8).sample(2, N)
    assert tokens.mean() == pytest.approx(512, rel=0.01)
    assert tokens.std() / tokens.mean() == pytest.approx(0.8, rel=0.03)


def test_lognormal_by_median_and_sigma_has_that_median() -> None:
    shape = LognormalTokens(median_tokens=400, sigma=0.7)
    tokens = shape.sample(3, N)
    assert np.median(tokens) == pytest.approx(400, rel=0.01)
    assert np.log(tokens).std() == pytest.approx(0.7, rel=0.02)
    assert shape.log_mu == pytest.approx(math.log(400))


def test_normal_is_clipped_to_its_clamps() -> None:
    tokens = NormalTokens(mean_tokens=100, std_tokens=80, min_tokens=20, max_tokens=150).sample(
        4, N
    )
    assert (tokens.min(), tokens.max()) == (20, 150)
    # Clipping piles the cut tails onto the bounds rather than redrawing them.
    assert (tokens == 20).mean() == pytest.approx(0.16, abs=0.01)


def test_clamps_hold_for_a_heavy_tail() -> None:
    shape = LognormalTokens(mean_tokens=512, cv=3, min_tokens=16, max_tokens=2048)
    tokens = shape.sample(5, N)
    assert tokens.min() >= 16
    assert tokens.max() <= 2048


def test_empirical_resamples_the_observed_values() -> None:
    shape = EmpiricalTokens(values=np.array([3, 7, 7, 100]))
    tokens = shape.sample(6, N)
    assert set(tokens.tolist()) == {3, 7, 100}
    assert (tokens == 7).mean() == pytest.approx(0.5, abs=0.01)
    assert EmpiricalTokens(values=np.array([0, 0])).sample(0, 3).tolist() == [1, 1, 1]


def test_empirical_compares_by_values_and_keeps_its_own_copy() -> None:
    values = np.array([1, 2, 3])
    shape = EmpiricalTokens(values=values, source="trace:x.csv:prompt_tokens")
    values[0] = 99
    assert shape.values.tolist() == [1, 2, 3]
    assert shape == EmpiricalTokens(values=np.array([1, 2, 3]), source="trace:x.csv:prompt_tokens")
    assert shape != EmpiricalTokens(values=np.array([1, 2, 4]), source="trace:x.csv:prompt_tokens")
    assert hash(shape) == hash(EmpiricalTokens(values=[1, 2, 3], source=shape.source))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no text form"):
        _ = EmpiricalTokens(values=values).spec


def test_replay_clamps_the_rows_it_is_given() -> None:
    assert ReplayTokens(max_tokens=10).take(np.array([0, 5, 50])).tolist() == [1, 5, 10]


def test_same_seed_same_draws() -> None:
    shape = LognormalTokens(mean_tokens=100, cv=1)
    assert np.array_equal(shape.sample(1, 50), shape.sample(1, 50))
    assert not np.array_equal(shape.sample(1, 50), shape.sample(2, 50))


SHAPES: list[TokenSampler] = [
    FixedTokens(tokens=1),
    UniformTokens(low_tokens=1, high_tokens=3),
    LognormalTokens(mean_tokens=2, cv=5),
    LognormalTokens(median_tokens=1, sigma=3, max_tokens=50),
    NormalTokens(mean_tokens=1, std_tokens=100),
    EmpiricalTokens(values=np.array([0, 1, 10_000]), max_tokens=5000),
]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(0, 500))
def test_every_shape_gives_count_integers_of_at_least_one(seed: int, count: int) -> None:
    for shape in SHAPES:
        tokens = shape.sample(seed, count)
        assert tokens.dtype == np.int64
        assert len(tokens) == count
        assert (tokens >= 1).all()


@settings(max_examples=50, deadline=None)
@given(
    low=st.integers(1, 1000),
    width=st.integers(0, 1000),
    min_tokens=st.integers(1, 500),
    extra=st.integers(0, 500),
)
def test_clamps_bound_every_draw(low: int, width: int, min_tokens: int, extra: int) -> None:
    max_tokens = min_tokens + extra
    shape = UniformTokens(
        low_tokens=low, high_tokens=low + width, min_tokens=min_tokens, max_tokens=max_tokens
    )
    tokens = shape.sample(0, 200)
    assert (tokens >= min_tokens).all()
    assert (tokens <= max_tokens).all()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FixedTokens(tokens=0), "tokens must be >= 1"),
        (lambda: UniformTokens(low_tokens=5, high_tokens=4), "low <= high"),
        (lambda: LognormalTokens(mean_tokens=5), "either mean and cv"),
        (lambda: LognormalTokens(mean_tokens=5, cv=1, sigma=1), "either mean and cv"),
        (lambda: LognormalTokens(mean_tokens=-5, cv=1), "mean must be"),
        (lambda: LognormalTokens(median_tokens=5, sigma=-1), "sigma must be"),
        (lambda: NormalTokens(mean_tokens=5, std_tokens=-1), "std must be"),
        (lambda: NormalTokens(mean_tokens=5, std_tokens=1, min_tokens=0), "min_tokens"),
        (lambda: NormalTokens(mean_tokens=5, std_tokens=1, min_tokens=9, max_tokens=8), "max"),
        (lambda: EmpiricalTokens(values=np.array([], dtype=np.int64)), "non-empty"),
        (lambda: EmpiricalTokens(values=np.array([-1])), ">= 0"),
        (lambda: FixedTokens(tokens=3).sample(0, -1), "negative"),
    ],
)
def test_invalid_shapes_raise_config_errors(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]
