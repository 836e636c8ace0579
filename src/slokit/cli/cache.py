"""``slokit cache``: calibrate the semantic cache's hit threshold on labelled pairs, evaluate it.

Parsing and printing only; the work lives in :mod:`slokit.cache`. Exit codes: 0 success,
1 the evaluated false-hit rate is above the calibration's bound, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from slokit.cache import (
    Calibration,
    Pair,
    build_protocol,
    calibrate,
    evaluate,
    read_pairs,
)
from slokit.cache.calibration import DEFAULT_CANDIDATES, DEFAULT_CONFIDENCE
from slokit.cli.options import count, fraction, show_percent, table
from slokit.embedding import MINILM_NAME, embedder_named
from slokit.errors import ConfigError, DataError

NAME = "cache"
HELP = "Calibrate the semantic cache for a bounded false-hit rate, and evaluate it on pairs."


# Local, not imported from slokit.cli: that package imports this module while it loads.
_EXIT_OK = 0
_EXIT_FAILURE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    calibrate_parser = commands.add_parser(
        "calibrate",
        help="fit the hit score and the threshold that bounds the false-hit rate",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(calibrate_parser)
    calibrate_parser.add_argument(
        "--max-false-hit-rate",
        required=True,
        metavar="RATE",
        default=argparse.SUPPRESS,
        help="largest share of lookups that may be served a wrong cached reply, in (0, 1)",
    )
    calibrate_parser.add_argument(
        "--confidence",
        default=str(DEFAULT_CONFIDENCE),
        metavar="LEVEL",
        help="probability that the bound holds over the draw of the calibration pairs",
    )
    calibrate_parser.add_argument(
        "--candidates",
        default=str(DEFAULT_CANDIDATES),
        metavar="K",
        help="nearest cached prompts verified per lookup",
    )
    calibrate_parser.add_argument(
        "--no-guards",
        action="store_true",
        help="let a differing number or negation be outweighed instead of vetoing the hit",
    )
    calibrate_parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="calibration JSON"
    )
    evaluate_parser = commands.add_parser(
        "evaluate",
        help="cache every text_a, look up every text_b, count correct and false hits",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(evaluate_parser)
    evaluate_parser.add_argument(
        "--calibration", type=Path, required=True, metavar="FILE", help="from calibrate"
    )
    evaluate_parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pairs",
        type=Path,
        required=True,
        metavar="FILE",
        help='JSON lines {"text_a": str, "text_b": str, "label": 0|1}',
    )
    parser.add_argument(
        "--embedder",
        default=None,
        metavar="NAME",
        help=f"{MINILM_NAME} (the 'embed' extra) or hashing-<dimensions> (no model); default: "
        f"{MINILM_NAME} for calibrate, the calibration's own for evaluate",
    )


def run(args: argparse.Namespace) -> int:
    if args.cache_command == "calibrate":
        return _calibrate(args)
    return _evaluate(args)


def _calibrate(args: argparse.Namespace) -> int:
    bound = fraction(args.max_false_hit_rate, "--max-false-hit-rate")
    confidence = fraction(args.confidence, "--confidence")
    if bound in {0.0, 1.0} or confidence in {0.0, 1.0}:
        raise ConfigError("--max-false-hit-rate and --confidence must be strictly in (0, 1)")
    candidates = count(args.candidates, "--candidates")
    name = args.embedder or MINILM_NAME
    pairs = _read(args.pairs)
    protocol = build_protocol(pairs, embedder_named(name).embed, candidates=candidates)
    try:
        calibration = calibrate(
            protocol.lookups,
            max_false_hit_rate=bound,
            confidence=confidence,
            candidates=candidates,
            hard_guards=not args.no_guards,
            embedder=name,
        )
    except DataError as error:
        raise ConfigError(f"--pairs {args.pairs}: {error}") from error
    args.output.write_text(json.dumps(calibration.to_json(), indent=2) + "\n")
    report = calibration.report
    threshold = calibration.threshold
    shown = "none safe: exact only" if math.isinf(threshold) else f"{threshold:.4g}"
    print(
        table(
            [
                ("calibration", str(args.output)),
                ("false-hit bound", f"{show_percent(bound)} at confidence {confidence:g}"),
                ("threshold", shown),
                ("test lookups", f"{report['test_lookups']:.0f}"),
                ("test hits", f"{report['test_hits']:.0f}"),
                ("test false hits", f"{report['test_false_hits']:.0f}"),
                ("false-hit upper bound", show_percent(report["false_hit_rate_upper_bound"])),
            ]
        )
    )
    return _EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    try:
        calibration = Calibration.from_json(
            json.loads(args.calibration.read_text()), source=str(args.calibration)
        )
    except (OSError, json.JSONDecodeError, DataError) as error:
        raise ConfigError(f"--calibration {args.calibration}: {error}") from error
    name = args.embedder or calibration.embedder or MINILM_NAME
    if calibration.embedder and name != calibration.embedder:
        raise ConfigError(
            f"--embedder {name}: the calibration was fitted on {calibration.embedder} "
            "embeddings; its bound holds only for those"
        )
    pairs = _read(args.pairs)
    protocol = build_protocol(pairs, embedder_named(name).embed, candidates=calibration.candidates)
    result = evaluate(protocol, calibration)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(
            table(
                [
                    ("lookups", str(result.n)),
                    ("positives", str(result.positives)),
                    ("hits", str(result.hits)),
                    ("correct hits", str(result.correct_hits)),
                    ("false hits", str(result.false_hits)),
                    ("hit rate", show_percent(result.hit_rate)),
                    ("precision", show_percent(result.precision)),
                    ("recall", show_percent(result.recall)),
                    (
                        "false-hit rate",
                        _against(result.false_hit_rate, calibration.max_false_hit_rate),
                    ),
                ]
            )
        )
    within = result.false_hit_rate <= calibration.max_false_hit_rate
    return _EXIT_OK if within else _EXIT_FAILURE


def _read(path: Path) -> list[Pair]:
    try:
        return read_pairs(path)
    except DataError as error:
        raise ConfigError(f"--pairs {error}") from error


def _against(rate: float, bound: float) -> str:
    return f"{show_percent(rate)} (bound {show_percent(bound)})"
