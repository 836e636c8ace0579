"""Reading a JSON Schema for coercion: local ``$ref`` resolution and JSON type tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from slokit.structured.result import JSONValue

SchemaNode = Mapping[str, object]

JSON_TYPES: Final = ("null", "boolean", "integer", "number", "string", "array", "object")
_MAX_REF_HOPS = 32
# Exact types: parsed JSON holds no subclasses, and bool must not read as an integer.
_TYPE_NAMES: Final[dict[type, str]] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: JSONValue) -> str:
    """The JSON Schema type name of a parsed JSON value (an integral float counts as number)."""
    return _TYPE_NAMES.get(type(value), "unknown")


def matches_type(value: JSONValue, type_name: str) -> bool:
    """Whether ``value`` is of JSON Schema type ``type_name`` (1.0 is an integer, True is not)."""
    actual = json_type(value)
    if actual == type_name:
        return True
    if type_name == "number":
        return actual == "integer"
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return False


def declared_types(node: SchemaNode) -> tuple[str, ...]:
    """The types ``node`` allows, from ``type`` or else from its keywords; () for any."""
    declared = node.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(name for name in declared if isinstance(name, str))
    if "properties" in node or "required" in node or "additionalProperties" in node:
        return ("object",)
    if "items" in node or "prefixItems" in node:
        return ("array",)
    return ()


def resolve(node: object, root: object) -> SchemaNode:
    """``node`` with local ``$ref`` (``#/$defs/X``, ``#/definitions/X``) followed; {} if none.

    A reference that cannot be followed gives {} (no coercion there); the validator reports
    the schema itself.
    """
    for _ in range(_MAX_REF_HOPS):
        if not isinstance(node, Mapping):
            return {}
        reference = node.get("$ref")
        if not isinstance(reference, str):
            return node
        node = _pointer(root, reference)
    return {}


def _pointer(root: object, reference: str) -> object:
    if not reference.startswith("#"):
        return None
    target = root
    for raw in reference[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, Mapping):
            target = target.get(part)
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target
