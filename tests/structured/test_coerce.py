"""Schema coercion: each conversion, recorded, and nothing touched that already fits."""

from __future__ import annotations

from typing import Any

import pytest

from slokit.structured import CoercionKind, coerce

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "height_m": {"type": "number"},
        "member": {"type": "boolean"},
        "level": {"enum": ["low", "in_progress", "HIGH"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": "string", "default": "none"},
        "nickname": {"type": ["string", "null"]},
    },
    "required": ["name", "age", "nickname"],
    "additionalProperties": False,
}


def kinds(value: Any, schema: Any) -> tuple[Any, list[tuple[str, CoercionKind]]]:
    result, coercions = coerce(value, schema)
    return result, [(coercion.path, coercion.kind) for coercion in coercions]


def test_a_fitting_value_is_untouched() -> None:
    value = {"name": "a", "age": 3, "nickname": None, "note": "x"}
    assert coerce(value, PERSON) == (value, ())


@pytest.mark.parametrize(
    ("value", "schema", "expected", "kind"),
    [
        ("30", {"type": "integer"}, 30, CoercionKind.STRING_TO_INTEGER),
        (" 1,234 ", {"type": "integer"}, 1234, CoercionKind.STRING_TO_INTEGER),
        ("3.0", {"type": "integer"}, 3, CoercionKind.STRING_TO_INTEGER),
        ("$59.99", {"type": "number"}, 59.99, CoercionKind.STRING_TO_NUMBER),
        ("-1e3", {"type": "number"}, -1000.0, CoercionKind.STRING_TO_NUMBER),
        ("Yes", {"type": "boolean"}, True, CoercionKind.STRING_TO_BOOLEAN),
        ("false", {"type": "boolean"}, False, CoercionKind.STRING_TO_BOOLEAN),
        (1, {"type": "boolean"}, True, CoercionKind.NUMBER_TO_BOOLEAN),
        ("None", {"type": "null"}, None, CoercionKind.STRING_TO_NULL),
        (42, {"type": "string"}, "42", CoercionKind.SCALAR_TO_STRING),
        (True, {"type": "string"}, "true", CoercionKind.SCALAR_TO_STRING),
        ('{"a": 1}', {"type": "object"}, {"a": 1}, CoercionKind.STRING_TO_JSON),
        ("[1, 2]", {"type": "array"}, [1, 2], CoercionKind.STRING_TO_JSON),
        ("x", {"type": "array", "items": {"type": "string"}}, ["x"], CoercionKind.WRAP_IN_LIST),
        ([5], {"type": "integer"}, 5, CoercionKind.UNWRAP_SINGLE),
        (" In  Progress", {"enum": ["low", "in_progress"]}, "in_progress", CoercionKind.ENUM_MATCH),
        ("high", {"enum": ["low", "HIGH"]}, "HIGH", CoercionKind.ENUM_MATCH),
        ("2", {"enum": [1, 2, 3]}, 2, CoercionKind.ENUM_MATCH),
        (["low"], {"enum": ["low", "high"]}, "low", CoercionKind.UNWRAP_SINGLE),
        ("B", {"const": "b"}, "b", CoercionKind.ENUM_MATCH),
    ],
)
def test_each_conversion(value: Any, schema: Any, expected: Any, kind: CoercionKind) -> None:
    result, coercions = coerce(value, schema)
    assert result == expected
    assert type(result) is type(expected)
    assert [coercion.kind for coercion in coercions] == [kind]
    assert coercions[0].before == value
    assert coercions[0].path == "$"


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        ("thirty", {"type": "integer"}),
        (4.0, {"type": "integer"}),
        ("3.5", {"type": "integer"}),
        ("nan", {"type": "number"}),
        ("inf", {"type": "number"}),
        ("1e999", {"type": "number"}),
        ("maybe", {"type": "boolean"}),
        (2, {"type": "boolean"}),
        ({"a": 1}, {"type": "string"}),
        ("medium", {"enum": ["low", "high"]}),
        (True, {"enum": [1]}),
        (None, {"type": "array"}),
        ("not json", {"type": "object"}),
    ],
)
def test_no_conversion_that_would_lose_meaning(value: Any, schema: Any) -> None:
    assert coerce(value, schema) == (value, ())


def test_object_coercions_are_recorded_with_paths() -> None:
    value = {
        "Name": "Ann",
        "age": "30",
        "member": "yes",
        "level": "In Progress",
        "tags": "x",
        "extra": 1,
    }
    result, recorded = kinds(value, PERSON)
    assert result == {
        "name": "Ann",
        "age": 30,
        "member": True,
        "level": "in_progress",
        "tags": ["x"],
        "note": "none",
        "nickname": None,
    }
    assert recorded == [
        ("$.Name", CoercionKind.KEY_RENAMED),
        ("$.age", CoercionKind.STRING_TO_INTEGER),
        ("$.member", CoercionKind.STRING_TO_BOOLEAN),
        ("$.level", CoercionKind.ENUM_MATCH),
        ("$.tags", CoercionKind.WRAP_IN_LIST),
        ("$.extra", CoercionKind.EXTRA_KEY_DROPPED),
        ("$.note", CoercionKind.DEFAULT_FILLED),
        ("$.nickname", CoercionKind.DEFAULT_FILLED),
    ]


def test_the_input_is_not_mutated() -> None:
    value = {"age": "3", "tags": ["a"]}
    coerce(value, PERSON)
    assert value == {"age": "3", "tags": ["a"]}


def test_a_wrapping_object_is_unwrapped() -> None:
    result, recorded = kinds({"person": {"name": "a", "age": 3, "nickname": "b"}}, PERSON)
    assert result == {"name": "a", "age": 3, "nickname": "b", "note": "none"}
    assert recorded[0] == ("$.person", CoercionKind.UNWRAP_OBJECT)


def test_extra_keys_are_kept_unless_forbidden() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert coerce({"a": "1", "b": "2"}, schema)[0] == {"a": 1, "b": "2"}
    typed = {**schema, "additionalProperties": {"type": "integer"}}
    assert coerce({"a": "1", "b": "2"}, typed)[0] == {"a": 1, "b": 2}
    patterned = {**schema, "additionalProperties": False, "patternProperties": {"^x_": {}}}
    assert coerce({"x_1": 1, "y": 2}, patterned)[0] == {"x_1": 1}


def test_nested_arrays_and_refs() -> None:
    schema = {
        "$defs": {"item": {"type": "object", "properties": {"qty": {"type": "number"}}}},
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
    }
    result, recorded = kinds({"items": [{"qty": "2"}, {"qty": 3}]}, schema)
    assert result == {"items": [{"qty": 2}, {"qty": 3}]}
    assert recorded == [("$.items[0].qty", CoercionKind.STRING_TO_NUMBER)]


def test_prefix_items_coerce_by_position() -> None:
    schema = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]}
    assert coerce(["1", "no", "z"], schema)[0] == [1, False, "z"]


def test_any_of_takes_the_branch_that_fits_then_the_one_that_converts() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert coerce(None, schema) == (None, ())
    assert coerce("7", schema)[0] == 7
    assert coerce("none", schema)[0] is None
    assert coerce("x", schema) == ("x", ())


def test_all_of_applies_every_part() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}},
            {"type": "object", "properties": {"b": {"type": "boolean"}}},
        ]
    }
    assert coerce({"a": "1", "b": "true"}, schema)[0] == {"a": 1, "b": True}


def test_unresolvable_ref_and_empty_schema_change_nothing() -> None:
    assert coerce("1", {"$ref": "#/$defs/nope"}) == ("1", ())
    assert coerce("1", {"$ref": "http://example.com/x"}) == ("1", ())
    assert coerce("1", {}) == ("1", ())
    assert coerce("1", True) == ("1", ())


def test_a_ref_cycle_ends() -> None:
    schema = {
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        "$ref": "#/$defs/a",
    }
    assert coerce("1", schema) == ("1", ())
