"""Wait and time-in-system distributions: closed forms, sampling checks and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.capacity import ggc, mmc
from slokit.capacity.sojourn import (
    service_quantile_s,
    time_in_system_quantile_s,
    time_in_system_survival,
    wait_quantile_s,
)
from slokit.errors import ConfigError


def sampled_time_in_system_s(
    rng: np.random.Generator,
    *,
    p_wait: float,
    mean_wait_s: float,
    service_time_s: float,
    service_cv: float,
    samples: int,
) -> np.ndarray:
    """Draws of W + S under the same distributional assumptions, by sampling instead of algebra."""
    waits = rng.random(samples) < p_wait
    wait_s = np.where(waits, rng.exponential(mean_wait_s / p_wait, samples), 0.0)
    if service_cv == 0:
        service_s = np.full(samples, service_time_s)
    else:
        shape = 1.0 / service_cv**2
        service_s = rng.gamma(shape, service_time_s / shape, samples)
    return wait_s + service_s


@pytest.mark.parametrize("service_cv", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("quantile", [0.5, 0.9, 0.99])
def test_time_in_system_quantile_matches_sampling(service_cv: float, quantile: float) -> None:
    figures = {"p_wait": 0.5094, "mean_wait_s": 0.4, "service_time_s": 1.0}
    sampled = sampled_time_in_system_s(
        np.random.default_rng(11), service_cv=service_cv, samples=400_000, **figures
    )
    computed = time_in_system_quantile_s(quantile, service_cv=service_cv, **figures)
    assert computed == pytest.approx(float(np.quantile(sampled, quantile)), rel=0.02)


def test_exponential_closed_form_is_continuous_with_the_gamma_integral() -> None:
    # cv = 1 takes the closed form; cv = 1 +- 1e-7 takes the numerical convolution.
    figures = {"p_wait": 0.5, "mean_wait_s": 0.5, "service_time_s": 1.0}
    exact = time_in_system_quantile_s(0.99, service_cv=1.0, **figures)
    for near in (1.0 - 1e-7, 1.0 + 1e-7):
        assert time_in_system_quantile_s(0.99, service_cv=near, **figures) == pytest.approx(
            exact, rel=1e-5
        )


def test_mmc_time_in_system_with_equal_rates() -> None:
    # c mu - lambda = mu makes the two exponential rates equal: P(E + S > t) = (1 + mu t) e^-mu t.
    state = mmc(1.0, 1.0, 2)  # c mu - lambda = 1 = mu
    t_s = 2.0
    expected = (1 - state.p_wait) * math.exp(-t_s) + state.p_wait * (1 + t_s) * math.exp(-t_s)
    survival = time_in_system_survival(
        t_s, p_wait=state.p_wait, mean_wait_s=state.mean_wait_s, service_time_s=1.0, service_cv=1.0
    )
    assert survival == pytest.approx(expected, rel=1e-12)


def test_constant_service_shifts_the_wait() -> None:
    state = ggc(3.0, 1.0, 4, service_cv=0.0)
    assert state.time_in_system_quantile_s(0.99) == pytest.approx(1.0 + state.wait_p99_s)


def test_no_wait_leaves_the_service_time() -> None:
    state = mmc(0.0, 2.0, 1)
    assert state.time_in_system_quantile_s(0.5) == pytest.approx(2.0 * math.log(2))


@settings(deadline=None, max_examples=40)
@given(
    replicas=st.integers(min_value=1, max_value=64),
    utilization=st.floats(min_value=0.01, max_value=0.98),
    service_cv=st.floats(min_value=0.0, max_value=4.0),
    low=st.floats(min_value=0.05, max_value=0.98),
    gap=st.floats(min_value=0.001, max_value=0.5),
)
def test_time_in_system_quantile_is_monotone_and_bounds_both_parts(
    replicas: int, utilization: float, service_cv: float, low: float, gap: float
) -> None:
    high = min(low + gap, 0.999)
    state = ggc(utilization * replicas, 1.0, replicas, service_cv=service_cv)
    low_s, high_s = state.time_in_system_quantile_s(low), state.time_in_system_quantile_s(high)
    assert low_s <= high_s * (1 + 1e-9)
    # T = W + S is at least each part, so its quantile is at least each part's quantile.
    assert high_s >= state.wait_quantile_s(high) * (1 - 1e-9)
    service_s = service_quantile_s(high, service_time_s=1.0, service_cv=service_cv)
    assert high_s >= service_s * (1 - 1e-9)


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.5, 1.5])
def test_quantiles_outside_the_open_unit_interval_are_rejected(quantile: float) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        wait_quantile_s(quantile, p_wait=0.5, mean_wait_s=1.0)


def test_constant_service_survival_is_the_shifted_wait() -> None:
    figures = {"p_wait": 0.4, "mean_wait_s": 0.5, "service_time_s": 1.0, "service_cv": 0.0}
    assert time_in_system_survival(-1.0, **figures) == 1.0
    assert time_in_system_survival(0.5, **figures) == 1.0
    # P(T > S + t) = P(W > t) = p exp(-(p / Wq) t)
    assert time_in_system_survival(1.7, **figures) == pytest.approx(0.4 * math.exp(-0.8 * 0.7))
    assert time_in_system_survival(1.7, **{**figures, "p_wait": 0.0}) == 0.0
