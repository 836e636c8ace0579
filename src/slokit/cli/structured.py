"""``slokit structured repair``: JSON Lines of model outputs in, one parsed result per line out.

Each input line is ``{"input": "<model text>", "schema": <optional JSON Schema>}``; each
output line ``{"ok", "output", "action", "coercions"}`` (and ``errors`` when not ok), in input
order. A bad line gets ``{"ok": false, "action": "failed", "line": N, "error": ...}`` and the
others go on. Exit codes: 0 every line ok, 1 some line failed or was bad, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

import orjson

from slokit.errors import ConfigError
from slokit.structured import ParserConfig, StructuredParser

NAME = "structured"
HELP = "Repair, coerce and validate model outputs against a JSON Schema (JSON Lines in and out)."

# Local, not imported from slokit.cli: that package imports this module while it loads.
_EXIT_OK = 0
_EXIT_FAILURE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``slokit structured repair [--schema FILE] [--max-repair-chars N]``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    repair = actions.add_parser(
        "repair",
        help="read {'input': str, 'schema'?: object} lines on stdin, write one result per line",
        description="Read JSON Lines {'input': model text, 'schema': optional JSON Schema} on "
        "standard input; write one line per input: {'ok', 'output', 'action', 'coercions'}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    repair.add_argument(
        "--schema",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="JSON Schema file used for lines that carry no 'schema' of their own",
    )
    repair.add_argument(
        "--max-repair-chars",
        metavar="N",
        default=str(ParserConfig().max_repair_chars),
        help="longest text handed to the repairer (0: never repair); longer broken text fails",
    )


def run(args: argparse.Namespace) -> int:
    """Process standard input line by line; return 0 if every line was ok."""
    config = ParserConfig(max_repair_chars=_whole(args.max_repair_chars, "--max-repair-chars"))
    schema_path = getattr(args, "schema", None)
    default_schema = None if schema_path is None else _load_schema(Path(schema_path))
    all_ok = repair_lines(sys.stdin, sys.stdout, default_schema=default_schema, config=config)
    return _EXIT_OK if all_ok else _EXIT_FAILURE


def repair_lines(
    lines: Iterable[str],
    out: TextIO,
    *,
    default_schema: Mapping[str, object] | None,
    config: ParserConfig,
) -> bool:
    """Write one result line per non-blank input line; True if all were ok."""
    parsers: dict[bytes, StructuredParser] = {}
    all_ok = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            report = _repair_line(line, default_schema, config, parsers)
        except ConfigError as error:
            report = {"ok": False, "action": "failed", "line": number, "error": str(error)}
        all_ok = all_ok and report["ok"] is True
        out.write(_dumps(report) + "\n")
        out.flush()
    return all_ok


def _repair_line(
    line: str,
    default_schema: Mapping[str, object] | None,
    config: ParserConfig,
    parsers: dict[bytes, StructuredParser],
) -> dict[str, object]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"not a JSON object: {error}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("input")
    if not isinstance(text, str):
        raise ConfigError("'input' must be a string (the model's output)")
    schema = record.get("schema", default_schema)
    if schema is not None and not isinstance(schema, dict):
        raise ConfigError("'schema' must be a JSON object (a JSON Schema)")
    # Compile each distinct schema once: a batch usually repeats a few.
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    parser = parsers.get(key)
    if parser is None:
        parser = parsers[key] = StructuredParser(schema, config=config)
    return parser.parse(text).as_json()


def _dumps(report: dict[str, object]) -> str:
    try:
        return orjson.dumps(report).decode()
    except TypeError:
        # Integers past 64 bits, which orjson refuses and the json module writes.
        return json.dumps(report, ensure_ascii=False, default=str)


def _load_schema(path: Path) -> Mapping[str, object]:
    try:
        schema = orjson.loads(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"--schema: cannot read {path}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"--schema: {path} is not JSON: {error}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"--schema: {path} must hold a JSON object (a JSON Schema)")
    StructuredParser(schema)  # reports an invalid schema now, once, as a usage error
    return schema


def _whole(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{option} must be a whole number >= 0, got {text!r}")
    return value
