"""``slokit gate``: fail CI when a candidate run is significantly slower than its baseline."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from slokit.errors import ConfigError, DataError
from slokit.gate import (
    DEFAULT_CONFIG,
    DEFAULT_METRICS,
    GateConfig,
    RunSamples,
    compare,
    parse_metrics,
    render_markdown,
    result_to_json,
)
from slokit.results import load_run, write_json_atomic

NAME = "gate"
HELP = (
    "Compare a candidate run with a baseline on per-request samples; exit 1 on a statistically "
    "significant regression beyond the tolerance."
)

# Exit statuses of the command framework in slokit.cli, repeated to avoid a circular import.
_EXIT_PASS = 0
_EXIT_REGRESSION = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="baseline results.json (or its directory)")
    parser.add_argument("candidate", type=Path, help="candidate results.json (or its directory)")
    parser.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        metavar="METRIC",
        help=(
            "metric to compare, repeatable or comma-separated: ttft_s, tpot_s, itl_s or e2e_s "
            "with .mean .p50 .p90 .p95 .p99 .p99_9, or error_rate "
            f"(default: {','.join(DEFAULT_METRICS)})"
        ),
    )
    parser.add_argument(
        "--max-regression",
        default=f"{DEFAULT_CONFIG.max_regression:.0%}",
        help="tolerated relative worsening of a latency statistic, e.g. 5%% or 0.05",
    )
    parser.add_argument(
        "--max-error-increase",
        default="0%",
        help="tolerated rise of the failed-request rate in percentage points, e.g. 0.5%%",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_CONFIG.alpha,
        help="probability of a false alarm over all metrics when nothing changed",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_CONFIG.resamples,
        help="bootstrap resamples per run and metric",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_CONFIG.seed, help="bootstrap seed")
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON here")


def run(args: argparse.Namespace) -> int:
    metrics = parse_metrics(args.metrics or DEFAULT_METRICS)
    config = GateConfig(
        max_regression=parse_fraction(args.max_regression, option="--max-regression"),
        max_error_increase=parse_fraction(args.max_error_increase, option="--max-error-increase"),
        alpha=args.alpha,
        resamples=args.resamples,
        seed=args.seed,
    )
    baseline = _load(args.baseline, role="baseline")
    candidate = _load(args.candidate, role="candidate")
    result = compare(baseline, candidate, metrics=metrics, config=config)
    names = {"baseline": str(args.baseline), "candidate": str(args.candidate)}
    print(render_markdown(result, **names), end="")
    if args.json is not None:
        write_json_atomic(args.json, result_to_json(result, **names))
    return _EXIT_REGRESSION if result.regressed else _EXIT_PASS


def parse_fraction(text: str, *, option: str) -> float:
    """``'5%'`` or ``'5pp'`` -> 0.05, ``'0.05'`` -> 0.05; a bare number must be below 1."""
    cleaned = text.strip().lower()
    scale = 1.0
    for suffix in ("%", "pp"):
        if cleaned.endswith(suffix):
            cleaned, scale = cleaned.removesuffix(suffix).strip(), 0.01
            break
    try:
        value = float(cleaned) * scale
    except ValueError:
        raise ConfigError(f"{option}: '{text}' is not a number; write e.g. 5% or 0.05") from None
    if not math.isfinite(value) or value < 0.0:
        raise ConfigError(f"{option}: '{text}' must be a non-negative number")
    if scale == 1.0 and value >= 1.0:
        # A bare 5 is far more likely to mean 5% than a 500% tolerance.
        raise ConfigError(f"{option}: '{text}' is ambiguous; write {value:g}% or {value / 100:g}")
    return value


def _load(path: Path, *, role: str) -> RunSamples:
    """A run's samples; an unreadable or malformed run is a usage error (exit 2)."""
    try:
        return RunSamples.of_run(load_run(path))
    except DataError as error:
        raise ConfigError(f"cannot read the {role} run: {error}") from error
