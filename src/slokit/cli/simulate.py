"""``slokit simulate``: run a workload through simulated replicas; write bench's run files.

Parsing and printing only; the simulator is :mod:`slokit.sim`, the policies
:mod:`slokit.policies`. The workload options and their grammar are ``slokit bench``'s. Exit
codes: 0 the run completed, 1 no request succeeded, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from slokit.bench.benchmark import results_document, write_run
from slokit.cli.options import (
    count,
    load_rows,
    non_negative,
    positive,
    run_report,
)
from slokit.cli.workload_options import describe_workload, workload_from_args
from slokit.errors import ConfigError
from slokit.policies import (
    Autoscaler,
    ConcurrencyConfig,
    KnativeAutoscaler,
    KnativeConfig,
    RayServeAutoscaler,
    RayServeConfig,
    SLOAutoscaler,
    SLOScalingConfig,
)
from slokit.results.summary import summarize_run
from slokit.sim import GatewayConfig, Profile, SimulationResult, simulate
from slokit.sim.profiles import load_profile
from slokit.slo import parse_slo
from slokit.workload import ClosedLoop, RequestPlan

NAME = "simulate"
HELP = "Simulate a workload on LLM replicas (batching, KV cache, autoscaling); write run files."

_EXIT_OK = 0
_EXIT_FAILURE = 1
_PLANNABLE = frozenset({"wait", "e2e"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``slokit simulate``; values are validated in :func:`run`."""
    model = parser.add_argument_group("serving model")
    model.add_argument(
        "--profile",
        default="example",
        metavar="FILE_OR_NAME",
        help="serving profile: a Profile JSON file (slokit calibrate writes one) or a built-in "
        "name such as 'example'",
    )
    model.add_argument("--cold-start", metavar="SECONDS", help="override the profile's cold start")
    model.add_argument(
        "--price-per-hour", metavar="PRICE", help="override the profile's price of a replica-hour"
    )
    model.add_argument(
        "--replicas",
        metavar="N",
        help="fixed replica count (default 1); with --autoscaler, the count at the start",
    )
    load = parser.add_argument_group("load (choose one of --rate, --arrivals)")
    chosen = load.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--rate", metavar="REQ_PER_S", help="Poisson arrivals at this rate")
    chosen.add_argument(
        "--arrivals",
        metavar="SPEC",
        help="poisson:rate=5, gamma:rate=5,cv=3, constant:rate=5, trace:PATH[,speedup=2] "
        "(see docs/workload.md)",
    )
    load.add_argument("--duration", metavar="SECONDS", help="how long arrivals go on")
    load.add_argument("--requests", metavar="N", help="how many requests arrive")
    shape = parser.add_argument_group("requests (see docs/workload.md for the grammar)")
    shape.add_argument(
        "--prompt-tokens", default="lognormal:mean=256,cv=0.5", metavar="SPEC", help="prompt length"
    )
    shape.add_argument(
        "--output-tokens", default="lognormal:mean=128,cv=0.5", metavar="SPEC", help="reply length"
    )
    shape.add_argument("--shared-prefix", metavar="GROUPS:TOKENS", help="shared system prompts")
    shape.add_argument("--sessions", metavar="SESSIONS:TURNS", help="multi-turn conversations")
    shape.add_argument("--repeat-fraction", default="0", metavar="F", help="share of exact repeats")
    shape.add_argument(
        "--paraphrase-fraction", default="0", metavar="F", help="share of paraphrases"
    )
    shape.add_argument("--seed", default="0", metavar="N", help="workload seed")
    _add_autoscaler_arguments(parser)
    gate = parser.add_argument_group("gateway admission (off unless --concurrency-limit)")
    gate.add_argument(
        "--concurrency-limit",
        metavar="N",
        help="initial limit on requests in service, adapted to keep the service time within "
        "--service-budget",
    )
    gate.add_argument(
        "--service-budget", default="30", metavar="SECONDS", help="service-time budget"
    )
    gate.add_argument(
        "--wait-budget", default="inf", metavar="SECONDS", help="most a request may queue"
    )
    gate.add_argument("--queue-size", default="1024", metavar="N", help="gateway queue capacity")
    out = parser.add_argument_group("SLO and output")
    out.add_argument("--slo", metavar="SPEC", help="e.g. 'ttft<=200ms, tpot<=50ms' (docs/slo.md)")
    out.add_argument("-o", "--output", default="results", metavar="DIR", help="run directory")
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_autoscaler_arguments(parser: argparse.ArgumentParser) -> None:
    scaling = parser.add_argument_group("autoscaling (see docs/policies.md)")
    scaling.add_argument(
        "--autoscaler",
        choices=("ray", "kpa", "slo"),
        help="Ray Serve's rule, Knative's KPA, or SLO-aware sizing (needs --scale-slo)",
    )
    scaling.add_argument("--min-replicas", default="1", metavar="N", help="lower bound")
    scaling.add_argument("--max-replicas", default="100", metavar="N", help="upper bound")
    scaling.add_argument(
        "--target-ongoing-requests", default="2", metavar="N", help="ray: per replica"
    )
    scaling.add_argument("--upscale-delay", default="30", metavar="SECONDS", help="ray")
    scaling.add_argument("--downscale-delay", metavar="SECONDS", help="ray (600) and slo (300)")
    scaling.add_argument("--look-back", default="30", metavar="SECONDS", help="ray: averaging")
    scaling.add_argument(
        "--target-concurrency",
        default="100",
        metavar="N",
        help="kpa: concurrency target per replica (times --target-utilization)",
    )
    scaling.add_argument("--target-utilization", default="0.7", metavar="F", help="kpa")
    scaling.add_argument("--stable-window", default="60", metavar="SECONDS", help="kpa")
    scaling.add_argument(
        "--max-scale-up-rate", default="1000", metavar="RATE", help="kpa: most growth per tick"
    )
    scaling.add_argument(
        "--scale-slo", metavar="SPEC", help="slo: objectives on wait/e2e, e.g. 'wait_p99<=2s'"
    )
    scaling.add_argument(
        "--servers-per-replica",
        metavar="N",
        help="slo: requests a replica serves at once (default: the profile's max_batch_size)",
    )
    scaling.add_argument(
        "--scale-interval", metavar="SECONDS", help="how often the autoscaler decides"
    )


def run(args: argparse.Namespace) -> int:
    profile = _profile(args)
    # One workload grammar: slokit bench's own parsing, on the same option names.
    workload, _ = workload_from_args(_as_bench_args(args))
    if isinstance(workload.arrivals, ClosedLoop):
        raise ConfigError("simulate replays open-loop arrivals: use --rate or --arrivals")
    slo = None if args.slo is None else parse_slo(args.slo)
    autoscaler = _autoscaler(args, profile)
    replicas = _replicas(args, autoscaler)
    gateway = _gateway(args)
    plan = workload.plan()
    if not len(plan):
        raise ConfigError("the workload planned no request: raise --duration or --requests")
    result = _simulate(
        args, plan, profile=profile, replicas=replicas, autoscaler=autoscaler, gateway=gateway
    )
    records = list(result.records())
    summary = summarize_run(records, duration_s=max(result.duration_s, 1e-9), slo=slo)
    simulation = _simulation_summary(result)
    config = {
        "profile": profile.to_json(),
        "replicas": replicas,
        "autoscaler": None if autoscaler is None else args.autoscaler,
        "workload": describe_workload(_as_bench_args(args)),
        "gateway": None if gateway is None else _describe_gateway(gateway),
    }
    extra: dict[str, Any] = {"simulation": simulation}
    if result.timeline is not None:
        extra["timeline"] = result.timeline.to_json()
    document = results_document(
        kind="simulate", config=config, slo=slo, summary=summary, extra=extra
    )
    path = write_run(Path(args.output), document, records)
    _print(args, summary, simulation, path)
    if summary["requests"]["total"] and not summary["requests"]["completed"]:
        print("slokit simulate: no request succeeded", file=sys.stderr)
        return _EXIT_FAILURE
    return _EXIT_OK


def _as_bench_args(args: argparse.Namespace) -> argparse.Namespace:
    """The workload options under the names ``slokit bench``'s parser gives them."""
    return argparse.Namespace(**vars(args), concurrency=None, think_time="0")


def _profile(args: argparse.Namespace) -> Profile:
    profile = load_profile(args.profile)
    if args.cold_start is not None:
        cold_start_s = non_negative(args.cold_start, "--cold-start", "seconds")
        profile = dataclasses.replace(profile, cold_start_s=cold_start_s)
    if args.price_per_hour is not None:
        price = non_negative(args.price_per_hour, "--price-per-hour", "per replica-hour")
        profile = dataclasses.replace(profile, price_per_hour=price)
    return profile


def _replicas(args: argparse.Namespace, autoscaler: Autoscaler | None) -> int:
    if args.replicas is not None:
        return count(args.replicas, "--replicas")
    if autoscaler is None:
        return 1
    return max(1, int(non_negative(args.min_replicas, "--min-replicas", "replicas")))


def _autoscaler(args: argparse.Namespace, profile: Profile) -> Autoscaler | None:
    if args.autoscaler is None:
        return None
    low = int(non_negative(args.min_replicas, "--min-replicas", "replicas"))
    high = count(args.max_replicas, "--max-replicas")
    interval = (
        None
        if args.scale_interval is None
        else {"interval_s": positive(args.scale_interval, "--scale-interval", "seconds")}
    ) or {}
    down = args.downscale_delay
    if args.autoscaler == "ray":
        return RayServeAutoscaler(
            RayServeConfig(
                min_replicas=low,
                max_replicas=high,
                target_ongoing_requests=positive(
                    args.target_ongoing_requests, "--target-ongoing-requests", "requests"
                ),
                upscale_delay_s=non_negative(args.upscale_delay, "--upscale-delay", "seconds"),
                downscale_delay_s=600.0
                if down is None
                else non_negative(down, "--downscale-delay", "seconds"),
                look_back_period_s=positive(args.look_back, "--look-back", "seconds"),
                **interval,
            )
        )
    if args.autoscaler == "kpa":
        return KnativeAutoscaler(
            KnativeConfig(
                min_replicas=low,
                max_replicas=high,
                target_concurrency=positive(
                    args.target_concurrency, "--target-concurrency", "requests"
                ),
                target_utilization=positive(
                    args.target_utilization, "--target-utilization", "a share in (0, 1]"
                ),
                stable_window_s=positive(args.stable_window, "--stable-window", "seconds"),
                max_scale_up_rate=positive(args.max_scale_up_rate, "--max-scale-up-rate", "x"),
                **interval,
            )
        )
    if args.scale_slo is None:
        raise ConfigError("--autoscaler slo needs --scale-slo, e.g. --scale-slo 'wait_p99<=2s'")
    servers = (
        profile.max_batch_size
        if args.servers_per_replica is None
        else count(args.servers_per_replica, "--servers-per-replica")
    )
    return SLOAutoscaler(
        SLOScalingConfig(
            objectives=parse_slo(args.scale_slo, metrics=_PLANNABLE).objectives,
            servers_per_replica=servers,
            min_replicas=low,
            max_replicas=high,
            downscale_delay_s=300.0
            if down is None
            else non_negative(down, "--downscale-delay", "seconds"),
            **interval,
        )
    )


def _gateway(args: argparse.Namespace) -> GatewayConfig | None:
    if args.concurrency_limit is None:
        return None
    limit = count(args.concurrency_limit, "--concurrency-limit")
    wait_budget_s = (
        math.inf
        if args.wait_budget == "inf"
        else non_negative(args.wait_budget, "--wait-budget", "seconds")
    )
    return GatewayConfig(
        concurrency=ConcurrencyConfig(
            latency_budget_s=positive(args.service_budget, "--service-budget", "seconds"),
            initial_limit=limit,
            max_limit=max(limit, 1024),
        ),
        queue_capacity=int(non_negative(args.queue_size, "--queue-size", "requests")),
        wait_budget_s=wait_budget_s,
    )


def _describe_gateway(gateway: GatewayConfig) -> dict[str, Any]:
    concurrency = gateway.concurrency
    return {
        "concurrency_limit": None if concurrency is None else concurrency.initial_limit,
        "service_budget_s": None if concurrency is None else concurrency.latency_budget_s,
        "queue_size": gateway.queue_capacity,
        "wait_budget_s": None if math.isinf(gateway.wait_budget_s) else gateway.wait_budget_s,
    }


def _simulate(
    args: argparse.Namespace,
    plan: RequestPlan,
    *,
    profile: Profile,
    replicas: int,
    autoscaler: Autoscaler | None,
    gateway: GatewayConfig | None,
) -> SimulationResult:
    with tqdm(
        total=len(plan), desc="simulated", unit="req", disable=args.quiet, file=sys.stderr
    ) as bar:

        def progress(arrived: int) -> None:
            bar.update(arrived - bar.n)

        return simulate(
            profile=profile,
            replicas=replicas,
            arrival_s=plan.arrival_s,
            prompt_tokens=plan.prompt_tokens,
            output_tokens=plan.output_tokens,
            prefix_group=plan.group_id,
            prefix_tokens=plan.prefix_tokens,
            autoscaler=autoscaler,
            gateway=gateway,
            on_progress=progress,
        )


def _simulation_summary(result: SimulationResult) -> dict[str, Any]:
    summary = result.summary()
    keep = ("cost", "replica_seconds", "utilization", "mean_replicas", "duration_s")
    data = {key: summary[key] for key in keep}
    data["peak_replicas"] = None if result.timeline is None else int(result.timeline.replicas.max())
    data["replicas"] = summary["replicas"]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def _print(
    args: argparse.Namespace, summary: dict[str, Any], simulation: dict[str, Any], path: Path
) -> None:
    if args.json:
        print(orjson.dumps({**summary, "simulation": simulation}).decode())
        return
    utilization = simulation["utilization"]
    rows = [
        *load_rows(summary, duration_label="simulated time"),
        ("goodput", f"{summary['goodput']:.4g} req/s"),
        (
            "replicas (mean / peak)",
            f"{_number(simulation['mean_replicas'])} / {simulation['peak_replicas']}",
        ),
        ("utilisation", "-" if utilization is None else f"{utilization * 100:.1f}%"),
        ("replica-hours", f"{simulation['replica_seconds'] / 3600:.4g}"),
        ("cost", f"{simulation['cost']:.4g}"),
    ]
    print(run_report(summary, rows, ("ttft_s", "tpot_s", "e2e_s", "wait_s"), path))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
