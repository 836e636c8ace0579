from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.workload import (
    ConstantArrivals,
    GammaArrivals,
    PoissonArrivals,
    Trace,
    TraceArrivals,
    load_trace,
)


def _gap_stats(arrivals_s: np.ndarray) -> tuple[float, float]:
    gaps = np.diff(np.concatenate([[0.0], arrivals_s]))
    return float(gaps.mean()), float(gaps.std() / gaps.mean())


def test_poisson_gaps_have_mean_one_over_rate_and_cv_one() -> None:
    mean_s, cv = _gap_stats(PoissonArrivals(rate_per_s=5).sample(42, count=200_000))
    assert mean_s == pytest.approx(0.2, rel=0.01)
    assert cv == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("cv", [0.25, 1.0, 3.0])
def test_gamma_gaps_have_the_requested_mean_and_cv(cv: float) -> None:
    mean_s, measured_cv = _gap_stats(GammaArrivals(rate_per_s=5, cv=cv).sample(42, count=200_000))
    assert mean_s == pytest.approx(0.2, rel=0.02)
    assert measured_cv == pytest.approx(cv, rel=0.03)


def test_constant_arrivals_are_exact() -> None:
    arrivals = ConstantArrivals(rate_per_s=4).sample(0, count=10)
    assert arrivals.tolist() == [k / 4 for k in range(1, 11)]
    assert len(ConstantArrivals(rate_per_s=5).sample(0, duration_s=10)) == 50


def test_a_duration_keeps_arrivals_within_it_at_the_expected_count() -> None:
    arrivals = PoissonArrivals(rate_per_s=100).sample(1, duration_s=100)
    assert arrivals.max() <= 100
    assert len(arrivals) == pytest.approx(10_000, rel=0.05)
    bursty = GammaArrivals(rate_per_s=100, cv=4).sample(1, duration_s=100)
    assert bursty.max() <= 100
    assert len(bursty) == pytest.approx(10_000, rel=0.25)


def test_count_and_duration_stop_at_whichever_comes_first() -> None:
    process = ConstantArrivals(rate_per_s=10)
    assert len(process.sample(0, count=5, duration_s=100)) == 5
    assert len(process.sample(0, count=500, duration_s=2)) == 20


def test_same_seed_same_arrivals_other_seed_other_arrivals() -> None:
    process = GammaArrivals(rate_per_s=3, cv=2)
    first = process.sample(9, count=100)
    assert np.array_equal(first, process.sample(9, count=100))
    assert np.array_equal(first, process.sample(np.random.default_rng(9), count=100))
    assert not np.array_equal(first, process.sample(10, count=100))


def test_a_million_arrivals_take_well_under_a_second() -> None:
    for process in (PoissonArrivals(rate_per_s=5), GammaArrivals(rate_per_s=5, cv=3)):
        started = time.perf_counter()
        arrivals = process.sample(0, count=1_000_000)
        assert time.perf_counter() - started < 0.5
        assert len(arrivals) == 1_000_000


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(0.01, 1000),
    cv=st.floats(0.1, 10),
    count=st.integers(0, 2000),
    seed=st.integers(0, 2**32),
)
def test_arrivals_are_non_negative_non_decreasing_and_counted(
    rate: float, cv: float, count: int, seed: int
) -> None:
    for process in (
        PoissonArrivals(rate_per_s=rate),
        GammaArrivals(rate_per_s=rate, cv=cv),
        ConstantArrivals(rate_per_s=rate),
    ):
        arrivals = process.sample(seed, count=count)
        assert len(arrivals) == count
        assert (arrivals >= 0).all()
        assert (np.diff(arrivals) >= 0).all()


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(0.1, 100), cv=st.floats(0.1, 10), duration_s=st.floats(0, 50))
def test_a_duration_bounds_every_arrival(rate: float, cv: float, duration_s: float) -> None:
    arrivals = GammaArrivals(rate_per_s=rate, cv=cv).sample(0, duration_s=duration_s)
    assert (arrivals <= duration_s).all()
    assert (np.diff(arrivals) >= 0).all()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PoissonArrivals(rate_per_s=0), "rate"),
        (lambda: ConstantArrivals(rate_per_s=float("inf")), "rate"),
        (lambda: GammaArrivals(rate_per_s=1, cv=0), "constant:rate"),
        (lambda: PoissonArrivals(rate_per_s=1).sample(0), "count"),
        (lambda: PoissonArrivals(rate_per_s=1).sample(0, count=-1), "count"),
        (lambda: PoissonArrivals(rate_per_s=1).sample(0, duration_s=-1), "duration_s"),
    ],
)
def test_invalid_arrival_settings_raise_config_errors(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


def test_replay_keeps_file_order_and_starts_at_zero(conv_csv: Path) -> None:
    replay = TraceArrivals(trace=load_trace(conv_csv))
    rows, arrivals = replay.select(count=100)
    assert rows.tolist() == list(range(10))
    assert arrivals.tolist() == [k * 0.5 for k in range(10)]


def test_replay_scales_time_by_speedup_or_target_rate(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    assert trace.mean_rate_per_s == pytest.approx(2.0)
    faster = TraceArrivals(trace=trace, speedup=2).sample(0, count=10)
    assert faster.tolist() == pytest.approx([k * 0.25 for k in range(10)])
    at_rate = TraceArrivals(trace=trace, rate_per_s=8).sample(0, count=10)
    assert at_rate.tolist() == pytest.approx([k * 0.125 for k in range(10)])


def test_replay_start_offset_max_requests_and_duration(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    rows, arrivals = TraceArrivals(trace=trace, start_s=1.2, max_requests=3).select(count=10)
    assert rows.tolist() == [3, 4, 5]
    assert arrivals.tolist() == pytest.approx([0.3, 0.8, 1.3])
    rows, arrivals = TraceArrivals(trace=trace).select(duration_s=1.0)
    assert rows.tolist() == [0, 1, 2]
    assert TraceArrivals(trace=trace, start_s=99).select(count=5)[0].size == 0


def test_replay_needs_times_and_one_time_scale(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    with pytest.raises(ConfigError, match="not both"):
        TraceArrivals(trace=trace, speedup=2, rate_per_s=3)
    lengths_only = Trace(source="lengths", prompt_tokens=np.array([5, 6], dtype=np.int64))
    with pytest.raises(ConfigError, match="no arrival-time column"):
        TraceArrivals(trace=lengths_only)
    with pytest.raises(ConfigError, match="speedup"):
        TraceArrivals(trace=trace, speedup=0)
    with pytest.raises(ConfigError, match="start"):
        TraceArrivals(trace=trace, start_s=-1)
    with pytest.raises(ConfigError, match="max"):
        TraceArrivals(trace=trace, max_requests=-1)
    one_row = Trace(source="one", arrival_s=np.array([0.0]))
    with pytest.raises(ConfigError, match="two distinct arrival times"):
        TraceArrivals(trace=one_row, rate_per_s=5)
