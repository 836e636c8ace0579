"""``slokit report``: render a run's results.json (and its records) as one HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from slokit.errors import ConfigError, DataError
from slokit.report import REPORT_FILE, write_report

NAME = "report"
HELP = "Render a run's results as one self-contained HTML report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=Path, metavar="PATH", help="results.json, or the run directory holding it"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"where to write the report (default: {REPORT_FILE} beside results.json)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        written = write_report(args.path, args.output)
    except DataError as error:
        # An unreadable input is a bad argument to this command: exit 2, not 1.
        raise ConfigError(str(error)) from error
    print(written)
    return 0
