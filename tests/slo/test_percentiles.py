"""Exact percentiles (linear interpolation) and the latency summary."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.slo import SUMMARY_QUANTILES, Summary, quantile, quantiles, summarize

_LATENCIES = st.lists(
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)
_QS = st.floats(min_value=0.0, max_value=1.0)


def _reference_quantile(values: list[float], q: float) -> float:
    """The definition, written out: position q*(n-1) in the sorted values, interpolated."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 0.3, 1.9),  # position 0.9: 1 + 0.9 * (2 - 1)
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([3.0, 1.0, 2.0], 0.5, 2.0),  # unsorted input
        ([3.0, 1.0, 2.0], 0.0, 1.0),
        ([3.0, 1.0, 2.0], 1.0, 3.0),
        ([10.0, 20.0], 0.99, 19.9),
        ([7.0], 0.123, 7.0),
    ],
)
def test_linear_interpolation_by_hand(values: list[float], q: float, expected: float) -> None:
    assert quantile(values, q) == pytest.approx(expected, rel=1e-12)


def test_p99_of_one_to_a_hundred() -> None:
    # Position 0.99 * 99 = 98.01 between 99 and 100.
    assert quantile(np.arange(1.0, 101.0), 0.99) == pytest.approx(99.01, rel=1e-12)


@given(_LATENCIES, _QS)
def test_agrees_with_the_written_out_definition(values: list[float], q: float) -> None:
    assert quantile(values, q) == pytest.approx(_reference_quantile(values, q), rel=1e-9, abs=1e-12)


@given(_LATENCIES, _QS, _QS)
def test_monotone_in_q(values: list[float], q1: float, q2: float) -> None:
    low_q, high_q = sorted((q1, q2))
    assert quantile(values, low_q) <= quantile(values, high_q)


@given(_LATENCIES, st.lists(_QS, max_size=8))
def test_quantiles_match_one_at_a_time(values: list[float], qs: list[float]) -> None:
    assert quantiles(values, qs) == tuple(quantile(values, q) for q in qs)


def test_nan_is_ignored() -> None:
    assert quantile([1.0, math.nan, 3.0, math.nan], 0.5) == 2.0
    assert quantile([math.nan], 0.5) != quantile([math.nan], 0.5)  # NaN


@pytest.mark.parametrize("values", [[], [math.nan, math.nan]])
def test_no_value_gives_nan(values: list[float]) -> None:
    assert math.isnan(quantile(values, 0.5))
    assert all(math.isnan(v) for v in quantiles(values, [0.1, 0.9]))


@pytest.mark.parametrize("q", [-0.01, 1.01, math.nan])
def test_rejects_q_outside_the_unit_interval(q: float) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        quantile([1.0, 2.0], q)


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_rejects_infinite_values(bad: float) -> None:
    with pytest.raises(ConfigError, match="finite"):
        quantile([1.0, bad], 0.5)
    with pytest.raises(ConfigError, match="finite"):
        summarize([1.0, bad])


def test_rejects_tables() -> None:
    with pytest.raises(ConfigError, match="one-dimensional"):
        summarize([[1.0, 2.0], [3.0, 4.0]])


def test_summary_keys() -> None:
    keys = list(summarize([0.1, 0.2]).as_dict())
    assert keys == ["count", "mean", "std", "min", "max", "p50", "p90", "p95", "p99", "p99_9"]
    assert [name for name, _ in SUMMARY_QUANTILES] == keys[5:]


def test_summary_of_known_values() -> None:
    values = [0.4, 0.1, math.nan, 0.3, 0.2]
    summary = summarize(values)

    present = [0.1, 0.2, 0.3, 0.4]
    assert summary.count == 4
    assert summary.mean == pytest.approx(statistics.fmean(present))
    assert summary.std == pytest.approx(statistics.pstdev(present))
    assert (summary.min, summary.max) == (0.1, 0.4)
    assert summary.p50 == pytest.approx(0.25)
    assert summary.p90 == pytest.approx(0.1 + 2.7 * 0.1)  # position 2.7
    assert summary.p99_9 == pytest.approx(0.3 + 0.997 * 0.1)  # position 2.997


def test_one_value_has_no_spread() -> None:
    summary = summarize([0.25])
    assert summary.count == 1
    assert summary.std == 0.0
    assert {summary.mean, summary.min, summary.max, summary.p50, summary.p99_9} == {0.25}


@pytest.mark.parametrize("values", [[], [math.nan], np.array([])])
def test_empty_summary_is_nan_with_count_zero(values: list[float]) -> None:
    summary = summarize(values)

    assert summary.count == 0
    as_dict = summary.as_dict()
    assert as_dict["count"] == 0
    assert all(math.isnan(v) for k, v in as_dict.items() if k != "count")


@given(_LATENCIES)
def test_summary_statistics_are_ordered(values: list[float]) -> None:
    s = summarize(values)
    assert s.min <= s.p50 <= s.p90 <= s.p95 <= s.p99 <= s.p99_9 <= s.max
    assert s.count == len(values)
    assert s.std >= 0.0
    assert s.min == min(values)
    assert s.max == max(values)


@given(_LATENCIES)
def test_summary_agrees_with_the_stdlib(values: list[float]) -> None:
    s = summarize(values)
    assert s.mean == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-12)
    assert s.std == pytest.approx(statistics.pstdev(values), rel=1e-6, abs=1e-9)


def test_summary_is_frozen() -> None:
    summary = summarize([1.0])
    assert isinstance(summary, Summary)
    with pytest.raises(AttributeError):
        summary.mean = 2.0  # type: ignore[misc]
