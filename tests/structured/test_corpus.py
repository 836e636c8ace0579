"""Replays SmolLM2-135M's recorded JSON replies (fixtures/corpus.jsonl) through the pipeline.

The corpus is made by benchmarks/structured_quality.py --collect; these tests hold the
pipeline to what it must do on real model text, whatever the model wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from slokit.structured import Action, StructuredParser

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS: dict[str, Any] = json.loads((FIXTURES / "schemas.json").read_text())
CORPUS: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURES / "corpus.jsonl").read_text().splitlines() if line
]
PARSERS = {name: StructuredParser(schema) for name, schema in SCHEMAS.items()}


def strictly_valid(text: str, schema: Any) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return bool(jsonschema_rs.validator_for(schema).is_valid(value))


def test_the_corpus_is_varied() -> None:
    assert len(SCHEMAS) >= 12
    assert len(CORPUS) >= 3 * len(SCHEMAS)
    assert {row["schema"] for row in CORPUS} == set(SCHEMAS)


@pytest.mark.parametrize("row", CORPUS, ids=lambda row: row["schema"])
def test_each_reply(row: dict[str, Any]) -> None:
    schema = SCHEMAS[row["schema"]]
    result = PARSERS[row["schema"]].parse(row["output"])
    # "valid" means exactly: strict JSON that validates, untouched.
    assert (result.action == Action.VALID) == strictly_valid(row["output"], schema)
    if result.ok:
        assert jsonschema_rs.validator_for(schema).is_valid(result.value)
        assert (result.action == Action.COERCED) == bool(result.coercions)
    else:
        assert result.action == Action.FAILED
        assert result.errors


def test_the_pipeline_fixes_some_replies_on_the_cpu() -> None:
    actions = Counter(PARSERS[row["schema"]].parse(row["output"]).action for row in CORPUS)
    # The recorded corpus: 7 valid as-is, 2 repaired and 2 coerced (benchmarks figures).
    assert actions[Action.VALID] >= 7
    assert actions[Action.REPAIRED] + actions[Action.COERCED] >= 4
