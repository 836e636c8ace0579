"""The pipeline: the cheapest step that yields a valid value decides the action."""

from __future__ import annotations

from typing import Any

import pytest

from slokit.errors import ConfigError
from slokit.structured import Action, CoercionKind, ParserConfig, StructuredParser

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.fixture
def parser() -> StructuredParser:
    return StructuredParser(PERSON)


def test_strict_valid_json_is_valid(parser: StructuredParser) -> None:
    result = parser.parse(' {"name": "Ann", "age": 3}\n')
    assert (result.ok, result.action, result.value) == (
        True,
        Action.VALID,
        {"name": "Ann", "age": 3},
    )
    assert result.coercions == ()
    assert result.errors == ()


@pytest.mark.parametrize(
    "text",
    [
        'Sure!\n```json\n{"name": "Ann", "age": 3}\n```\nAnything else?',
        'Here it is: {"name": "Ann", "age": 3}. Hope it helps.',
        '{"name": "Ann", "age": 3,}',
        "{'name': 'Ann', 'age': 3}",
        '{"name": "Ann", "age": 3',
        '```json\n{"name": "Ann", "age": 3',
    ],
)
def test_extracted_or_repaired(parser: StructuredParser, text: str) -> None:
    result = parser.parse(text)
    assert (result.ok, result.action, result.value) == (
        True,
        Action.REPAIRED,
        {"name": "Ann", "age": 3},
    )


def test_of_several_values_the_one_that_validates_wins(parser: StructuredParser) -> None:
    text = 'For example {"x": 1}. The answer: {"name": "Bo", "age": 4} and {"y": 2}'
    assert parser.parse(text).value == {"name": "Bo", "age": 4}


def test_several_fences_the_valid_one_wins(parser: StructuredParser) -> None:
    text = '```json\n{"name": 1}\n```\nor\n```json\n{"name": "Cy", "age": 5}\n```'
    result = parser.parse(text)
    assert (result.action, result.value) == (Action.REPAIRED, {"name": "Cy", "age": 5})


def test_coerced_records_what_changed(parser: StructuredParser) -> None:
    result = parser.parse('{"Name": "Ann", "age": "3", "city": "Oslo"}')
    assert result.ok
    assert result.action == Action.COERCED
    assert result.value == {"name": "Ann", "age": 3}
    assert [c.kind for c in result.coercions] == [
        CoercionKind.KEY_RENAMED,
        CoercionKind.STRING_TO_INTEGER,
        CoercionKind.EXTRA_KEY_DROPPED,
    ]


def test_repaired_then_coerced_is_coerced(parser: StructuredParser) -> None:
    result = parser.parse("{'name': 'Ann', 'age': '3'")
    assert (result.action, result.value) == (Action.COERCED, {"name": "Ann", "age": 3})


def test_coercion_can_be_turned_off() -> None:
    parser = StructuredParser(PERSON, config=ParserConfig(coerce=False))
    result = parser.parse('{"name": "Ann", "age": "3"}')
    assert (result.ok, result.action) == (False, Action.FAILED)
    assert result.value == {"name": "Ann", "age": "3"}
    assert result.errors == ('at $.age: "3" is not of type "integer"',)


def test_failure_reports_the_violations(parser: StructuredParser) -> None:
    result = parser.parse('{"name": "Ann", "age": "old"}')
    assert not result.ok
    assert result.action == Action.FAILED
    assert result.errors == ('at $.age: "old" is not of type "integer"',)


@pytest.mark.parametrize("text", ["", "   ", "I cannot help with that.", "```\n```"])
def test_no_json_at_all(parser: StructuredParser, text: str) -> None:
    result = parser.parse(text)
    assert (result.ok, result.action, result.value) == (False, Action.FAILED, None)
    assert result.errors == ("the reply holds no JSON value",)


def test_text_over_the_cap_fails_fast_with_the_reason() -> None:
    parser = StructuredParser(PERSON, config=ParserConfig(max_repair_chars=20))
    result = parser.parse('{"name": "' + "x" * 40)
    assert result.action == Action.FAILED
    assert "longer" in result.errors[0]
    # Strict JSON is never capped: only the repairer's work is.
    assert parser.parse('{"name": "' + "x" * 40 + '", "age": 1}').action == Action.VALID


def test_without_schema_any_json_value_is_valid() -> None:
    parser = StructuredParser()
    assert parser.parse("[1, 2]").action == Action.VALID
    assert parser.parse("42").value == 42
    result = parser.parse('Here: {"a": 1} and {"b": 2}')
    assert (result.action, result.value) == (Action.REPAIRED, {"a": 1})


def test_an_array_schema_takes_side_by_side_objects_as_one_list() -> None:
    schema = {"type": "array", "items": {"type": "object"}, "minItems": 2}
    result = StructuredParser(schema).parse('{"a": 1}, {"b": 2}')
    assert (result.ok, result.value) == (True, [{"a": 1}, {"b": 2}])


def test_as_json_is_the_wire_shape(parser: StructuredParser) -> None:
    assert parser.parse('{"name": "Ann", "age": "3"}').as_json() == {
        "ok": True,
        "output": {"name": "Ann", "age": 3},
        "action": "coerced",
        "coercions": [
            {"path": "$.age", "kind": "string_to_integer", "before": "3", "after": 3},
        ],
    }
    failed = parser.parse("nothing").as_json()
    assert failed["errors"] == ["the reply holds no JSON value"]


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_repair_chars"):
        ParserConfig(max_repair_chars=-1)
    with pytest.raises(ConfigError, match="max_errors"):
        ParserConfig(max_errors=0)


def test_an_invalid_schema_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError):
        StructuredParser({"type": 5})
