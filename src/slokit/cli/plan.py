"""``slokit plan``: queueing figures at a replica count, replicas an SLO needs, the rate held.

Parsing and printing only; the models and searches live in :mod:`slokit.capacity`, and with
``--simulate`` in :mod:`slokit.sim.planning`. Exit codes: 0 success, 1 the system is unstable
or misses the SLO at the given replicas, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass

from slokit.capacity import (
    DEFAULT_MAX_REPLICAS,
    PLANNABLE_METRICS,
    ObjectiveCheck,
    SteadyState,
    check_objectives,
    max_rate,
    min_replicas,
    model_name,
    steady_state,
)
from slokit.cli.options import (
    count,
    non_negative,
    positive,
    show_duration,
    show_percent,
    show_rate,
    table,
)
from slokit.errors import ConfigError, UnstableSystemError
from slokit.sim.planning import (
    PlanWorkload,
    SimulatedState,
    min_replicas_by_simulation,
    simulated_state,
)
from slokit.slo import SLOSpec, parse_slo
from slokit.workload import PoissonArrivals, Workload, parse_tokens

NAME = "plan"
HELP = "Size replicas for an arrival rate and a latency SLO with queueing models (M/M/c, G/G/c)."

_CV_MEANING = "a coefficient of variation, standard deviation / mean"

# Local, not imported from slokit.cli: that package imports this module while it loads.
_EXIT_OK = 0
_EXIT_FAILURE = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    arrival_rate_per_s: float
    service_time_s: float
    replicas: int | None
    slo: SLOSpec | None
    service_cv: float | None
    arrival_cv: float | None
    max_replicas: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    request: _Request
    replicas: int
    state: SteadyState | None
    unstable: UnstableSystemError | None
    min_replicas: int | None = None
    checks: tuple[ObjectiveCheck, ...] = ()
    max_rate_per_s: float | None = None

    @property
    def slo_met(self) -> bool:
        return self.state is not None and all(check.met for check in self.checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``slokit plan``; every number is validated in :func:`run`."""
    # SUPPRESS keeps "(default: None)" out of the help of options that have no default.
    parser.add_argument(
        "--rate",
        required=True,
        metavar="REQ_PER_S",
        default=argparse.SUPPRESS,
        help="mean arrival rate of requests, in requests per second (> 0)",
    )
    parser.add_argument(
        "--service-time",
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="mean time one replica spends serving one request, in seconds (> 0); required "
        "unless --simulate",
    )
    parser.add_argument(
        "--replicas",
        metavar="N",
        default=argparse.SUPPRESS,
        help="replicas (servers), each serving one request at a time, sharing one FIFO queue; "
        "reports the figures at this count, and with --slo whether it meets the SLO and the "
        "largest arrival rate (requests per second) at which it still does (exit 1 if not met "
        "or unstable)",
    )
    parser.add_argument(
        "--slo",
        metavar="SPEC",
        default=argparse.SUPPRESS,
        help="latency objectives on 'wait' (queueing delay before service) or 'e2e' (wait + "
        "service time), each a percentile or the mean, comma-separated, with units us, ms, s "
        "or m: e.g. 'wait_p99<=2s' or 'e2e_p95<=3s, wait_mean<=200ms'; without --replicas, "
        "finds the fewest replicas that meet them",
    )
    parser.add_argument(
        "--service-cv",
        metavar="CV",
        default=argparse.SUPPRESS,
        help="coefficient of variation (standard deviation / mean) of service times (>= 0; "
        "0 constant, 1 exponential); switches to the G/G/c (Allen-Cunneen) approximation",
    )
    parser.add_argument(
        "--arrival-cv",
        metavar="CV",
        default=argparse.SUPPRESS,
        help="coefficient of variation of the times between arrivals (>= 0; 1 Poisson, above 1 "
        "bursty); switches to the G/G/c (Allen-Cunneen) approximation",
    )
    parser.add_argument(
        "--max-replicas",
        metavar="N",
        default=str(DEFAULT_MAX_REPLICAS),
        help="largest replica count the --slo search (without --replicas) may propose",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON object (times in seconds) instead of a table",
    )
    simulated = parser.add_argument_group(
        "simulation (for batching servers, where the formulas do not apply)"
    )
    simulated.add_argument(
        "--simulate",
        action="store_true",
        default=argparse.SUPPRESS,
        help="answer with the simulator: Poisson arrivals at --rate on replicas of --profile; "
        "the SLO may then also judge ttft and tpot",
    )
    simulated.add_argument(
        "--profile", default="example", metavar="FILE_OR_NAME", help="serving profile"
    )
    simulated.add_argument(
        "--prompt-tokens", default="lognormal:mean=256,cv=0.5", metavar="SPEC", help="prompts"
    )
    simulated.add_argument(
        "--output-tokens", default="lognormal:mean=128,cv=0.5", metavar="SPEC", help="replies"
    )
    simulated.add_argument(
        "--requests", default="20000", metavar="N", help="requests simulated per replica count"
    )
    simulated.add_argument("--seed", default="0", metavar="N", help="workload seed")


def run(args: argparse.Namespace) -> int:
    """Evaluate or search as the options ask, print the result, return the exit code."""
    if getattr(args, "simulate", False):
        return _run_simulated(args)
    if getattr(args, "service_time", None) is None:
        raise ConfigError("--service-time SECONDS is required (or plan with --simulate)")
    request = _parse(args)
    outcome = _plan(request)
    if getattr(args, "json", False):
        print(json.dumps(_as_json(outcome), allow_nan=False))
    else:
        print(_as_table(outcome))
        if outcome.unstable is not None:
            print(f"slokit plan: {outcome.unstable}", file=sys.stderr)
    return _EXIT_OK if outcome.slo_met else _EXIT_FAILURE


def _parse(args: argparse.Namespace) -> _Request:
    replicas_text = getattr(args, "replicas", None)
    slo_text = getattr(args, "slo", None)
    service_cv_text = getattr(args, "service_cv", None)
    arrival_cv_text = getattr(args, "arrival_cv", None)
    if replicas_text is None and slo_text is None:
        raise ConfigError(
            "give --replicas N to evaluate a replica count, --slo SPEC to find the fewest "
            "replicas that meet it, or both"
        )
    return _Request(
        arrival_rate_per_s=positive(args.rate, "--rate", "requests per second"),
        service_time_s=positive(args.service_time, "--service-time", "seconds"),
        replicas=None if replicas_text is None else count(replicas_text, "--replicas"),
        slo=None if slo_text is None else parse_slo(slo_text, metrics=PLANNABLE_METRICS),
        service_cv=None
        if service_cv_text is None
        else non_negative(service_cv_text, "--service-cv", _CV_MEANING),
        arrival_cv=None
        if arrival_cv_text is None
        else non_negative(arrival_cv_text, "--arrival-cv", _CV_MEANING),
        max_replicas=count(args.max_replicas, "--max-replicas"),
    )


def _plan(request: _Request) -> _Outcome:
    rate, service_time_s = request.arrival_rate_per_s, request.service_time_s
    service_cv, arrival_cv = request.service_cv, request.arrival_cv
    if request.replicas is None:
        # _parse ensures an SLO is given when replicas are not.
        objectives = request.slo.objectives if request.slo is not None else ()
        plan = min_replicas(
            rate,
            service_time_s,
            objectives,
            service_cv=service_cv,
            arrival_cv=arrival_cv,
            max_replicas=request.max_replicas,
        )
        return _Outcome(
            request=request,
            replicas=plan.replicas,
            state=plan.state,
            unstable=None,
            min_replicas=plan.replicas,
            checks=plan.checks,
        )
    highest_rate_per_s = None
    if request.slo is not None:
        # First, so that an objective the model cannot judge is reported even when unstable.
        highest_rate_per_s = max_rate(
            request.replicas,
            service_time_s,
            request.slo.objectives,
            service_cv=service_cv,
            arrival_cv=arrival_cv,
        ).max_arrival_rate_per_s
    try:
        state = steady_state(
            rate, service_time_s, request.replicas, service_cv=service_cv, arrival_cv=arrival_cv
        )
    except UnstableSystemError as error:
        return _Outcome(
            request=request,
            replicas=request.replicas,
            state=None,
            unstable=error,
            max_rate_per_s=highest_rate_per_s,
        )
    checks = () if request.slo is None else check_objectives(state, request.slo.objectives)
    return _Outcome(
        request=request,
        replicas=request.replicas,
        state=state,
        unstable=None,
        checks=checks,
        max_rate_per_s=highest_rate_per_s,
    )


def _as_json(outcome: _Outcome) -> dict[str, object]:
    request = outcome.request
    report: dict[str, object] = {
        "stable": outcome.state is not None,
        "model": model_name(service_cv=request.service_cv, arrival_cv=request.arrival_cv),
        "replicas": outcome.replicas,
        "arrival_rate_per_s": request.arrival_rate_per_s,
        "service_time_s": request.service_time_s,
        "arrival_cv": 1.0 if request.arrival_cv is None else request.arrival_cv,
        "service_cv": 1.0 if request.service_cv is None else request.service_cv,
    }
    if outcome.unstable is not None:
        report["utilization"] = outcome.unstable.utilization
        report["message"] = str(outcome.unstable)
    if outcome.state is not None:
        state = outcome.state
        report |= {
            "utilization": state.utilization,
            "p_wait": state.p_wait,
            "mean_wait_s": state.mean_wait_s,
            "wait_p99_s": state.wait_p99_s,
            "mean_in_queue": state.mean_in_queue,
            "mean_in_system": state.mean_in_system,
            "mean_time_in_system_s": state.mean_time_in_system_s,
        }
    if outcome.min_replicas is not None:
        report["min_replicas"] = outcome.min_replicas
    if request.slo is not None:
        report["slo"] = str(request.slo)
        report["slo_met"] = outcome.slo_met
    if outcome.state is not None and outcome.checks:
        report["objectives"] = [
            {
                "objective": str(check.objective),
                "metric": check.objective.metric,
                "statistic": check.objective.statistic,
                "threshold_s": check.objective.threshold_s,
                "value_s": check.value_s,
                "met": check.met,
            }
            for check in outcome.checks
        ]
    if outcome.max_rate_per_s is not None:
        report["max_rate_per_s"] = outcome.max_rate_per_s
    return report


def _as_table(outcome: _Outcome) -> str:
    request = outcome.request
    rows: list[tuple[str, str]] = []
    if outcome.min_replicas is not None:
        rows.append(("replicas needed", f"{outcome.min_replicas} (fewest meeting the SLO)"))
    rows += [
        ("model", model_name(service_cv=request.service_cv, arrival_cv=request.arrival_cv)),
        ("replicas", str(outcome.replicas)),
        ("arrival rate", show_rate(request.arrival_rate_per_s)),
        ("service time", show_duration(request.service_time_s)),
    ]
    if request.service_cv is not None or request.arrival_cv is not None:
        arrival_cv = 1.0 if request.arrival_cv is None else request.arrival_cv
        service_cv = 1.0 if request.service_cv is None else request.service_cv
        rows.append(("arrival / service CV", f"{arrival_cv:g} / {service_cv:g}"))
    if outcome.unstable is not None:
        rows += [
            ("utilisation", show_percent(outcome.unstable.utilization)),
            ("stable", "no: the queue grows without bound"),
        ]
    if outcome.state is not None:
        state = outcome.state
        rows += [
            ("utilisation", show_percent(state.utilization)),
            ("P(wait)", f"{state.p_wait:.4f}"),
            ("mean wait", show_duration(state.mean_wait_s)),
            ("p99 wait", show_duration(state.wait_p99_s)),
            ("mean in queue", f"{state.mean_in_queue:.4g}"),
            ("mean in system", f"{state.mean_in_system:.4g}"),
            ("mean time in system", show_duration(state.mean_time_in_system_s)),
        ]
    for check in outcome.checks:
        verdict = "met" if check.met else "NOT met"
        rows.append((f"SLO {check.objective}", f"{verdict} ({show_duration(check.value_s)})"))
    if request.slo is not None and outcome.state is None:
        rows.append((f"SLO {request.slo}", "NOT met (unstable)"))
    if outcome.max_rate_per_s is not None:
        rows.append(("max rate within SLO", show_rate(outcome.max_rate_per_s)))
    return table(rows)


def _cv(text: str | None, option: str) -> float | None:
    return None if text is None else non_negative(text, option, _CV_MEANING)


# --------------------------------------------------------------------------- --simulate


def _run_simulated(args: argparse.Namespace) -> int:
    """``--simulate``: the same questions, answered by simulating replicas of ``--profile``."""
    # Imported here: the emulator's profile lookup is only needed when simulating.
    from slokit.sim.profiles import load_profile  # noqa: PLC0415

    replicas_text = getattr(args, "replicas", None)
    slo_text = getattr(args, "slo", None)
    if replicas_text is None and slo_text is None:
        raise ConfigError("give --replicas N, --slo SPEC or both")
    rate = positive(args.rate, "--rate", "requests per second")
    slo = None if slo_text is None else parse_slo(slo_text)
    profile = load_profile(args.profile)
    plan = Workload(
        arrivals=PoissonArrivals(rate_per_s=rate),
        prompt_tokens=parse_tokens(args.prompt_tokens, name="--prompt-tokens"),
        output_tokens=parse_tokens(args.output_tokens, name="--output-tokens"),
        count=count(args.requests, "--requests"),
        seed=int(non_negative(args.seed, "--seed", "an integer")),
    ).plan()
    workload = PlanWorkload(
        arrival_s=plan.arrival_s, prompt_tokens=plan.prompt_tokens, output_tokens=plan.output_tokens
    )
    if replicas_text is None:
        assert slo is not None  # checked above
        state = min_replicas_by_simulation(
            profile, workload, slo, max_replicas=count(args.max_replicas, "--max-replicas")
        )
        searched = True
    else:
        state = simulated_state(profile, workload, count(replicas_text, "--replicas"), slo)
        searched = False
    report = _simulated_json(state, profile.model, searched=searched, slo=slo)
    if getattr(args, "json", False):
        print(json.dumps(report, allow_nan=False))
    else:
        print(_simulated_table(state, profile.model, searched=searched))
    return _EXIT_OK if state.slo_met or (slo is None and state.stable) else _EXIT_FAILURE


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _simulated_json(
    state: SimulatedState, model: str, *, searched: bool, slo: SLOSpec | None
) -> dict[str, object]:
    report: dict[str, object] = {
        "stable": state.stable,
        "model": f"simulation ({model})",
        "replicas": state.replicas,
        "arrival_rate_per_s": _finite(state.arrival_rate_per_s),
        "service_time_s": _finite(state.service_time_s),
        "utilization": _finite(state.utilization),
        "p_wait": _finite(state.p_wait),
        "mean_wait_s": _finite(state.mean_wait_s),
        "wait_p99_s": _finite(state.wait_p99_s),
        "mean_in_queue": _finite(state.mean_in_queue),
        "mean_in_system": _finite(state.mean_in_system),
        "mean_time_in_system_s": _finite(state.mean_time_in_system_s),
        "failed": state.failed,
    }
    if searched:
        report["min_replicas"] = state.replicas
    if slo is not None:
        report["slo"] = str(slo)
        report["slo_met"] = state.slo_met
        report["objectives"] = [
            {
                "objective": str(check.objective),
                "metric": check.objective.metric,
                "statistic": check.objective.statistic,
                "threshold_s": check.objective.threshold_s,
                "value_s": _finite(check.value_s),
                "met": check.met,
            }
            for check in state.checks
        ]
    return report


def _simulated_table(state: SimulatedState, model: str, *, searched: bool) -> str:
    rows: list[tuple[str, str]] = []
    if searched:
        rows.append(("replicas needed", f"{state.replicas} (fewest meeting the SLO)"))
    rows += [
        ("model", f"simulation ({model})"),
        ("replicas", str(state.replicas)),
        ("arrival rate", show_rate(state.arrival_rate_per_s)),
        ("service time (mean)", show_duration(state.service_time_s)),
        ("utilisation", show_percent(state.utilization)),
        ("stable", "yes" if state.stable else "no: the waits still grow at the end"),
        ("P(wait)", f"{state.p_wait:.4f}"),
        ("mean wait", show_duration(state.mean_wait_s)),
        ("p99 wait", show_duration(state.wait_p99_s)),
        ("mean in queue", f"{state.mean_in_queue:.4g}"),
        ("mean in system", f"{state.mean_in_system:.4g}"),
        ("mean time in system", show_duration(state.mean_time_in_system_s)),
    ]
    if state.failed:
        rows.append(("failed requests", str(state.failed)))
    for check in state.checks:
        verdict = "met" if check.met else "NOT met"
        rows.append((f"SLO {check.objective}", f"{verdict} ({show_duration(check.value_s)})"))
    return table(rows)
