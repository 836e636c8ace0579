"""Validation and display of command-line values, shared by the subcommands.

Validators raise :class:`ConfigError` (exit code 2, one line naming the option) rather than
argparse errors, which print a usage block before the message.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from typing import Any

from slokit.errors import ConfigError


def number(text: str, option: str, requirement: str) -> float:
    """A finite number, or an error naming ``option`` and what it must be."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{option} must be a number {requirement}, got {text!r}")
    return value


def positive(text: str, option: str, unit: str) -> float:
    """A number > 0 in ``unit``."""
    requirement = f"> 0 ({unit})"
    value = number(text, option, requirement)
    if value <= 0:
        raise ConfigError(f"{option} must be a number {requirement}, got {text!r}")
    return value


def non_negative(text: str, option: str, meaning: str) -> float:
    """A number >= 0; ``meaning`` says what it is."""
    requirement = f">= 0 ({meaning})"
    value = number(text, option, requirement)
    if value < 0:
        raise ConfigError(f"{option} must be a number {requirement}, got {text!r}")
    return value


def fraction(text: str, option: str) -> float:
    """A number in [0, 1]."""
    value = number(text, option, "in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{option} must be a number in [0, 1], got {text!r}")
    return value


def count(text: str, option: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{option} must be a whole number >= 1, got {text!r}")
    return value


def show_duration(seconds: float) -> str:
    """``0.0123`` -> ``'12.3 ms'``; NaN -> ``'-'``."""
    if math.isnan(seconds):
        return "-"
    if seconds == 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds / 1e-6:.4g} us"


def show_rate(per_s: float) -> str:
    return f"{per_s:.6g} req/s"


def show_percent(share: float) -> str:
    return "-" if math.isnan(share) else f"{share * 100:.2f}%"


def table(rows: list[tuple[str, str]]) -> str:
    """Two aligned columns: label and value."""
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


_STATISTICS = ("mean", "p50", "p90", "p99", "p99_9")


def latency_lines(summary: dict[str, Any], metrics: Sequence[str]) -> list[str]:
    """A run summary's distributions as a table (one row per metric, missing values as ``-``),
    then each SLO objective with its verdict."""
    header = f"{'metric':<8}" + "".join(f"{k.replace('_', '.'):>11}" for k in _STATISTICS)
    lines = [header]
    for metric in metrics:
        stats = summary[metric]
        cells = "".join(f"{show_duration(_or_nan(stats[k])):>11}" for k in _STATISTICS)
        lines.append(f"{metric.removesuffix('_s'):<8}{cells}")
    for objective in summary["objectives"]:
        verdict = "met" if objective["met"] else "MISSED"
        observed = show_duration(_or_nan(objective["observed_s"]))
        lines.append(f"SLO {objective['objective']}: {verdict} ({observed})")
    return lines


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def endpoint_group(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The ``endpoint`` options of commands that call an OpenAI-compatible server: base URL,
    model, API key variable, per-request timeout. Returns the group for more options."""
    target = parser.add_argument_group("endpoint")
    target.add_argument(
        "--base-url", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:8000/v1"
    )
    target.add_argument("--model", required=True, help="model name to request")
    target.add_argument(
        "--api-key-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the API key (sent as a bearer token)",
    )
    target.add_argument("--timeout", default="600", metavar="SECONDS", help="per-request deadline")
    return target


def api_key(args: argparse.Namespace) -> str | None:
    """The API key from the variable ``--api-key-env`` names, or ``None`` without the option."""
    if args.api_key_env is None:
        return None
    key = os.environ.get(args.api_key_env)
    if not key:
        raise ConfigError(f"--api-key-env: environment variable {args.api_key_env} is not set")
    return key


def load_rows(summary: dict[str, Any], *, duration_label: str) -> list[tuple[str, str]]:
    """The first rows of a run's table: requests, duration and throughput."""
    requests = summary["requests"]
    return [
        (
            "requests",
            f"{requests['total']} ({requests['completed']} ok, {requests['failed']} failed)",
        ),
        (duration_label, show_duration(summary["duration_s"])),
        ("request throughput", f"{summary['request_throughput']:.4g} req/s"),
        ("output token throughput", f"{summary['output_token_throughput']:.4g} tok/s"),
    ]


def run_report(
    summary: dict[str, Any], rows: list[tuple[str, str]], metrics: Sequence[str], path: object
) -> str:
    """A run's printed report: ``rows`` (plus the errors, if any), the latency table, the file."""
    errors = summary["requests"]["errors"]
    if errors:
        rows = [*rows, ("errors", ", ".join(f"{k}: {v}" for k, v in errors.items()))]
    return "\n".join([table(rows), "", *latency_lines(summary, metrics), "", f"wrote {path}"])
