"""The workload options ``slokit bench`` and ``slokit simulate`` share, read into a Workload."""

from __future__ import annotations

import argparse
from typing import Any

from slokit.bench.benchmark import CLOSED_LOOP_PLAN_SIZE
from slokit.cli.options import count, fraction, non_negative, positive
from slokit.errors import ConfigError
from slokit.workload import (
    ClosedLoop,
    PoissonArrivals,
    Sessions,
    SharedPrefix,
    ThinkTime,
    Workload,
    parse_arrivals,
    parse_tokens,
)


def workload_from_args(args: argparse.Namespace) -> tuple[Workload, float | None]:
    """The workload the load options describe, and the run's ``--duration`` (None: unset)."""
    duration_s = None if args.duration is None else positive(args.duration, "--duration", "seconds")
    requests = None if args.requests is None else count(args.requests, "--requests")
    if duration_s is None and requests is None:
        raise ConfigError("give --duration SECONDS, --requests N or both")
    arrivals: Any
    if args.rate is not None:
        arrivals = PoissonArrivals(rate_per_s=positive(args.rate, "--rate", "requests per second"))
    elif args.concurrency is not None:
        think_s = non_negative(args.think_time, "--think-time", "seconds")
        arrivals = ClosedLoop(
            users=count(args.concurrency, "--concurrency"),
            think_time=ThinkTime(mean_s=think_s, cv=1.0 if think_s else 0.0),
        )
    else:
        arrivals = parse_arrivals(args.arrivals, name="--arrivals")
    if isinstance(arrivals, ClosedLoop) and requests is None:
        requests = CLOSED_LOOP_PLAN_SIZE  # cycled until --duration ends the run
    workload = Workload(
        arrivals=arrivals,
        prompt_tokens=parse_tokens(args.prompt_tokens, name="--prompt-tokens"),
        output_tokens=parse_tokens(args.output_tokens, name="--output-tokens"),
        count=requests,
        duration_s=None if isinstance(arrivals, ClosedLoop) else duration_s,
        shared_prefix=_pair(
            args.shared_prefix, "--shared-prefix", SharedPrefix, "groups", "prefix_tokens"
        ),
        sessions=_pair(args.sessions, "--sessions", Sessions, "sessions", "turns"),
        repeat_fraction=fraction(args.repeat_fraction, "--repeat-fraction"),
        paraphrase_fraction=fraction(args.paraphrase_fraction, "--paraphrase-fraction"),
        seed=int(non_negative(args.seed, "--seed", "an integer")),
    )
    return workload, duration_s


def _pair(text: str | None, option: str, kind: Any, first: str, second: str) -> Any:
    if text is None:
        return None
    left, sep, right = text.partition(":")
    if not sep:
        raise ConfigError(
            f"{option} must be written {first.upper()}:{second.upper()}, got {text!r}"
        )
    return kind(**{first: count(left, option), second: count(right, option)})


def describe_workload(args: argparse.Namespace) -> dict[str, Any]:
    """The load options that were set, for the run's results file."""
    keys = (
        "rate",
        "concurrency",
        "arrivals",
        "duration",
        "requests",
        "think_time",
        "prompt_tokens",
        "output_tokens",
        "shared_prefix",
        "sessions",
        "repeat_fraction",
        "paraphrase_fraction",
        "seed",
    )
    return {key: getattr(args, key) for key in keys if getattr(args, key) is not None}
