"""JSON Schema validation and its messages."""

from __future__ import annotations

import pytest

from slokit.errors import ConfigError
from slokit.structured.validate import AcceptAll, SchemaValidator, json_path

SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "integer"}}},
    "required": ["items"],
}


def test_valid_and_invalid_values() -> None:
    validator = SchemaValidator(SCHEMA)
    assert validator.is_valid({"items": [1, 2]})
    assert not validator.is_valid({"items": [1, "2"]})
    assert validator.errors({"items": [1, 2]}, limit=5) == ()


def test_errors_name_the_path_and_are_limited() -> None:
    validator = SchemaValidator(SCHEMA)
    errors = validator.errors({"items": ["a", "b", "c"]}, limit=2)
    assert len(errors) == 2
    assert errors[0].startswith("at $.items[0]: ")
    assert "integer" in errors[0]


def test_a_broken_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="JSON Schema is not valid"):
        SchemaValidator({"type": "no-such-type"})
    with pytest.raises(ConfigError):
        SchemaValidator({"$ref": "#/$defs/Missing"})


def test_values_json_cannot_carry_are_invalid_not_errors() -> None:
    validator = SchemaValidator({"type": "integer"})
    assert not validator.is_valid(float("nan"))
    assert validator.errors(float("nan"), limit=3)


def test_accept_all() -> None:
    assert AcceptAll().is_valid(object())
    assert AcceptAll().errors(None, limit=1) == ()


def test_json_path() -> None:
    assert json_path(["a", 0, "b"]) == "$.a[0].b"
    assert json_path([]) == "$"
