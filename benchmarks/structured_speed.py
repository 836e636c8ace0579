"""What the structured-output pipeline costs per parse, next to json.loads and json-repair.

Inputs: model-like JSON documents of about 100 B, 1 KB, 4 KB and 10 KB, valid and broken in
four ways (cut off at 90%, Python literals with single quotes, a trailing comma, wrapped in
prose and a code fence). On each input, interleaved round by round, it times ``json.loads``,
``json_repair.repair_json(text, return_objects=True)`` and the pipeline
(``StructuredParser.parse``) without a schema and with one, and reports medians in
microseconds and the pipeline's ratio to json-repair (target <= 1.2). It also times the JSON
Schema validators on the same values, and json-repair on known pathological inputs, which is
what the repair cap (``ParserConfig.max_repair_chars``) is sized from.

Run: ``.venv/bin/python benchmarks/structured_speed.py``; it writes
benchmarks/results/structured_speed.json and prints tables.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json_repair
import jsonschema_rs

from slokit.results import write_json_atomic
from slokit.structured import DEFAULT_MAX_REPAIR_CHARS, ParserConfig, StructuredParser

RESULTS = Path(__file__).parent / "results" / "structured_speed.json"
TARGET_RATIO = 1.2
SIZES_B = (100, 1_000, 4_000, 10_000)
# The comparison with json-repair is made on the same inputs, so the pipeline's cap is raised
# above the largest; the default cap's own row shows what it refuses instead.
BENCH_CONFIG = ParserConfig(max_repair_chars=16_384)

ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "name", "score", "active", "tags"],
    "additionalProperties": False,
}
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "items": {"type": "array", "items": ITEM}},
    "required": ["title", "items"],
    "additionalProperties": False,
}
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def document(size_b: int, rng: random.Random) -> dict[str, Any]:
    """A document whose compact JSON is about ``size_b`` bytes."""
    doc: dict[str, Any] = {"title": "report", "items": []}
    while True:
        item = {
            "id": rng.randrange(10_000),
            "name": " ".join(rng.choices(WORDS, k=2)),
            "score": round(rng.uniform(0, 100), 2),
            "active": rng.random() < 0.5,
            "tags": rng.choices(WORDS, k=rng.randrange(0, 3)),
        }
        if doc["items"] and len(json.dumps(doc)) + len(json.dumps(item)) > size_b:
            return doc
        doc["items"].append(item)


def variants(doc: dict[str, Any]) -> dict[str, str]:
    text = json.dumps(doc)
    return {
        "valid": text,
        "truncated": text[: int(len(text) * 0.9)],
        "python": repr(doc),
        "trailing_comma": text[:-1] + ", }",
        "fenced": f"Sure! Here is the JSON:\n```json\n{text}\n```\nLet me know if you need more.",
    }


def json_loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def methods() -> dict[str, Callable[[str], object]]:
    plain = StructuredParser(config=BENCH_CONFIG)
    with_schema = StructuredParser(SCHEMA, config=BENCH_CONFIG)
    default_cap = StructuredParser(SCHEMA)
    return {
        "json.loads": json_loads,
        "json_repair": lambda text: json_repair.repair_json(text, return_objects=True),
        "pipeline": plain.parse,
        "pipeline+schema": with_schema.parse,
        "pipeline+schema default cap": default_cap.parse,
    }


def time_call(function: Callable[[str], object], text: str, budget_s: float) -> float:
    """Microseconds per call, from a batch sized to take about ``budget_s``."""
    started = time.perf_counter()
    function(text)
    once_s = max(time.perf_counter() - started, 1e-7)
    repeats = max(1, min(2000, int(budget_s / once_s)))
    started = time.perf_counter()
    for _ in range(repeats):
        function(text)
    return (time.perf_counter() - started) / repeats * 1e6


def speed(rounds: int, budget_s: float) -> list[dict[str, Any]]:
    rng = random.Random(7)
    inputs = [
        (size_b, kind, text)
        for size_b in SIZES_B
        for kind, text in variants(document(size_b, rng)).items()
    ]
    timed = methods()
    samples: dict[tuple[int, str, str], list[float]] = {}
    for _ in range(rounds):  # interleaved: each round times every method on every input
        for size_b, kind, text in inputs:
            for name, function in timed.items():
                samples.setdefault((size_b, kind, name), []).append(
                    time_call(function, text, budget_s)
                )
    rows = []
    for size_b, kind, text in inputs:
        medians = {name: statistics.median(samples[(size_b, kind, name)]) for name in timed}
        # Ratios paired round by round (the two were timed back to back), then the median:
        # load from other work on the machine drifts between rounds, not within one.
        paired = {
            name: statistics.median(
                mine / theirs
                for mine, theirs in zip(
                    samples[(size_b, kind, name)],
                    samples[(size_b, kind, "json_repair")],
                    strict=True,
                )
            )
            for name in ("pipeline", "pipeline+schema")
        }
        with_schema = StructuredParser(SCHEMA, config=BENCH_CONFIG).parse(text)
        rows.append(
            {
                "size_b": size_b,
                "bytes": len(text),
                "kind": kind,
                "median_us": medians,
                "pipeline_vs_json_repair": paired["pipeline"],
                "pipeline_schema_vs_json_repair": paired["pipeline+schema"],
                "action_with_schema": str(with_schema.action),
                "action_default_cap": str(StructuredParser(SCHEMA).parse(text).action),
            }
        )
    return rows


def validators(rounds: int, budget_s: float) -> dict[str, Any]:
    rng = random.Random(11)
    values = {f"{size_b} B": document(size_b, rng) for size_b in SIZES_B}
    invalid = json.loads(json.dumps(values["1000 B"]))
    invalid["items"][0]["id"] = "12"
    values["1000 B invalid"] = invalid
    compiled = jsonschema_rs.validator_for(SCHEMA)
    candidates: dict[str, Callable[[object], object]] = {"jsonschema-rs": compiled.is_valid}
    if importlib.util.find_spec("fastjsonschema") is not None:
        import fastjsonschema  # noqa: PLC0415

        fast = fastjsonschema.compile(SCHEMA)

        def fast_valid(value: object) -> bool:
            try:
                fast(value)
            except fastjsonschema.JsonSchemaException:
                return False
            return True

        candidates["fastjsonschema"] = fast_valid
    if importlib.util.find_spec("jsonschema") is not None:
        import jsonschema  # noqa: PLC0415

        candidates["jsonschema"] = jsonschema.Draft202012Validator(SCHEMA).is_valid
    candidates["pydantic (model class)"] = _pydantic_validator()
    samples: dict[tuple[str, str], list[float]] = {}
    verdicts: dict[tuple[str, str], bool] = {}
    for _ in range(rounds):
        for label, value in values.items():
            for name, check in candidates.items():
                samples.setdefault((label, name), []).append(
                    time_call(lambda _text, c=check, v=value: c(v), "", budget_s)
                )
                verdicts[(label, name)] = bool(check(value))
    return {
        label: {
            name: {
                "median_us": statistics.median(samples[(label, name)]),
                "valid": verdicts[(label, name)],
            }
            for name in candidates
        }
        for label in values
    }


def _pydantic_validator() -> Callable[[object], bool]:
    """The same schema as pydantic models: pydantic validates classes, not JSON Schemas."""
    import pydantic  # noqa: PLC0415

    class Item(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(strict=True, extra="forbid")
        id: int
        name: str
        score: float
        active: bool
        tags: list[str]

    class Document(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(strict=True, extra="forbid")
        title: str
        items: list[Item]

    def valid(value: object) -> bool:
        try:
            Document.model_validate(value)
        except pydantic.ValidationError:
            return False
        return True

    return valid


PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "unquoted keys and values": lambda n: ("{a: b, " * n)[:n],
    "unterminated strings in containers": lambda n: ('{"a": [1, {"b": "c' * n)[:n],
    "unterminated strings": lambda n: ('{"a": "' * n)[:n],
    "cut-off array of objects": lambda n: (
        '{"items": [' + ",".join(f'{{"k": {i}, "v": "x"}}' for i in range(n))
    )[:n],
}


def pathological(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    default = StructuredParser()
    for name, make in PATHOLOGICAL.items():
        for size in sizes:
            text = make(size)
            started = time.perf_counter()
            with contextlib.suppress(ValueError):
                json_repair.repair_json(text, return_objects=True)
            repair_ms = (time.perf_counter() - started) * 1e3
            started = time.perf_counter()
            default.parse(text)
            pipeline_ms = (time.perf_counter() - started) * 1e3
            rows.append(
                {
                    "pattern": name,
                    "chars": size,
                    "json_repair_ms": repair_ms,
                    "pipeline_default_cap_ms": pipeline_ms,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per input")
    parser.add_argument("--budget-ms", type=float, default=20.0, help="time per batch")
    args = parser.parse_args()
    budget_s = args.budget_ms / 1e3

    load_before = os.getloadavg()[0]
    rows = speed(args.rounds, budget_s)
    checks = validators(args.rounds, budget_s / 4)
    worst = pathological((1024, 2048, 4096, 8192))
    write_json_atomic(
        RESULTS,
        {
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                # Other work on the machine inflates every figure alike; ratios hold better.
                "load_average_1m_before": load_before,
                "load_average_1m_after": os.getloadavg()[0],
            },
            "bench_max_repair_chars": BENCH_CONFIG.max_repair_chars,
            "default_max_repair_chars": DEFAULT_MAX_REPAIR_CHARS,
            "target_ratio": TARGET_RATIO,
            "ratio_summary": {
                key: {
                    "median": statistics.median(row[key] for row in rows),
                    "geometric_mean": statistics.geometric_mean(row[key] for row in rows),
                    "max": max(row[key] for row in rows),
                }
                for key in ("pipeline_vs_json_repair", "pipeline_schema_vs_json_repair")
            },
            "speed": rows,
            "validators": checks,
            "pathological": worst,
        },
    )
    print_tables(rows, checks, worst)
    print(f"\nload average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    print(f"written to {RESULTS}")


def print_tables(
    rows: list[dict[str, Any]], checks: dict[str, Any], worst: list[dict[str, Any]]
) -> None:
    print("median us per parse (pipeline cap 16 KiB; 'default' = 4 KiB cap, with schema)")
    print(
        f"{'size':>6} {'kind':15} {'json.loads':>10} {'json_repair':>11} {'pipeline':>9} "
        f"{'+schema':>9} {'default':>9} {'ratio':>6} {'+schema':>7}  action"
    )
    for row in rows:
        us = row["median_us"]
        capped = row["action_default_cap"]
        note = "" if capped == row["action_with_schema"] else f" (default cap: {capped})"
        print(
            f"{row['bytes']:6d} {row['kind']:15} {us['json.loads']:10.1f} "
            f"{us['json_repair']:11.1f} {us['pipeline']:9.1f} {us['pipeline+schema']:9.1f} "
            f"{us['pipeline+schema default cap']:9.1f} {row['pipeline_vs_json_repair']:6.2f} "
            f"{row['pipeline_schema_vs_json_repair']:7.2f}  {row['action_with_schema']}{note}"
        )
    for label, key in (
        ("pipeline", "pipeline_vs_json_repair"),
        ("+schema", "pipeline_schema_vs_json_repair"),
    ):
        ratios = [row[key] for row in rows]
        broken = [row[key] for row in rows if row["kind"] != "valid"]
        print(
            f"{label} / json_repair (paired per round): median {statistics.median(ratios):.2f}, "
            f"geometric mean {statistics.geometric_mean(ratios):.2f}, on broken inputs "
            f"{statistics.geometric_mean(broken):.2f}, max {max(ratios):.2f} "
            f"(target <= {TARGET_RATIO})"
        )
    names = list(next(iter(checks.values())))
    print("\nmedian us per validation")
    print(f"{'value':16}" + "".join(f"{name:>24}" for name in names))
    for label, by_name in checks.items():
        print(f"{label:16}" + "".join(f"{by_name[name]['median_us']:24.2f}" for name in names))
    print("\npathological inputs (one call, ms)")
    print(f"{'pattern':36} {'chars':>6} {'json_repair':>12} {'pipeline (4 KiB cap)':>21}")
    for row in worst:
        print(
            f"{row['pattern']:36} {row['chars']:6d} {row['json_repair_ms']:12.1f} "
            f"{row['pipeline_default_cap_ms']:21.2f}"
        )


if __name__ == "__main__":
    main()
