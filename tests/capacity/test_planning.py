"""Replica planning: the fewest replicas for an SLO and the largest rate a replica count holds."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from slokit.capacity import (
    DEFAULT_RATE_REL_TOL,
    MODEL_GGC,
    PLANNABLE_METRICS,
    check_objectives,
    max_rate,
    min_replicas,
    steady_state,
)
from slokit.capacity.sojourn import service_quantile_s
from slokit.errors import ConfigError, UnstableSystemError
from slokit.slo import Objective, parse_slo

rates_per_s = st.floats(min_value=0.01, max_value=500.0)
service_times_s = st.floats(min_value=0.01, max_value=10.0)
wait_objectives = st.builds(
    # Without a quantile the objective is on the mean: per-request ones are not plannable.
    lambda threshold_s, quantile: Objective(
        metric="wait", threshold_s=threshold_s, quantile=quantile, mean=quantile is None
    ),
    st.floats(min_value=0.0, max_value=20.0),
    st.one_of(st.none(), st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999])),
)
optional_cvs = st.one_of(st.none(), st.floats(min_value=0.0, max_value=3.0))


def objectives(text: str) -> tuple[Objective, ...]:
    return parse_slo(text, metrics=PLANNABLE_METRICS).objectives


def meets(
    rate_per_s: float,
    service_time_s: float,
    replicas: int,
    wanted: tuple[Objective, ...],
    **cvs: float | None,
) -> bool:
    try:
        state = steady_state(rate_per_s, service_time_s, replicas, **cvs)
    except UnstableSystemError:
        return False
    return all(check.met for check in check_objectives(state, wanted))


def test_the_plan_example() -> None:
    plan = min_replicas(3.0, 1.0, objectives("wait_p99<=2s"))
    assert plan.replicas == 5
    assert plan.state.replicas == 5
    assert plan.checks[0].met
    assert plan.checks[0].value_s == pytest.approx(plan.state.wait_p99_s)
    assert not meets(3.0, 1.0, 4, objectives("wait_p99<=2s"))


def test_max_rate_stops_where_the_objective_binds() -> None:
    plan = max_rate(4, 1.0, objectives("wait_p99<=2s"))
    assert plan.checks[0].met
    assert plan.checks[0].value_s == pytest.approx(2.0, rel=1e-4)
    assert plan.max_arrival_rate_per_s == pytest.approx(2.3498, abs=1e-4)
    assert not meets(plan.max_arrival_rate_per_s * 1.001, 1.0, 4, objectives("wait_p99<=2s"))


def test_every_objective_must_hold() -> None:
    both = objectives("wait_p99<=2s, e2e_mean<=1.05s")
    plan = min_replicas(3.0, 1.0, both)
    assert all(check.met for check in plan.checks)
    assert plan.replicas > min_replicas(3.0, 1.0, both[:1]).replicas


def test_more_variable_service_needs_at_least_as_many_replicas() -> None:
    wanted = objectives("wait_p99<=500ms")
    calm = min_replicas(40.0, 1.0, wanted, service_cv=0.2)
    bursty = min_replicas(40.0, 1.0, wanted, service_cv=2.0, arrival_cv=1.5)
    assert calm.state.model == MODEL_GGC
    assert calm.replicas <= min_replicas(40.0, 1.0, wanted).replicas <= bursty.replicas


def test_hundreds_of_replicas() -> None:
    plan = min_replicas(900.0, 1.0, objectives("wait_p99<=50ms"))
    # Square-root staffing: a few sqrt(900) = 30 above the 900 busy on average.
    assert 900 < plan.replicas < 1000
    assert not meets(900.0, 1.0, plan.replicas - 1, objectives("wait_p99<=50ms"))


@settings(deadline=None, max_examples=60)
@given(
    rate_per_s=rates_per_s,
    service_time_s=service_times_s,
    objective=wait_objectives,
    service_cv=optional_cvs,
)
def test_min_replicas_meets_the_objective_and_one_fewer_does_not(
    rate_per_s: float, service_time_s: float, objective: Objective, service_cv: float | None
) -> None:
    # A zero mean wait needs infinitely many replicas; tested on its own below.
    assume(not (objective.mean and objective.threshold_s == 0))
    plan = min_replicas(rate_per_s, service_time_s, objective, service_cv=service_cv)
    assert meets(rate_per_s, service_time_s, plan.replicas, (objective,), service_cv=service_cv)
    if plan.replicas > 1:
        assert not meets(
            rate_per_s, service_time_s, plan.replicas - 1, (objective,), service_cv=service_cv
        )


@settings(deadline=None, max_examples=25)
@given(
    rate_per_s=st.floats(min_value=0.1, max_value=50.0),
    threshold_s=st.floats(min_value=1.5, max_value=30.0),
    quantile=st.sampled_from([0.5, 0.9, 0.99]),
    service_cv=st.floats(min_value=0.0, max_value=2.0),
)
def test_min_replicas_for_end_to_end_percentiles(
    rate_per_s: float, threshold_s: float, quantile: float, service_cv: float
) -> None:
    objective = Objective(metric="e2e", threshold_s=threshold_s, quantile=quantile)
    # With no queueing at all the time in system is the service time: below that, no count
    # of replicas helps (tested on its own below).
    assume(service_quantile_s(quantile, service_time_s=1.0, service_cv=service_cv) <= threshold_s)
    plan = min_replicas(rate_per_s, 1.0, objective, service_cv=service_cv)
    assert meets(rate_per_s, 1.0, plan.replicas, (objective,), service_cv=service_cv)
    if plan.replicas > 1:
        assert not meets(rate_per_s, 1.0, plan.replicas - 1, (objective,), service_cv=service_cv)


@settings(deadline=None, max_examples=40)
@given(
    replicas=st.integers(min_value=1, max_value=60),
    service_time_s=service_times_s,
    objective=wait_objectives,
    service_cv=optional_cvs,
)
def test_max_rate_is_monotone_in_replicas_and_consistent_with_min_replicas(
    replicas: int,
    service_time_s: float,
    objective: Objective,
    service_cv: float | None,
) -> None:
    fewer = max_rate(replicas, service_time_s, objective, service_cv=service_cv)
    more = max_rate(replicas + 1, service_time_s, objective, service_cv=service_cv)
    slack = 1.0 - 2 * DEFAULT_RATE_REL_TOL
    assert more.max_arrival_rate_per_s >= fewer.max_arrival_rate_per_s * slack
    assert fewer.max_arrival_rate_per_s < replicas / service_time_s
    assert all(check.met for check in fewer.checks)
    if fewer.max_arrival_rate_per_s > 0:
        # At the rate found, `replicas` suffice, so the fewest needed is no more.
        plan = min_replicas(
            fewer.max_arrival_rate_per_s, service_time_s, objective, service_cv=service_cv
        )
        assert plan.replicas <= replicas


def test_zero_mean_wait_is_met_only_without_load() -> None:
    wanted = objectives("wait_mean<=0s")
    assert max_rate(3, 1.0, wanted).max_arrival_rate_per_s == 0.0
    with pytest.raises(ConfigError, match="max_replicas=50"):
        min_replicas(3.0, 1.0, wanted, max_replicas=50)


def test_end_to_end_bound_below_the_service_time_cannot_be_met() -> None:
    with pytest.raises(ConfigError, match="cannot be met by any number of replicas"):
        min_replicas(3.0, 1.0, objectives("e2e_mean<=900ms"))
    with pytest.raises(ConfigError, match="cannot be met at any arrival rate"):
        max_rate(4, 1.0, objectives("e2e_p99<=2s"))


def test_needing_more_than_max_replicas_is_reported() -> None:
    with pytest.raises(ConfigError, match="needs at least 1001 replicas"):
        min_replicas(1000.0, 1.0, objectives("wait_p99<=1s"), max_replicas=1000)
    with pytest.raises(ConfigError, match="max_replicas"):
        min_replicas(3.0, 1.0, objectives("wait_p99<=1s"), max_replicas=0)


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (Objective(metric="wait", threshold_s=2.0), "bounds every request"),
        (Objective(metric="ttft", threshold_s=2.0, quantile=0.99), "predicts only e2e, wait"),
    ],
)
def test_objectives_a_queueing_model_cannot_judge(objective: Objective, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        min_replicas(3.0, 1.0, objective)
    with pytest.raises(ConfigError, match=message):
        max_rate(4, 1.0, objective)


def test_no_objectives_and_bad_tolerance_are_rejected() -> None:
    with pytest.raises(ConfigError, match="no objectives"):
        min_replicas(3.0, 1.0, ())
    with pytest.raises(ConfigError, match="rel_tol"):
        max_rate(4, 1.0, objectives("wait_p99<=2s"), rel_tol=0.0)


@pytest.mark.parametrize("rate_per_s", [-1.0, float("nan"), float("inf")])
def test_bad_rates_are_config_errors(rate_per_s: float) -> None:
    with pytest.raises(ConfigError, match="finite load"):
        min_replicas(rate_per_s, 1.0, objectives("wait_p99<=2s"))
