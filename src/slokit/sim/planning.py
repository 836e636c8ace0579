"""Replica planning by simulation, where queueing formulas do not apply (batching servers).

:func:`simulated_state` runs one workload on ``c`` replicas and reports the figures a queueing
model would (utilisation, P(wait), mean and p99 wait, Little's ``L``, ``Lq`` and ``W``);
:func:`min_replicas_by_simulation` finds the fewest replicas whose run meets every
distribution objective, by doubling then bisecting, as :func:`slokit.capacity.min_replicas`
does on formulas. Any metric the simulator measures may be judged: ``wait``, ``e2e``,
``ttft``, ``tpot``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from slokit.capacity.planning import ObjectiveCheck
from slokit.errors import ConfigError
from slokit.sim.engine import simulate
from slokit.sim.profile import Profile
from slokit.sim.result import Outcome, SimulationResult
from slokit.slo import SLOSpec
from slokit.slo.verdict import judge_run

#: The backlog test: the last quarter's mean wait may exceed the second quarter's by this
#: factor (plus one mean service time) before the run counts as unstable.
UNSTABLE_GROWTH = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanWorkload:
    """The requests to plan for: arrival times and token counts (see :func:`simulate`)."""

    arrival_s: NDArray[np.float64]
    prompt_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    prefix_group: NDArray[np.int64] | None = None
    prefix_tokens: NDArray[np.int64] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedState:
    """A simulated run's figures, named as :class:`slokit.capacity.SteadyState`'s.

    ``utilization`` is the replicas' busy share; ``p_wait`` the share of requests that waited
    at all; ``service_time_s`` the mean time from scheduling to the last token. With
    ``lambda`` the run's arrival rate, ``mean_in_queue = lambda Wq`` and ``mean_in_system =
    lambda W`` (Little's law). ``stable`` is false when the waits still grow at the end of the
    run (see :data:`UNSTABLE_GROWTH`).
    """

    replicas: int
    arrival_rate_per_s: float
    service_time_s: float
    utilization: float
    p_wait: float
    mean_wait_s: float
    wait_p99_s: float
    mean_in_queue: float
    mean_in_system: float
    mean_time_in_system_s: float
    stable: bool
    failed: int
    checks: tuple[ObjectiveCheck, ...] = ()

    @property
    def slo_met(self) -> bool:
        """Stable, every request served, and every objective met."""
        return self.stable and self.failed == 0 and all(check.met for check in self.checks)


def simulated_state(
    profile: Profile, workload: PlanWorkload, replicas: int, slo: SLOSpec | None = None
) -> SimulatedState:
    """Simulate ``workload`` on ``replicas`` replicas and summarise it as a steady state."""
    result = simulate(
        profile=profile,
        replicas=replicas,
        arrival_s=workload.arrival_s,
        prompt_tokens=workload.prompt_tokens,
        output_tokens=workload.output_tokens,
        prefix_group=workload.prefix_group,
        prefix_tokens=workload.prefix_tokens,
    )
    ok = result.outcome == Outcome.OK
    wait_s = result.wait_s[ok]
    e2e_s = result.e2e_s[ok]
    service_s = e2e_s - wait_s
    count = result.arrival_s.size
    span_s = float(result.arrival_s[-1] - result.arrival_s[0]) if count > 1 else 0.0
    rate = (count - 1) / span_s if span_s > 0 else math.nan
    mean_wait_s = float(np.mean(wait_s)) if wait_s.size else math.nan
    mean_e2e_s = float(np.mean(e2e_s)) if e2e_s.size else math.nan
    checks: tuple[ObjectiveCheck, ...] = ()
    if slo is not None:
        checks = tuple(
            ObjectiveCheck(objective=objective, value_s=judged.observed_s, met=judged.met)
            for objective, judged in zip(
                slo.distribution, judge_run(slo, _samples(result)), strict=True
            )
        )
    return SimulatedState(
        replicas=replicas,
        arrival_rate_per_s=rate,
        service_time_s=float(np.mean(service_s)) if service_s.size else math.nan,
        utilization=result.utilization,
        p_wait=float(np.mean(wait_s > 0)) if wait_s.size else math.nan,
        mean_wait_s=mean_wait_s,
        wait_p99_s=float(np.percentile(wait_s, 99)) if wait_s.size else math.nan,
        mean_in_queue=rate * mean_wait_s,
        mean_in_system=rate * mean_e2e_s,
        mean_time_in_system_s=mean_e2e_s,
        stable=_stable(result),
        failed=int(np.count_nonzero(~ok)),
        checks=checks,
    )


def min_replicas_by_simulation(
    profile: Profile, workload: PlanWorkload, slo: SLOSpec, *, max_replicas: int
) -> SimulatedState:
    """The run at the fewest replicas that meets ``slo`` (doubling, then bisecting).

    Assumes, as the formulas do, that adding a replica never makes a percentile worse.
    :class:`ConfigError` when not even ``max_replicas`` meet it.
    """
    if not slo.distribution:
        raise ConfigError("--slo: give a percentile or mean objective, e.g. 'ttft_p99<=500ms'")
    runs: dict[int, SimulatedState] = {}

    def run(replicas: int) -> SimulatedState:
        if replicas not in runs:
            runs[replicas] = simulated_state(profile, workload, replicas, slo)
        return runs[replicas]

    failing, passing, step = 0, 1, 1
    while not run(passing).slo_met:
        if passing >= max_replicas:
            raise ConfigError(
                f"{slo} is not met even with --max-replicas {max_replicas} in simulation; "
                "raise --max-replicas or relax the SLO"
            )
        failing, passing, step = passing, min(passing + step, max_replicas), step * 2
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if run(middle).slo_met:
            passing = middle
        else:
            failing = middle
    return run(passing)


def _samples(result: SimulationResult) -> dict[str, NDArray[np.float64]]:
    ok = result.outcome == Outcome.OK
    ttft_s = result.ttft_s[ok]
    e2e_s = result.e2e_s[ok]
    output = result.output_tokens[ok]
    several = output > 1
    tpot_s = np.full(ttft_s.shape, math.nan)
    tpot_s[several] = (e2e_s[several] - ttft_s[several]) / (output[several] - 1)
    return {"ttft": ttft_s, "tpot": tpot_s, "e2e": e2e_s, "wait": result.wait_s[ok]}


def _stable(result: SimulationResult) -> bool:
    """False when the last quarter's mean wait outgrows the second quarter's."""
    wait_s = np.nan_to_num(result.wait_s, nan=0.0)
    quarter = wait_s.size // 4
    if quarter < 10:
        return True
    second = float(np.mean(wait_s[quarter : 2 * quarter]))
    last = float(np.mean(wait_s[-quarter:]))
    service_s = float(np.nanmean(result.e2e_s - result.wait_s))
    return last <= UNSTABLE_GROWTH * second + service_s
