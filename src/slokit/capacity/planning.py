"""Replica planning: the fewest replicas that meet latency objectives, the most load they carry.

Objectives are :class:`slokit.slo.Objective` values on two metrics (:data:`PLANNABLE_METRICS`):

- ``wait``: the queueing delay before service starts (``Wq`` and its percentiles);
- ``e2e``: the time in system, wait + service time (``W = Wq + S`` and its percentiles).

Each must be a distribution objective, a percentile (``wait_p99<=2s``) or the mean
(``e2e_mean<=1.5s``): with random arrivals no number of replicas bounds *every* request's wait.
The model is M/M/c when neither coefficient of variation is given, G/G/c (Allen-Cunneen)
otherwise; see :func:`slokit.capacity.queues.steady_state`.

Both searches rely on monotonicity: adding a replica never lengthens a wait, and raising the
arrival rate never shortens one. :func:`min_replicas` doubles its step from the smallest stable
count, then bisects; :func:`max_rate` bisects the arrival rate between 0 and the capacity
``c / S``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slokit.capacity.queues import SteadyState, steady_state
from slokit.errors import ConfigError
from slokit.slo import Objective

#: The metrics a queueing model predicts: queueing delay and time in system.
PLANNABLE_METRICS: frozenset[str] = frozenset({"wait", "e2e"})

#: Upper bound of the replica search unless the caller gives one.
DEFAULT_MAX_REPLICAS = 100_000

#: Relative precision of :func:`max_rate`: the rate found is within this of the largest one.
DEFAULT_RATE_REL_TOL = 1e-6

# Below this fraction of capacity a rate is treated as zero, so an objective that only an idle
# system meets (e.g. ``wait_mean<=0s``) ends the bisection instead of chasing denormals.
_RATE_ABS_TOL_OF_CAPACITY = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectiveCheck:
    """One objective judged on a model's prediction."""

    objective: Objective
    value_s: float
    met: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaPlan:
    """The fewest replicas meeting every objective, and the figures at that count."""

    replicas: int
    state: SteadyState
    checks: tuple[ObjectiveCheck, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RatePlan:
    """The largest arrival rate a replica count carries within every objective."""

    max_arrival_rate_per_s: float
    replicas: int
    state: SteadyState
    checks: tuple[ObjectiveCheck, ...]


def objective_value_s(state: SteadyState, objective: Objective) -> float:
    """The model's prediction for the objective's metric and statistic, in seconds."""
    _check_objective(objective)
    # Per-request objectives are ruled out above, so no quantile means the mean.
    quantile = objective.quantile
    if objective.metric == "wait":
        return state.mean_wait_s if quantile is None else state.wait_quantile_s(quantile)
    if quantile is None:
        return state.mean_time_in_system_s
    return state.time_in_system_quantile_s(quantile)


def check_objectives(
    state: SteadyState, objectives: Objective | Sequence[Objective]
) -> tuple[ObjectiveCheck, ...]:
    """Judge each objective on the model's prediction."""
    checks = []
    for objective in _as_tuple(objectives):
        value_s = objective_value_s(state, objective)
        checks.append(
            ObjectiveCheck(objective=objective, value_s=value_s, met=objective.met_by(value_s))
        )
    return tuple(checks)


def min_replicas(
    arrival_rate_per_s: float,
    service_time_s: float,
    objectives: Objective | Sequence[Objective],
    *,
    service_cv: float | None = None,
    arrival_cv: float | None = None,
    max_replicas: int = DEFAULT_MAX_REPLICAS,
) -> ReplicaPlan:
    """The smallest replica count ``c`` whose steady state meets every objective.

    Searches from the smallest stable count ``floor(lambda S) + 1``, doubling the step until
    the objectives hold, then bisecting, so ``c - 1`` replicas do not meet them (or are
    unstable). Raises :class:`ConfigError` for an objective no count can meet (an ``e2e`` bound
    below what the service time alone takes) or one that needs more than ``max_replicas``.
    """
    wanted = _as_tuple(objectives)
    # The search starts from floor(lambda S) + 1, which needs a finite load to exist.
    if not math.isfinite(arrival_rate_per_s * service_time_s) or arrival_rate_per_s < 0:
        raise ConfigError(
            f"arrival_rate_per_s x service_time_s must be a finite load >= 0, got "
            f"{arrival_rate_per_s!r} x {service_time_s!r}"
        )
    if isinstance(max_replicas, bool) or not isinstance(max_replicas, int) or max_replicas < 1:
        raise ConfigError(f"max_replicas must be an integer >= 1, got {max_replicas!r}")

    def state_at(replicas: int) -> SteadyState:
        return steady_state(
            arrival_rate_per_s,
            service_time_s,
            replicas,
            service_cv=service_cv,
            arrival_cv=arrival_cv,
        )

    # The no-wait limit (no load at all) is what infinitely many replicas approach.
    no_wait = steady_state(0.0, service_time_s, 1, service_cv=service_cv, arrival_cv=arrival_cv)
    _require_attainable(no_wait, wanted, "by any number of replicas")
    smallest_stable = math.floor(arrival_rate_per_s * service_time_s) + 1
    if smallest_stable > max_replicas:
        raise ConfigError(
            f"{arrival_rate_per_s:.6g} req/s x {service_time_s:.6g} s needs at least "
            f"{smallest_stable} replicas to be stable, above max_replicas={max_replicas}"
        )

    def meets(replicas: int) -> bool:
        return _all_met(state_at(replicas), wanted)

    failing, passing, step = smallest_stable - 1, smallest_stable, 1
    while not meets(passing):
        if passing >= max_replicas:
            raise ConfigError(
                f"{_describe(wanted)} is not met even with max_replicas={max_replicas}; "
                "raise max_replicas or relax the objective"
            )
        failing, passing, step = passing, min(passing + step, max_replicas), step * 2
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if meets(middle):
            passing = middle
        else:
            failing = middle
    state = state_at(passing)
    return ReplicaPlan(replicas=passing, state=state, checks=check_objectives(state, wanted))


def max_rate(
    replicas: int,
    service_time_s: float,
    objectives: Objective | Sequence[Objective],
    *,
    service_cv: float | None = None,
    arrival_cv: float | None = None,
    rel_tol: float = DEFAULT_RATE_REL_TOL,
) -> RatePlan:
    """The largest arrival rate at which ``replicas`` meet every objective, by bisection.

    Bisects on ``[0, c / S)`` keeping the lower end feasible, until the bracket is narrower than
    ``rel_tol`` times its upper end (or 1e-12 of capacity): the rate returned meets the
    objectives and is at least ``(1 - rel_tol)`` times the largest rate that does. Raises
    :class:`ConfigError` when not even an idle system meets them.
    """
    wanted = _as_tuple(objectives)
    if not 0.0 < rel_tol < 1.0:
        raise ConfigError(f"rel_tol must be between 0 and 1 exclusive, got {rel_tol!r}")

    def state_at(rate_per_s: float) -> SteadyState:
        return steady_state(
            rate_per_s, service_time_s, replicas, service_cv=service_cv, arrival_cv=arrival_cv
        )

    idle = state_at(0.0)
    _require_attainable(idle, wanted, "at any arrival rate")
    capacity_per_s = replicas / service_time_s
    feasible_per_s, infeasible_per_s = 0.0, capacity_per_s
    floor_per_s = capacity_per_s * _RATE_ABS_TOL_OF_CAPACITY
    while infeasible_per_s - feasible_per_s > max(rel_tol * infeasible_per_s, floor_per_s):
        middle_per_s = (feasible_per_s + infeasible_per_s) / 2.0
        if _all_met(state_at(middle_per_s), wanted):
            feasible_per_s = middle_per_s
        else:
            infeasible_per_s = middle_per_s
    state = state_at(feasible_per_s)
    return RatePlan(
        max_arrival_rate_per_s=feasible_per_s,
        replicas=replicas,
        state=state,
        checks=check_objectives(state, wanted),
    )


def _all_met(state: SteadyState, objectives: tuple[Objective, ...]) -> bool:
    return all(o.met_by(objective_value_s(state, o)) for o in objectives)


def _require_attainable(limit: SteadyState, objectives: tuple[Objective, ...], how: str) -> None:
    for objective in objectives:
        value_s = objective_value_s(limit, objective)
        if not objective.met_by(value_s):
            raise ConfigError(
                f"objective {objective} cannot be met {how}: even with no queueing the "
                f"{objective.metric} {objective.statistic} is {value_s:.6g} s; relax the "
                "objective or shorten the service time"
            )


def _as_tuple(objectives: Objective | Sequence[Objective]) -> tuple[Objective, ...]:
    wanted = (objectives,) if isinstance(objectives, Objective) else tuple(objectives)
    if not wanted:
        raise ConfigError("no objectives to plan for: give at least one, e.g. wait_p99<=2s")
    for objective in wanted:
        _check_objective(objective)
    return wanted


def _check_objective(objective: Objective) -> None:
    if objective.metric not in PLANNABLE_METRICS:
        known = ", ".join(sorted(PLANNABLE_METRICS))
        raise ConfigError(
            f"objective {objective}: a queueing model predicts only {known}, "
            f"not '{objective.metric}'"
        )
    if objective.per_request:
        raise ConfigError(
            f"objective {objective} bounds every request, which random arrivals never allow; "
            f"plan for a percentile or the mean, e.g. {objective.metric}_p99"
            f"{'<' if objective.strict else '<='}{objective.threshold_s:g}s"
        )


def _describe(objectives: tuple[Objective, ...]) -> str:
    return ", ".join(str(o) for o in objectives)
