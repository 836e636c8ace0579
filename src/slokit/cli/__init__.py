"""The ``slokit`` command: parses arguments and calls the capability that does the work.

Each subcommand is one module in this package exposing ``NAME``, ``HELP``, ``add_arguments``
and ``run``; :data:`COMMAND_MODULES` names them. Only the module of the command being run is
imported (``slokit serve`` does not load the simulator, scipy or the report's templates:
faster start-up and a smaller gateway); ``slokit --help`` imports them all. Exit codes: 0
success, 1 the work failed or found a problem (e.g. a regression), 2 bad arguments or
configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol, cast

from slokit import __version__
from slokit.errors import ConfigError, SlokitError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class Command(Protocol):
    """What a subcommand module provides."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


#: The command modules in ``slokit --help`` order; each module's ``NAME`` is its file name.
COMMAND_MODULES: tuple[str, ...] = (
    "plan",
    "bench",
    "report",
    "gate",
    "calibrate",
    "emulate",
    "serve",
    "simulate",
    "route",
    "structured",
    "cache",
)


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (imported now)."""
    return importlib.import_module(f"slokit.cli.{name}")


def commands(argv: Sequence[str] | None = None) -> tuple[ModuleType, ...]:
    """The command modules a parse of ``argv`` needs: the named command's alone, else all."""
    words = sys.argv[1:] if argv is None else argv
    named = next((word for word in words if not word.startswith("-")), None)
    if named in COMMAND_MODULES:
        return (command_module(named),)
    return tuple(command_module(name) for name in COMMAND_MODULES)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser, one sub-parser per command module :func:`commands` picks."""
    parser = argparse.ArgumentParser(
        prog="slokit",
        description="Meet LLM throughput and latency SLOs at the lowest cost.",
    )
    parser.add_argument("--version", action="version", version=f"slokit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in commands(argv):
        command = cast(Command, module)
        sub = subparsers.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.HELP,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``slokit`` console script; returns the exit code."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as error:
        print(f"slokit {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SlokitError as error:
        print(f"slokit {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"slokit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
