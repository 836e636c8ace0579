"""The streaming quantile sketch: DDSketch's relative-error guarantee and exact merges."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.slo import QuantileSketch

_POSITIVE = st.lists(st.floats(min_value=1e-6, max_value=1e4), min_size=1, max_size=300)
_QS = st.floats(min_value=0.0, max_value=1.0)
_ALPHAS = st.sampled_from([0.001, 0.01, 0.05])
_GRID = [i / 100 for i in range(101)]


def _sketch(values: list[float], alpha: float = 0.01) -> QuantileSketch:
    sketch = QuantileSketch(relative_accuracy=alpha)
    for value in values:
        sketch.add(value)
    return sketch


@given(_POSITIVE, _QS, _ALPHAS)
def test_quantile_is_within_alpha_of_the_lower_rank_value(
    values: list[float], q: float, alpha: float
) -> None:
    # DDSketch answers for the value of 0-based rank floor(q * (n - 1)) in sorted order (its
    # store walks to the first bucket whose cumulative count exceeds q * (n - 1)) and returns
    # that bucket's representative, which is within alpha of every value in the bucket.
    ordered = sorted(values)
    exact = ordered[math.floor(q * (len(ordered) - 1))]

    estimate = _sketch(values, alpha).quantile(q)

    # The 1e-12 absorbs floating-point rounding of the logarithm at bucket edges.
    assert abs(estimate - exact) <= alpha * exact * (1 + 1e-12)


def test_a_loose_bound_would_not_do() -> None:
    # With two far-apart values, the median must be near the lower one, not in between.
    sketch = _sketch([1.0, 100.0])
    assert sketch.quantile(0.5) == pytest.approx(1.0, rel=0.01)
    assert sketch.quantile(1.0) == pytest.approx(100.0, rel=0.01)


def test_zero_is_exact() -> None:
    sketch = _sketch([0.0, 0.0, 0.0, 2.0])

    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(0.5) == 0.0  # rank floor(0.5 * 3) = 1 is a zero
    assert sketch.quantile(1.0) == pytest.approx(2.0, rel=0.01)
    assert sketch.count == 4
    assert sketch.mean_s == 0.5


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, -math.inf])
def test_rejects_values_that_are_not_latencies(bad: float) -> None:
    sketch = QuantileSketch()
    with pytest.raises(ConfigError, match="latency"):
        sketch.add(bad)
    assert sketch.count == 0


def test_empty_sketch() -> None:
    sketch = QuantileSketch()
    assert sketch.count == 0
    assert sketch.sum_s == 0.0
    assert math.isnan(sketch.mean_s)
    assert math.isnan(sketch.quantile(0.5))


@given(_POSITIVE)
def test_count_sum_and_mean_are_exact(values: list[float]) -> None:
    sketch = _sketch(values)
    assert sketch.count == len(values)
    assert sketch.sum_s == pytest.approx(math.fsum(values), rel=1e-12)
    assert sketch.mean_s == pytest.approx(math.fsum(values) / len(values), rel=1e-12)


@pytest.mark.parametrize("q", [-0.1, 1.1, math.nan])
def test_rejects_q_outside_the_unit_interval(q: float) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        _sketch([1.0]).quantile(q)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.01, math.nan])
def test_rejects_relative_accuracy_outside_the_unit_interval(alpha: float) -> None:
    with pytest.raises(ConfigError, match="relative_accuracy"):
        QuantileSketch(relative_accuracy=alpha)


@given(_POSITIVE, _POSITIVE)
def test_merge_equals_sketching_the_concatenation(a: list[float], b: list[float]) -> None:
    merged = _sketch(a)
    merged.merge(_sketch(b))
    together = _sketch(a + b)

    assert merged.count == together.count == len(a) + len(b)
    assert merged.sum_s == pytest.approx(together.sum_s, rel=1e-12)
    assert [merged.quantile(q) for q in _GRID] == [together.quantile(q) for q in _GRID]


@given(_POSITIVE, _POSITIVE, _POSITIVE)
def test_merge_is_commutative_and_associative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ab_c = _sketch(a)
    ab_c.merge(_sketch(b))
    ab_c.merge(_sketch(c))
    bc = _sketch(b)
    bc.merge(_sketch(c))
    a_bc = _sketch(a)
    a_bc.merge(bc)
    c_b_a = _sketch(c)
    c_b_a.merge(_sketch(b))
    c_b_a.merge(_sketch(a))

    assert ab_c.count == a_bc.count == c_b_a.count == len(a) + len(b) + len(c)
    expected = [ab_c.quantile(q) for q in _GRID]
    assert [a_bc.quantile(q) for q in _GRID] == expected
    assert [c_b_a.quantile(q) for q in _GRID] == expected


def test_merge_leaves_the_other_sketch_alone() -> None:
    empty = QuantileSketch()
    other = _sketch([1.0, 2.0])

    empty.merge(other)
    empty.add(50.0)

    assert other.count == 2
    assert other.quantile(1.0) == pytest.approx(2.0, rel=0.01)
    assert empty.count == 3


def test_merging_an_empty_sketch_changes_nothing() -> None:
    sketch = _sketch([1.0, 2.0, 3.0])
    before = [sketch.quantile(q) for q in _GRID]
    sketch.merge(QuantileSketch())
    assert sketch.count == 3
    assert [sketch.quantile(q) for q in _GRID] == before


def test_merge_requires_the_same_accuracy() -> None:
    with pytest.raises(ConfigError, match="same relative_accuracy"):
        QuantileSketch(relative_accuracy=0.01).merge(QuantileSketch(relative_accuracy=0.02))


def test_merge_into_itself_is_refused() -> None:
    sketch = _sketch([1.0])
    with pytest.raises(ConfigError, match="itself"):
        sketch.merge(sketch)
