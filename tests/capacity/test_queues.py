"""Queueing models: closed forms, a simulated M/M/c, and the relations between the models."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.capacity import (
    MODEL_GGC,
    MODEL_MMC,
    ggc,
    mg1,
    mm1,
    mmc,
    model_name,
    steady_state,
)
from slokit.errors import ConfigError, UnstableSystemError

replica_counts = st.integers(min_value=1, max_value=200)
utilizations = st.floats(min_value=0.0, max_value=0.995)
service_times_s = st.floats(min_value=1e-3, max_value=1e3)
cvs = st.floats(min_value=0.0, max_value=5.0)


def simulate_fifo_servers(
    rng: np.random.Generator,
    *,
    arrival_rate_per_s: float,
    service_time_s: float,
    servers: int,
    customers: int,
) -> np.ndarray:
    """Waits in an M/M/c FIFO queue: each arrival takes the server that frees up first."""
    arrival_s = np.cumsum(rng.exponential(1.0 / arrival_rate_per_s, customers)).tolist()
    service_s = rng.exponential(service_time_s, customers).tolist()
    free_at_s = [0.0] * servers
    wait_s = [0.0] * customers
    for index, (arrived_s, served_s) in enumerate(zip(arrival_s, service_s, strict=True)):
        start_s = max(arrived_s, free_at_s[0])
        heapq.heapreplace(free_at_s, start_s + served_s)
        wait_s[index] = start_s - arrived_s
    return np.asarray(wait_s)


def test_erlang_c_matches_a_simulated_mmc_queue() -> None:
    # c = 4, lambda = 3, mu = 1: C = Wq = 0.5094. Two million customers bring the standard
    # error of the mean wait near 0.7%; 3% is allowed.
    wait_s = simulate_fifo_servers(
        np.random.default_rng(42),
        arrival_rate_per_s=3.0,
        service_time_s=1.0,
        servers=4,
        customers=2_000_000,
    )[20_000:]  # the queue starts empty: drop the warm-up
    model = mmc(3.0, 1.0, 4)
    assert float((wait_s > 0).mean()) == pytest.approx(model.p_wait, rel=0.03)
    assert float(wait_s.mean()) == pytest.approx(model.mean_wait_s, rel=0.03)
    assert float(np.quantile(wait_s, 0.99)) == pytest.approx(model.wait_p99_s, rel=0.05)


def test_mm1_closed_forms() -> None:
    state = mm1(0.8, 1.0)
    assert state.utilization == pytest.approx(0.8)
    assert state.p_wait == pytest.approx(0.8)
    assert state.mean_in_system == pytest.approx(4.0)
    assert state.mean_in_queue == pytest.approx(3.2)
    assert state.mean_wait_s == pytest.approx(4.0)
    assert state.mean_time_in_system_s == pytest.approx(5.0)
    # P(W > t) = rho exp(-(mu - lambda) t)  =>  p99 = ln(0.8 / 0.01) / 0.2
    assert state.wait_p99_s == pytest.approx(math.log(80) / 0.2)
    assert state.wait_quantile_s(0.1) == 0.0


@given(utilization=utilizations, service_time_s=service_times_s)
def test_mm1_is_mmc_with_one_server(utilization: float, service_time_s: float) -> None:
    rate = utilization / service_time_s
    single, general = mm1(rate, service_time_s), mmc(rate, service_time_s, 1)
    for field in ("p_wait", "mean_wait_s", "wait_p99_s", "mean_in_system", "mean_in_queue"):
        assert getattr(single, field) == pytest.approx(getattr(general, field), rel=1e-9, abs=1e-15)


@given(replicas=replica_counts, utilization=utilizations, service_time_s=service_times_s)
def test_ggc_with_unit_cvs_is_mmc(replicas: int, utilization: float, service_time_s: float) -> None:
    rate = utilization * replicas / service_time_s
    approximated = ggc(rate, service_time_s, replicas, arrival_cv=1.0, service_cv=1.0)
    exact = mmc(rate, service_time_s, replicas)
    assert approximated.model == MODEL_GGC
    for field in ("p_wait", "mean_wait_s", "wait_p99_s", "mean_in_system", "mean_in_queue"):
        assert getattr(approximated, field) == pytest.approx(getattr(exact, field), rel=1e-12)


@given(utilization=utilizations, service_time_s=service_times_s, service_cv=cvs)
def test_ggc_on_one_server_with_poisson_arrivals_is_pollaczek_khinchine(
    utilization: float, service_time_s: float, service_cv: float
) -> None:
    rate = utilization / service_time_s
    approximated = ggc(rate, service_time_s, 1, service_cv=service_cv)
    exact = mg1(rate, service_time_s, service_cv=service_cv)
    assert approximated.mean_wait_s == pytest.approx(exact.mean_wait_s, rel=1e-9, abs=1e-15)
    assert approximated.p_wait == pytest.approx(exact.p_wait, rel=1e-9, abs=1e-15)


def test_mg1_constant_service_halves_the_exponential_wait() -> None:
    # Pollaczek-Khinchine: M/D/1 waits (1 + 0) / (1 + 1) = half as long as M/M/1.
    assert mg1(0.5, 1.0, service_cv=0.0).mean_wait_s == pytest.approx(mm1(0.5, 1.0).mean_wait_s / 2)


@given(
    replicas=replica_counts,
    utilization=utilizations,
    service_time_s=service_times_s,
    arrival_cv=cvs,
    service_cv=cvs,
)
def test_every_state_obeys_littles_law_and_is_finite(
    replicas: int, utilization: float, service_time_s: float, arrival_cv: float, service_cv: float
) -> None:
    rate = utilization * replicas / service_time_s
    state = ggc(rate, service_time_s, replicas, arrival_cv=arrival_cv, service_cv=service_cv)
    assert state.mean_in_system == pytest.approx(rate * state.mean_time_in_system_s, rel=1e-9)
    assert state.mean_in_queue == pytest.approx(rate * state.mean_wait_s, rel=1e-9)
    for value in (state.mean_wait_s, state.wait_p99_s, state.mean_in_system):
        assert math.isfinite(value)
        assert value >= 0.0
    assert 0.0 <= state.p_wait <= 1.0


@given(
    replicas=replica_counts,
    utilization=utilizations,
    service_cv=cvs,
    quantiles=st.lists(
        st.floats(min_value=0.01, max_value=0.9999), min_size=2, max_size=6, unique=True
    ),
)
def test_wait_percentiles_are_monotone_in_q(
    replicas: int, utilization: float, service_cv: float, quantiles: list[float]
) -> None:
    state = ggc(utilization * replicas, 1.0, replicas, service_cv=service_cv)
    waits_s = [state.wait_quantile_s(q) for q in sorted(quantiles)]
    assert waits_s == sorted(waits_s)
    assert all(w >= 0.0 for w in waits_s)


def test_wait_quantile_is_zero_below_the_probability_of_waiting() -> None:
    state = mmc(3.0, 1.0, 4)  # C = 0.5094
    assert state.wait_quantile_s(0.49) == 0.0
    # P(W > t) = C exp(-(c mu - lambda) t): the p90 solves C exp(-t) = 0.1
    assert state.wait_quantile_s(0.9) == pytest.approx(math.log(state.p_wait / 0.1))


@pytest.mark.parametrize(
    "build",
    [
        lambda: mm1(1.0, 1.0),
        lambda: mmc(5.0, 1.0, 4),
        lambda: mg1(2.0, 1.0, service_cv=0.5),
        lambda: ggc(4.0, 1.0, 4, service_cv=0.5),
    ],
)
def test_every_model_refuses_utilisation_of_one_or_more(build: Callable[[], object]) -> None:
    with pytest.raises(UnstableSystemError, match="grows without bound"):
        build()


def test_unstable_error_says_what_keeps_the_replicas_busy() -> None:
    with pytest.raises(UnstableSystemError) as raised:
        mmc(5.0, 1.0, 4)
    assert raised.value.utilization == pytest.approx(1.25)
    assert "M/M/c with 4 replicas" in str(raised.value)


@pytest.mark.parametrize(
    ("rate", "service_time_s", "replicas"),
    [(-1.0, 1.0, 1), (math.nan, 1.0, 1), (1.0, 0.0, 2), (1.0, math.inf, 2), (1.0, 1.0, 0)],
)
def test_bad_inputs_raise_config_error(rate: float, service_time_s: float, replicas: int) -> None:
    with pytest.raises(ConfigError):
        mmc(rate, service_time_s, replicas)


def test_negative_cv_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="service_cv"):
        ggc(1.0, 1.0, 2, service_cv=-0.1)
    with pytest.raises(ConfigError, match="arrival_cv"):
        ggc(1.0, 1.0, 2, arrival_cv=math.inf)


def test_zero_load_waits_for_nothing() -> None:
    state = mmc(0.0, 2.0, 3)
    assert (state.p_wait, state.mean_wait_s, state.wait_p99_s) == (0.0, 0.0, 0.0)
    assert state.mean_time_in_system_s == 2.0


def test_steady_state_picks_the_model_from_the_cvs_given() -> None:
    assert steady_state(3.0, 1.0, 4).model == MODEL_MMC
    assert steady_state(3.0, 1.0, 4, service_cv=1.0).model == MODEL_GGC
    assert model_name(arrival_cv=2.0) == MODEL_GGC
    bursty = steady_state(3.0, 1.0, 4, arrival_cv=2.0)
    # Allen-Cunneen: (ca^2 + cs^2) / 2 = (4 + 1) / 2 with a missing service CV taken as 1.
    assert bursty.mean_wait_s == pytest.approx(mmc(3.0, 1.0, 4).mean_wait_s * 2.5)


def test_an_offered_load_beyond_a_float_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="overflows"):
        mmc(1e300, 1e300, 4)
