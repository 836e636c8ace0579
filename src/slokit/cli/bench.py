"""``slokit bench``: load an OpenAI-compatible endpoint and measure TTFT, TPOT, ITL, goodput.

Parsing and printing only; the work lives in :mod:`slokit.bench.benchmark`. Exit codes: 0 the
run completed (whatever its latencies), 1 it could not run, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import orjson
from tqdm import tqdm

from slokit.bench.benchmark import (
    BenchSettings,
    Measurement,
    check_endpoint,
    measure,
    results_document,
    sweep_rates,
    write_run,
)
from slokit.bench.sweep import SweepConfig
from slokit.cli.options import (
    api_key,
    count,
    endpoint_group,
    fraction,
    load_rows,
    positive,
    run_report,
    table,
)
from slokit.cli.options import show_percent as percent
from slokit.cli.workload_options import describe_workload, workload_from_args
from slokit.errors import ConfigError
from slokit.results import RequestRecord
from slokit.slo import SLOSpec, parse_slo
from slokit.workload import (
    Workload,
)

NAME = "bench"
HELP = "Load an OpenAI-compatible endpoint; measure TTFT, TPOT, ITL, E2E, throughput, goodput."

_EXIT_OK = 0
_EXIT_FAILURE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``slokit bench``; values are validated in :func:`run`."""
    target = endpoint_group(parser)
    target.add_argument(
        "--endpoint",
        choices=("chat", "completions"),
        default="chat",
        help="chat/completions (messages) or completions (prompt)",
    )
    target.add_argument(
        "--no-stream", action="store_true", help="ask for whole replies (no TTFT/ITL)"
    )
    target.add_argument(
        "--ignore-eos",
        action="store_true",
        help="ask the server to ignore end-of-sequence so replies have the planned length "
        "(vLLM and llama.cpp extension)",
    )
    load = parser.add_argument_group("load (choose one of --rate, --concurrency, --arrivals)")
    chosen = load.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--rate", metavar="REQ_PER_S", help="open loop, Poisson arrivals at this rate"
    )
    chosen.add_argument("--concurrency", metavar="USERS", help="closed loop: this many users")
    chosen.add_argument(
        "--arrivals",
        metavar="SPEC",
        help="any arrival process: poisson:rate=5, gamma:rate=5,cv=3, constant:rate=5, "
        "trace:PATH[,speedup=2], closed:users=8,think=2s (see docs/workload.md)",
    )
    load.add_argument(
        "--duration", metavar="SECONDS", help="how long to send (open loop) or run (closed loop)"
    )
    load.add_argument("--requests", metavar="N", help="how many requests to send")
    load.add_argument(
        "--think-time", default="0", metavar="SECONDS", help="closed loop: mean think time"
    )
    load.add_argument(
        "--max-concurrency",
        metavar="N",
        default=None,
        help="open loop: cap on requests in flight (default: unbounded, the schedule is kept)",
    )
    load.add_argument(
        "--processes",
        default="auto",
        metavar="N|auto",
        help="load generator processes (auto: one per 1,500 req/s of peak rate)",
    )
    shape = parser.add_argument_group("requests (see docs/workload.md for the grammar)")
    shape.add_argument(
        "--prompt-tokens", default="lognormal:mean=256,cv=0.5", metavar="SPEC", help="prompt length"
    )
    shape.add_argument(
        "--output-tokens",
        default="lognormal:mean=128,cv=0.5",
        metavar="SPEC",
        help="reply length (max_tokens)",
    )
    shape.add_argument("--shared-prefix", metavar="GROUPS:TOKENS", help="shared system prompts")
    shape.add_argument("--sessions", metavar="SESSIONS:TURNS", help="multi-turn conversations")
    shape.add_argument("--repeat-fraction", default="0", metavar="F", help="share of exact repeats")
    shape.add_argument(
        "--paraphrase-fraction", default="0", metavar="F", help="share of paraphrases"
    )
    shape.add_argument("--seed", default="0", metavar="N", help="workload seed")
    judged = parser.add_argument_group("SLO and sweep")
    judged.add_argument(
        "--slo", metavar="SPEC", help="e.g. 'ttft<=200ms, tpot<=50ms' (see docs/slo.md)"
    )
    judged.add_argument(
        "--sweep",
        action="store_true",
        help="find the largest rate whose SLO attainment stays >= --target-attainment",
    )
    judged.add_argument("--target-attainment", default="0.99", metavar="F", help="sweep target")
    judged.add_argument(
        "--sweep-start-rate", default="1", metavar="REQ_PER_S", help="first rate tried"
    )
    judged.add_argument(
        "--sweep-max-rate", default="4096", metavar="REQ_PER_S", help="highest rate tried"
    )
    judged.add_argument(
        "--replicas",
        default="1",
        metavar="N",
        help="replicas behind the endpoint (capacity per replica)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", default="results", metavar="DIR", help="run directory")
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    workload, duration_s = workload_from_args(args)
    slo = None if args.slo is None else parse_slo(args.slo)
    directory = Path(args.output)
    check_endpoint(settings)
    config = {
        **settings.describe(),
        "workload": describe_workload(args),
        "duration_s": duration_s,
    }
    if args.sweep:
        return _sweep(
            args, settings, workload=workload, slo=slo, config=config, directory=directory
        )
    measurement = _measure(args, workload, settings=settings, slo=slo, duration_s=duration_s)
    document = results_document(kind="bench", config=config, slo=slo, summary=measurement.summary)
    path = write_run(directory, document, measurement.result.records)
    _print(args, measurement.summary, path)
    return _exit_code(measurement.summary)


def _measure(
    args: argparse.Namespace,
    workload: Workload,
    *,
    settings: BenchSettings,
    slo: SLOSpec | None,
    duration_s: float | None,
    label: str = "requests",
) -> Measurement:
    with tqdm(desc=label, unit="req", disable=args.quiet, file=sys.stderr) as bar:

        def planned(total: int | None) -> None:
            bar.total = total
            bar.refresh()

        def progress(_record: RequestRecord) -> None:
            bar.update(1)

        def warn(message: str) -> None:
            bar.write(f"slokit bench: warning: {message}", file=sys.stderr)

        return measure(
            workload,
            settings,
            slo,
            duration_s=duration_s,
            on_progress=progress,
            on_warning=warn,
            on_planned=planned,
        )


def _sweep(
    args: argparse.Namespace,
    settings: BenchSettings,
    *,
    workload: Workload,
    slo: SLOSpec | None,
    config: dict[str, Any],
    directory: Path,
) -> int:
    if slo is None or not slo.per_request:
        raise ConfigError("--sweep needs --slo with per-request objectives, e.g. 'ttft<=500ms'")
    sweep_config = SweepConfig(
        start_rate=positive(args.sweep_start_rate, "--sweep-start-rate", "requests per second"),
        max_rate=positive(args.sweep_max_rate, "--sweep-max-rate", "requests per second"),
        target_attainment=fraction(args.target_attainment, "--target-attainment"),
        replicas=count(args.replicas, "--replicas"),
    )

    def on_point(rate: float, measurement: Measurement) -> None:
        summary = measurement.summary
        if not args.quiet:
            print(
                f"rate {rate:.4g} req/s: attainment {percent(summary['slo_attainment'])}, "
                f"goodput {summary['goodput']:.4g} req/s",
                file=sys.stderr,
            )

    result, measured = sweep_rates(workload, settings, slo, sweep_config, on_point=on_point)
    best_rate = result.max_rate if result.max_rate is not None else min(measured)
    best = measured[best_rate]
    config = {
        **config,
        "sweep": {"start_rate": sweep_config.start_rate, "max_rate": sweep_config.max_rate},
    }
    document = results_document(
        kind="bench", config=config, slo=slo, summary=best.summary, sweep_result=result
    )
    path = write_run(directory, document, best.result.records)
    _print(args, best.summary, path)
    if result.max_rate is None:
        print(
            f"slokit bench: no rate from {sweep_config.start_rate:g} req/s down met the target "
            f"attainment {percent(sweep_config.target_attainment)}",
            file=sys.stderr,
        )
    if not args.json:
        rows = [
            (
                "max rate meeting SLO",
                "-" if result.max_rate is None else f"{result.max_rate:.4g} req/s",
            ),
            (
                "knee of goodput curve",
                "-" if result.knee_rate is None else f"{result.knee_rate:.4g} req/s",
            ),
            (
                "capacity per replica",
                "-"
                if result.capacity_per_replica is None
                else f"{result.capacity_per_replica:.4g} req/s",
            ),
        ]
        print(table(rows))
    return _EXIT_OK


def _exit_code(summary: dict[str, Any]) -> int:
    """1 when no request succeeded: the run measured the failure, not the server."""
    requests = summary["requests"]
    if requests["total"] and not requests["completed"]:
        errors = ", ".join(f"{k}: {v}" for k, v in requests["errors"].items())
        print(f"slokit bench: every request failed ({errors})", file=sys.stderr)
        return _EXIT_FAILURE
    return _EXIT_OK


def _settings(args: argparse.Namespace) -> BenchSettings:
    processes: int | Literal["auto"] = (
        "auto" if args.processes == "auto" else count(args.processes, "--processes")
    )
    return BenchSettings(
        base_url=args.base_url,
        model=args.model,
        endpoint=args.endpoint,
        stream=not args.no_stream,
        api_key=api_key(args),
        timeout_s=positive(args.timeout, "--timeout", "seconds"),
        max_concurrency=None
        if args.max_concurrency is None
        else count(args.max_concurrency, "--max-concurrency"),
        processes=processes,
        ignore_eos=args.ignore_eos,
    )


def _print(args: argparse.Namespace, summary: dict[str, Any], path: Path) -> None:
    if args.json:
        print(orjson.dumps(summary).decode())
        return
    rows = [
        *load_rows(summary, duration_label="duration"),
        ("goodput", f"{summary['goodput']:.4g} req/s ({summary['goodput_tokens']:.4g} tok/s)"),
        ("SLO attainment", _attainment(summary)),
    ]
    print(run_report(summary, rows, ("ttft_s", "tpot_s", "itl_s", "e2e_s"), path))


def _attainment(summary: dict[str, Any]) -> str:
    low, high = summary["slo_attainment_interval"]
    return f"{percent(summary['slo_attainment'])} (95% CI {percent(low)} - {percent(high)})"
