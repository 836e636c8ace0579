"""Little's law: the solver, and the law itself measured on a simulated FIFO queue."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.capacity import mm1, solve_littles_law
from slokit.errors import ConfigError, UnstableSystemError

positive = st.floats(min_value=1e-6, max_value=1e6)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedQueue:
    """What a FIFO single-server simulation measured, each figure by its own route."""

    mean_in_system: float
    arrival_rate_per_s: float
    mean_time_in_system_s: float
    mean_wait_s: float


def simulate_fifo_single_server(
    rng: np.random.Generator,
    *,
    arrival_rate_per_s: float,
    service_time_s: float,
    customers: int,
    time_samples: int = 1_000_000,
    warm_up_fraction: float = 0.01,
) -> SimulatedQueue:
    """Poisson arrivals, exponential service, one server, FIFO.

    Waits come from Lindley's recursion ``W[n+1] = max(0, W[n] + S[n] - A[n+1])``, written as
    a reflected random walk. The number in system comes from elsewhere: departures by the
    max-plus recursion ``D[n] = max(A[n], D[n-1]) + S[n]``, then ``N(t) = #arrivals <= t -
    #departures <= t`` sampled on a time grid. So the measured L does not come from W.
    """
    interarrival_s = rng.exponential(1.0 / arrival_rate_per_s, customers)
    arrival_s = np.cumsum(interarrival_s)
    service_s = rng.exponential(service_time_s, customers)

    walk = np.concatenate(([0.0], np.cumsum(service_s[:-1] - interarrival_s[1:])))
    wait_s = walk - np.minimum.accumulate(walk)

    work_done_s = np.cumsum(service_s)
    departure_s = work_done_s + np.maximum.accumulate(arrival_s - (work_done_s - service_s))

    start_s, end_s = warm_up_fraction * arrival_s[-1], arrival_s[-1]
    sample_times_s = np.linspace(start_s, end_s, time_samples)
    in_system = np.searchsorted(arrival_s, sample_times_s, side="right") - np.searchsorted(
        departure_s, sample_times_s, side="right"
    )
    measured = arrival_s >= start_s
    return SimulatedQueue(
        mean_in_system=float(in_system.mean()),
        arrival_rate_per_s=float(measured.sum() / (end_s - start_s)),
        mean_time_in_system_s=float((wait_s + service_s)[measured].mean()),
        mean_wait_s=float(wait_s[measured].mean()),
    )


def test_littles_law_holds_on_a_simulated_mm1_queue_and_matches_the_model() -> None:
    # rho = 0.8: the queue relaxes slowly (time-average variance of L ~ 2 rho (1 + rho) /
    # (1 - rho)^4 = 1800 service times), so 4 million customers put the standard error of the
    # means near 0.5%, a sixth of the 3% allowed against the model.
    simulated = simulate_fifo_single_server(
        np.random.default_rng(20240601),
        arrival_rate_per_s=0.8,
        service_time_s=1.0,
        customers=4_000_000,
    )
    model = mm1(0.8, 1.0)
    assert model.mean_in_system == pytest.approx(0.8 / (1 - 0.8))

    assert simulated.mean_in_system == pytest.approx(
        simulated.arrival_rate_per_s * simulated.mean_time_in_system_s, rel=0.02
    )
    assert simulated.mean_in_system == pytest.approx(model.mean_in_system, rel=0.03)
    assert simulated.arrival_rate_per_s * simulated.mean_time_in_system_s == pytest.approx(
        model.mean_in_system, rel=0.03
    )
    assert simulated.mean_time_in_system_s == pytest.approx(model.mean_time_in_system_s, rel=0.03)


def test_demand_above_capacity_makes_the_wait_diverge() -> None:
    customers = 400_000
    stable = simulate_fifo_single_server(
        np.random.default_rng(7), arrival_rate_per_s=0.8, service_time_s=1.0, customers=customers
    )
    overloaded = simulate_fifo_single_server(
        np.random.default_rng(7), arrival_rate_per_s=1.2, service_time_s=1.0, customers=customers
    )
    assert overloaded.mean_wait_s > 10 * stable.mean_wait_s
    with pytest.raises(UnstableSystemError, match=r"utilisation 1\.2 >= 1"):
        mm1(1.2, 1.0)


def test_two_values_give_the_third() -> None:
    assert solve_littles_law(arrival_rate_per_s=3.0, mean_time_in_system_s=2.0).mean_in_system == 6
    assert solve_littles_law(mean_in_system=6.0, mean_time_in_system_s=2.0).arrival_rate_per_s == 3
    assert solve_littles_law(mean_in_system=6.0, arrival_rate_per_s=3.0).mean_time_in_system_s == 2


def test_three_consistent_values_are_accepted() -> None:
    law = solve_littles_law(mean_in_system=6.0, arrival_rate_per_s=3.0, mean_time_in_system_s=2.0)
    assert (law.mean_in_system, law.arrival_rate_per_s, law.mean_time_in_system_s) == (6, 3, 2)


def test_three_inconsistent_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="inconsistent"):
        solve_littles_law(mean_in_system=7.0, arrival_rate_per_s=3.0, mean_time_in_system_s=2.0)


@pytest.mark.parametrize(
    "given_values",
    [{}, {"mean_in_system": 1.0}, {"arrival_rate_per_s": 1.0}, {"mean_time_in_system_s": 1.0}],
)
def test_fewer_than_two_values_are_rejected(given_values: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="needs two"):
        solve_littles_law(**given_values)


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_negative_or_non_finite_values_are_rejected(bad: float) -> None:
    with pytest.raises(ConfigError, match="finite number >= 0"):
        solve_littles_law(mean_in_system=bad, arrival_rate_per_s=1.0)


def test_zero_rate_leaves_the_time_undetermined_or_impossible() -> None:
    with pytest.raises(ConfigError, match="undetermined"):
        solve_littles_law(mean_in_system=0.0, arrival_rate_per_s=0.0)
    with pytest.raises(ConfigError, match="positive"):
        solve_littles_law(mean_in_system=2.0, arrival_rate_per_s=0.0)
    with pytest.raises(ConfigError, match="positive"):
        solve_littles_law(mean_in_system=2.0, mean_time_in_system_s=0.0)


@given(rate=positive, time_s=positive)
def test_round_trip_through_each_pair(rate: float, time_s: float) -> None:
    in_system = solve_littles_law(arrival_rate_per_s=rate, mean_time_in_system_s=time_s)
    back_rate = solve_littles_law(
        mean_in_system=in_system.mean_in_system, mean_time_in_system_s=time_s
    ).arrival_rate_per_s
    back_time_s = solve_littles_law(
        mean_in_system=in_system.mean_in_system, arrival_rate_per_s=rate
    ).mean_time_in_system_s
    assert back_rate == pytest.approx(rate, rel=1e-12)
    assert back_time_s == pytest.approx(time_s, rel=1e-12)
    # The completed triple is itself accepted as consistent.
    solve_littles_law(
        mean_in_system=in_system.mean_in_system,
        arrival_rate_per_s=rate,
        mean_time_in_system_s=time_s,
    )
