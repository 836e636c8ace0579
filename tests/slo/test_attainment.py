"""SLO attainment and its Wilson score interval."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.slo import attainment

# Standard normal quantiles at 97.5% and 99.5% (two-sided 95% and 99%).
Z_95 = 1.959963984540054
Z_99 = 2.5758293035489004


def _wilson_by_hand(good: int, total: int, z: float) -> tuple[float, float]:
    p = good / total
    denominator = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denominator
    return centre - half, centre + half


def test_textbook_case_eight_of_ten() -> None:
    result = attainment(8, 10)

    # Reference: Wilson 95% interval for 8/10 is (0.4902, 0.9433), e.g. R's
    # prop.test(8, 10, correct = FALSE) and statsmodels' proportion_confint(method="wilson").
    assert result.point == 0.8
    assert result.low == pytest.approx(0.4902, abs=5e-5)
    assert result.high == pytest.approx(0.9433, abs=5e-5)
    low, high = _wilson_by_hand(8, 10, Z_95)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-12)
    assert (result.good, result.total, result.confidence) == (8, 10, 0.95)


def test_other_confidence() -> None:
    result = attainment(95, 100, confidence=0.99)
    assert (result.low, result.high) == pytest.approx(_wilson_by_hand(95, 100, Z_99), rel=1e-9)


def test_all_good_reaches_one_and_none_good_reaches_zero() -> None:
    all_good = attainment(50, 50)
    none_good = attainment(0, 50)

    assert all_good.point == 1.0
    assert all_good.high == 1.0
    assert all_good.low == pytest.approx(_wilson_by_hand(50, 50, Z_95)[0])
    assert all_good.low < 1.0  # unlike the Wald interval, it does not collapse
    assert none_good.point == 0.0
    assert none_good.low == 0.0
    assert none_good.high > 0.0


def test_no_requests_means_nothing_is_known() -> None:
    result = attainment(0, 0)
    assert math.isnan(result.point)
    assert (result.low, result.high) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("good", "total", "fragment"),
    [(11, 10, "cannot exceed"), (-1, 10, ">= 0"), (0, -1, ">= 0"), (True, 1, "boolean")],
)
def test_rejects_impossible_counts(good: int, total: int, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        attainment(good, total)


def test_rejects_non_integer_counts() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        attainment(1.5, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.5, math.nan])
def test_rejects_confidence_outside_the_unit_interval(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        attainment(1, 2, confidence=confidence)


_COUNTS = st.integers(min_value=1, max_value=10**6).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))
)


@given(_COUNTS, st.floats(min_value=0.5, max_value=0.999))
def test_interval_contains_the_point_and_lies_in_the_unit_interval(
    counts: tuple[int, int], confidence: float
) -> None:
    result = attainment(*counts, confidence=confidence)
    assert 0.0 <= result.low <= result.point <= result.high <= 1.0


@given(_COUNTS)
def test_bounds_are_where_the_score_test_just_rejects(counts: tuple[int, int]) -> None:
    # Wilson's interval inverts the score test: an inner bound pi solves
    # (p - pi)^2 = z^2 pi (1 - pi) / n.
    good, total = counts
    result = attainment(good, total)
    for bound in (b for b in (result.low, result.high) if 0.0 < b < 1.0):
        lhs = (result.point - bound) ** 2
        rhs = Z_95**2 * bound * (1 - bound) / total
        assert lhs == pytest.approx(rhs, rel=1e-6, abs=1e-15)


@given(_COUNTS)
def test_more_confidence_gives_a_wider_interval(counts: tuple[int, int]) -> None:
    narrow = attainment(*counts, confidence=0.9)
    wide = attainment(*counts, confidence=0.99)
    assert wide.low <= narrow.low
    assert wide.high >= narrow.high
    assert wide.high - wide.low > narrow.high - narrow.low


@given(st.integers(min_value=0, max_value=1000))
def test_more_evidence_gives_a_narrower_interval(good: int) -> None:
    small = attainment(good, 1000)
    large = attainment(good * 10, 10_000)
    assert large.high - large.low < small.high - small.low
