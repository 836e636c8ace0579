"""How much of a small model's JSON the CPU pipeline fixes, and how many model calls it saves.

SmolLM2-135M (llama.cpp, slokit.backends.local) is asked for JSON under a dozen schemas with
several prompts each; its raw replies are kept as test fixtures
(tests/structured/fixtures/corpus.jsonl, schemas.json). Each reply is then judged

- without the pipeline: strict ``json.loads`` + schema validation (valid, or a re-ask);
- with json-repair alone (repair, then validate, no coercion);
- with the pipeline (extract, repair, coerce, validate): valid / repaired / coerced / failed;

and the pipeline's failures are re-asked for real against the model (slokit.structured.reask),
with the attempts and tokens counted: plainly (the follow-up message alone), and with
constrained decoding (llama.cpp turns the schema into a grammar via ``response_format``).

Run: ``.venv/bin/python benchmarks/structured_quality.py`` (replays the fixtures, re-asks the
failures live); ``--collect`` first regenerates the corpus (a few minutes on one core). It
writes benchmarks/results/structured_quality.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import json_repair

from slokit.backends.local import LocalModelConfig, LocalModelServer
from slokit.results import write_json_atomic
from slokit.structured import (
    Message,
    ModelReply,
    ReaskConfig,
    StructuredParser,
    reask,
)

ROOT = Path(__file__).parent.parent
FIXTURES = ROOT / "tests" / "structured" / "fixtures"
CORPUS = FIXTURES / "corpus.jsonl"
SCHEMAS_FILE = FIXTURES / "schemas.json"
RESULTS = Path(__file__).parent / "results" / "structured_quality.json"

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_BOOL = {"type": "boolean"}


def _object(properties: dict[str, Any], *, required: Sequence[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "person": _object({"name": _STR, "age": _INT}),
    "product": _object({"name": _STR, "price": _NUM, "in_stock": _BOOL}),
    "sentiment": _object(
        {
            "sentiment": {"enum": ["positive", "negative", "neutral"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "ticket": _object(
        {
            "title": _STR,
            "priority": {"enum": ["low", "medium", "high"]},
            "tags": {"type": "array", "items": _STR},
        },
        required=["title", "priority"],
    ),
    "colors": _object({"colors": {"type": "array", "items": _STR, "minItems": 1}}),
    "address": _object(
        {"name": _STR, "address": _object({"street": _STR, "city": _STR, "zip": _STR})}
    ),
    "book": _object(
        {"title": _STR, "author": _STR, "year": _INT, "genres": {"type": "array", "items": _STR}}
    ),
    "weather": _object(
        {
            "city": _STR,
            "temperature_c": _NUM,
            "condition": {"enum": ["sunny", "cloudy", "rainy", "snowy"]},
        }
    ),
    "todos": _object({"todos": {"type": "array", "items": _object({"task": _STR, "done": _BOOL})}}),
    "event": _object({"event": _STR, "date": _STR, "attendees": _INT}),
    "recipe": _object(
        {
            "dish": _STR,
            "ingredients": {"type": "array", "items": _object({"item": _STR, "quantity": _NUM})},
            "minutes": _INT,
        }
    ),
    "answer": _object({"answer": _BOOL, "reason": _STR}),
}

TASKS: dict[str, list[str]] = {
    "person": ["Marie Curie", "a 30-year-old teacher named Tom", "Albert Einstein", "your friend"],
    "product": ["a coffee mug", "a laptop that is sold out", "running shoes", "a used bicycle"],
    "sentiment": ["'I love this phone!'", "'The food was cold.'", "'It arrived.'", "'Meh.'"],
    "ticket": [
        "the login page crashes",
        "a typo on the homepage",
        "the server is down",
        "dark mode",
    ],
    "colors": ["the French flag", "a rainbow", "the sky at sunset", "a zebra"],
    "address": ["the White House", "Sherlock Holmes", "a bakery in Paris", "your office"],
    "book": ["1984", "Pride and Prejudice", "The Hobbit", "a novel you like"],
    "weather": ["London today", "Cairo in summer", "Oslo in winter", "Seattle"],
    "todos": ["moving house", "a birthday party", "studying for an exam", "a trip"],
    "event": ["a team meeting", "a wedding", "a concert", "a product launch"],
    "recipe": ["pancakes", "a salad", "tomato soup", "scrambled eggs"],
    "answer": ["Is water wet?", "Is the Earth flat?", "Can cats swim?", "Is 7 prime?"],
}

# One example of a right answer per schema, about something else than the tasks.
EXAMPLES: dict[str, dict[str, Any]] = {
    "person": {"name": "Ada Lovelace", "age": 36},
    "product": {"name": "desk lamp", "price": 24.5, "in_stock": True},
    "sentiment": {"sentiment": "neutral", "confidence": 0.6},
    "ticket": {"title": "search is slow", "priority": "medium", "tags": ["search"]},
    "colors": {"colors": ["green", "white"]},
    "address": {
        "name": "City Library",
        "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345"},
    },
    "book": {"title": "Dune", "author": "Frank Herbert", "year": 1965, "genres": ["sci-fi"]},
    "weather": {"city": "Madrid", "temperature_c": 31.0, "condition": "sunny"},
    "todos": {"todos": [{"task": "buy milk", "done": False}]},
    "event": {"event": "book club", "date": "2024-05-02", "attendees": 12},
    "recipe": {
        "dish": "toast",
        "ingredients": [{"item": "bread", "quantity": 2}],
        "minutes": 5,
    },
    "answer": {"answer": False, "reason": "Fish cannot fly."},
}

# Prompts quote the schema, only name the keys, or show one example answer: all three happen
# in practice; the example is the commonest in production prompts, so it comes twice.
PROMPT_STYLES = ("schema", "keys", "example", "example")


def prompt(schema_name: str, task: str, style: str) -> list[Message]:
    schema = SCHEMAS[schema_name]
    if style == "schema":
        ask = (
            f"Describe {task} as JSON matching this JSON Schema:\n{json.dumps(schema)}\n"
            "Reply with the JSON only."
        )
    elif style == "keys":
        keys = ", ".join(schema["properties"])
        ask = f"Give me {task} as a JSON object with the keys {keys}."
    else:
        example = json.dumps(EXAMPLES[schema_name])
        ask = f"Give me {task} as a JSON object like this example:\n{example}"
    if schema_name == "answer":
        ask = ask.replace(f"Describe {task}", f"Answer the question {task!r}").replace(
            f"Give me {task}", f"Answer {task!r}"
        )
    return [
        {"role": "system", "content": "You are a helpful assistant. You answer in JSON."},
        {"role": "user", "content": ask},
    ]


class Model:
    """Blocking chat calls to the local server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        temperature: float,
        seed: int,
        schema: dict[str, Any] | None = None,
    ) -> None:
        self._url = f"{base_url}/chat/completions"
        self._schema = schema
        self._model = model
        self._temperature = temperature
        self._seed = seed
        self.calls = 0

    def __call__(self, messages: Sequence[Message], max_tokens: int) -> ModelReply:
        body = {
            "model": self._model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": self._temperature,
            "seed": self._seed + self.calls,
        }
        if self._schema is not None:
            body["response_format"] = {"type": "json_object", "schema": self._schema}
        request = urllib.request.Request(
            self._url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            reply = json.loads(response.read())
        self.calls += 1
        usage = reply.get("usage") or {}
        return ModelReply(
            text=reply["choices"][0]["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )


def collect(server: LocalModelServer, max_tokens: int) -> list[dict[str, Any]]:
    model = Model(server.base_url, server.model, temperature=0.7, seed=1)
    rows = []
    started = time.perf_counter()
    for schema_name, tasks in TASKS.items():
        for index, task in enumerate(tasks):
            style = PROMPT_STYLES[index % len(PROMPT_STYLES)]
            messages = prompt(schema_name, task, style)
            reply = model(messages, max_tokens)
            rows.append(
                {
                    "schema": schema_name,
                    "style": style,
                    "messages": messages,
                    "output": reply.text,
                    "completion_tokens": reply.completion_tokens,
                }
            )
            print(f"{len(rows):3d} {schema_name:10} {reply.text[:70]!r}", flush=True)
    print(f"collected {len(rows)} replies in {time.perf_counter() - started:.0f} s")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    SCHEMAS_FILE.write_text(json.dumps(SCHEMAS, indent=1) + "\n")
    with CORPUS.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return rows


def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def baseline(text: str, parser: StructuredParser) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return not parser.validate(value)


def repair_only(text: str, parser: StructuredParser) -> bool:
    try:
        value = json_repair.repair_json(text, return_objects=True)
    except (ValueError, RecursionError):
        return False
    return not parser.validate(value)


def judge(rows: list[dict[str, Any]]) -> dict[str, Any]:
    parsers = {name: StructuredParser(schema) for name, schema in SCHEMAS.items()}
    actions: Counter[str] = Counter()
    coercion_kinds: Counter[str] = Counter()
    baseline_valid = repair_valid = 0
    per_schema: dict[str, Counter[str]] = {name: Counter() for name in SCHEMAS}
    for row in rows:
        parser = parsers[row["schema"]]
        baseline_valid += baseline(row["output"], parser)
        repair_valid += repair_only(row["output"], parser)
        result = parser.parse(row["output"])
        row["result"] = result
        actions[str(result.action)] += 1
        per_schema[row["schema"]][str(result.action)] += 1
        coercion_kinds.update(str(coercion.kind) for coercion in result.coercions)
    total = len(rows)
    fixed = actions["repaired"] + actions["coerced"]
    return {
        "replies": total,
        "without_pipeline": {
            "valid": baseline_valid,
            "needs_reask": total - baseline_valid,
            "valid_share": baseline_valid / total,
        },
        "json_repair_alone": {"valid": repair_valid, "valid_share": repair_valid / total},
        "with_pipeline": {
            "valid": actions["valid"],
            "repaired": actions["repaired"],
            "coerced": actions["coerced"],
            "failed": actions["failed"],
            "fixed_on_cpu_share": fixed / total,
            "ok_share": (total - actions["failed"]) / total,
        },
        "model_calls_saved": (total - baseline_valid) - actions["failed"],
        "coercion_kinds": dict(coercion_kinds.most_common()),
        "per_schema": {name: dict(counts) for name, counts in per_schema.items()},
    }


def reask_failures(
    server: LocalModelServer, rows: list[dict[str, Any]], attempts: int, *, constrained: bool
) -> dict[str, Any]:
    config = ReaskConfig(max_attempts=attempts, max_total_tokens=4096, max_completion_tokens=200)
    outcomes = []
    started = time.perf_counter()
    for row in rows:
        if row["result"].ok:
            continue
        schema = SCHEMAS[row["schema"]]
        model = Model(
            server.base_url,
            server.model,
            temperature=0.0,
            seed=7,
            schema=schema if constrained else None,
        )
        outcome = reask(StructuredParser(schema), row["messages"], row["output"], model, config)
        outcomes.append(outcome)
        print(
            f"re-ask{' (constrained)' if constrained else ''} {row['schema']:10} -> "
            f"{outcome.result.action} after {outcome.attempts} ({outcome.total_tokens} tokens)",
            flush=True,
        )
    fixed = sum(outcome.result.ok for outcome in outcomes)
    return {
        "failures": len(outcomes),
        "max_attempts": attempts,
        "constrained_decoding": constrained,
        "reasked_ok": fixed,
        "still_failed": len(outcomes) - fixed,
        "model_calls": sum(outcome.attempts for outcome in outcomes),
        "prompt_tokens": sum(outcome.prompt_tokens for outcome in outcomes),
        "completion_tokens": sum(outcome.completion_tokens for outcome in outcomes),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collect", action="store_true", help="regenerate the corpus first")
    parser.add_argument("--max-tokens", type=int, default=160, help="per reply when collecting")
    parser.add_argument("--reask-attempts", type=int, default=2)
    parser.add_argument("--no-reask", action="store_true", help="skip the live re-ask part")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    needs_model = args.collect or not args.no_reask
    config = LocalModelConfig(threads=1, context_tokens=2048)
    report: dict[str, Any] = {}
    with LocalModelServer(config) if needs_model else _Nothing() as server:
        rows = collect(server, args.max_tokens) if args.collect else load_corpus()
        report = judge(rows)
        if not args.no_reask:
            report["reask"] = reask_failures(server, rows, args.reask_attempts, constrained=False)
            report["reask_constrained"] = reask_failures(server, rows, 1, constrained=True)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_1m_before": load_before,
        "load_average_1m_after": os.getloadavg()[0],
    }
    report["model"] = "SmolLM2-135M-Instruct Q4_1 (llama.cpp, 1 thread), temperature 0.7"
    write_json_atomic(RESULTS, report)
    print_table(report)
    print(f"written to {RESULTS}")


class _Nothing:
    def __enter__(self) -> Any:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def print_table(report: dict[str, Any]) -> None:
    total = report["replies"]
    without, alone, pipeline = (
        report["without_pipeline"],
        report["json_repair_alone"],
        report["with_pipeline"],
    )

    def share(count: int) -> str:
        return f"{count:4d} ({count / total:6.1%})"

    print(f"\n{total} replies of SmolLM2-135M under {len(SCHEMAS)} schemas")
    print(f"{'':34} {'valid as-is':>14} {'fixed on CPU':>14} {'needs re-ask':>14}")
    print(
        f"{'without (json.loads + validate)':34} {share(without['valid']):>14} "
        f"{share(0):>14} {share(without['needs_reask']):>14}"
    )
    print(
        f"{'json-repair alone + validate':34} {share(without['valid']):>14} "
        f"{share(alone['valid'] - without['valid']):>14} {share(total - alone['valid']):>14}"
    )
    fixed = pipeline["repaired"] + pipeline["coerced"]
    print(
        f"{'slokit pipeline':34} {share(pipeline['valid']):>14} {share(fixed):>14} "
        f"{share(pipeline['failed']):>14}"
    )
    print(f"  of which repaired {pipeline['repaired']}, coerced {pipeline['coerced']}")
    print(f"model calls saved: {report['model_calls_saved']} of {without['needs_reask']}")
    print(f"coercions: {report['coercion_kinds']}")
    for key, label in (("reask", "re-ask"), ("reask_constrained", "constrained re-ask")):
        if key not in report:
            continue
        reasked = report[key]
        print(
            f"{label} of the {reasked['failures']} failures (<= {reasked['max_attempts']} "
            f"attempts): {reasked['reasked_ok']} fixed, {reasked['still_failed']} still failed; "
            f"{reasked['model_calls']} calls, {reasked['prompt_tokens']} prompt + "
            f"{reasked['completion_tokens']} completion tokens, {reasked['seconds']:.0f} s"
        )


if __name__ == "__main__":
    main()
