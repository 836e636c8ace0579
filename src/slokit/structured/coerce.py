"""Schema-aligned coercion: converting a parsed value towards a JSON Schema, recording each step.

Only values that do not already fit their sub-schema are touched, and a conversion is made only
when it loses nothing a reader would miss ("30" -> 30, "Yes" -> true, "High " -> "high").
The caller validates the result; coercion never decides validity itself.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Final

import orjson

from slokit.structured.result import Coercion, CoercionKind, JSONValue
from slokit.structured.schema import (
    SchemaNode,
    declared_types,
    matches_type,
    resolve,
)

_INTEGER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d{1,300})")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d{1,300})?(?:\.\d{1,300})?(?:[eE][-+]?\d{1,4})?")
_CURRENCY: Final = "$€£¥"
_TRUE: Final = frozenset({"true", "yes", "y", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "off", "0"})
_NULL: Final = frozenset({"null", "none", "nil", "n/a", ""})
_SEPARATORS = re.compile(r"[\s_\-]+")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def coerce(value: JSONValue, schema: object) -> tuple[JSONValue, tuple[Coercion, ...]]:
    """``value`` converted towards ``schema``, and the conversions made (empty: unchanged)."""
    walker = _Coercer(schema)
    result = walker.walk(value, schema, "$")
    return result, tuple(walker.coercions)


class _Coercer:
    def __init__(self, root: object) -> None:
        self._root = root
        self.coercions: list[Coercion] = []

    def note(self, path: str, kind: CoercionKind, before: JSONValue, after: JSONValue) -> None:
        self.coercions.append(Coercion(path, kind, before, after))

    def walk(self, value: JSONValue, raw_schema: object, path: str) -> JSONValue:
        node = resolve(raw_schema, self._root)
        if not node:
            return value
        for part in _list(node.get("allOf")):
            value = self.walk(value, part, path)
        branches = _list(node.get("anyOf")) or _list(node.get("oneOf"))
        if branches:
            value = self._branch(value, branches, path)
        if "enum" in node or "const" in node:
            options = _list(node.get("enum")) if "enum" in node else [node.get("const")]
            return self._enum(value, options, path)
        types = declared_types(node)
        if types and not any(matches_type(value, name) for name in types):
            value = self._convert(value, types, path)
        if isinstance(value, dict) and (not types or "object" in types):
            return self._object(value, node, path)
        if isinstance(value, list) and (not types or "array" in types):
            return self._array(value, node, path)
        return value

    def _branch(self, value: JSONValue, branches: list[object], path: str) -> JSONValue:
        for branch in branches:
            if _fits(value, resolve(branch, self._root)):
                return self.walk(value, branch, path)
        for branch in branches:
            trial = _Coercer(self._root)
            converted = trial.walk(value, branch, path)
            if trial.coercions and _fits(converted, resolve(branch, self._root)):
                self.coercions.extend(trial.coercions)
                return converted
        return value

    def _enum(self, value: JSONValue, options: list[object], path: str) -> JSONValue:
        if any(_same(value, option) for option in options):
            return value
        if isinstance(value, list) and len(value) == 1:
            inner = self._enum(value[0], options, f"{path}[0]")
            if any(_same(inner, option) for option in options):
                self.note(path, CoercionKind.UNWRAP_SINGLE, value, inner)
                return inner
            return value
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            wanted = _enum_key(str(value))
            for option in options:
                if isinstance(option, str | int | float) and _enum_key(str(option)) == wanted:
                    self.note(path, CoercionKind.ENUM_MATCH, value, option)
                    return option
        return value

    def _convert(self, value: JSONValue, types: tuple[str, ...], path: str) -> JSONValue:
        for type_name in types:
            converter = _CONVERTERS.get(type_name)
            converted = None if converter is None else converter(value)
            if converted is not None:
                kind, after = converted
                self.note(path, kind, value, after)
                return after
        if isinstance(value, list) and len(value) == 1 and "array" not in types:
            inner = value[0]
            if any(matches_type(inner, name) for name in types):
                self.note(path, CoercionKind.UNWRAP_SINGLE, value, inner)
                return inner
        if "array" in types and value is not None and not isinstance(value, list):
            self.note(path, CoercionKind.WRAP_IN_LIST, value, [value])
            return [value]
        return value

    def _object(self, value: dict[str, JSONValue], node: SchemaNode, path: str) -> JSONValue:
        properties = node.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        value = self._unwrap_object(value, properties, path)
        value = self._rename_keys(value, properties, path)
        additional = node.get("additionalProperties", node.get("unevaluatedProperties", True))
        patterns = node.get("patternProperties")
        patterns = patterns if isinstance(patterns, Mapping) else {}
        result: dict[str, JSONValue] = {}
        for key, item in value.items():
            item_path = f"{path}.{key}"
            if key in properties:
                result[key] = self.walk(item, properties[key], item_path)
            elif any(_search(pattern, key) for pattern in patterns):
                result[key] = item
            elif additional is False:
                self.note(item_path, CoercionKind.EXTRA_KEY_DROPPED, item, None)
            else:
                result[key] = self.walk(item, additional, item_path)
        required = {name for name in _list(node.get("required")) if isinstance(name, str)}
        for key, sub in properties.items():
            if key in result:
                continue
            sub_node = resolve(sub, self._root)
            if "default" in sub_node:
                default = copy.deepcopy(sub_node["default"])
                self.note(f"{path}.{key}", CoercionKind.DEFAULT_FILLED, None, default)
                result[key] = default
            elif key in required and "null" in declared_types(sub_node):
                self.note(f"{path}.{key}", CoercionKind.DEFAULT_FILLED, None, None)
                result[key] = None
        return result

    def _unwrap_object(
        self, value: dict[str, JSONValue], properties: Mapping[str, object], path: str
    ) -> dict[str, JSONValue]:
        # {"person": {"name": ...}} for a schema whose properties are name, ...: models often
        # wrap the answer in an object named after the thing asked for.
        if not properties or len(value) != 1 or any(key in properties for key in value):
            return value
        key, inner = next(iter(value.items()))
        if isinstance(inner, dict) and any(name in properties for name in inner):
            self.note(f"{path}.{key}", CoercionKind.UNWRAP_OBJECT, value, inner)
            return inner
        return value

    def _rename_keys(
        self, value: dict[str, JSONValue], properties: Mapping[str, object], path: str
    ) -> dict[str, JSONValue]:
        missing = {_key_form(name): name for name in properties if name not in value}
        if not missing or all(key in properties for key in value):
            return value
        renamed: dict[str, JSONValue] = {}
        for key, item in value.items():
            target = missing.pop(_key_form(key), None) if key not in properties else None
            if target is not None:
                self.note(f"{path}.{key}", CoercionKind.KEY_RENAMED, key, target)
                renamed[target] = item
            else:
                renamed[key] = item
        return renamed

    def _array(self, value: list[JSONValue], node: SchemaNode, path: str) -> JSONValue:
        prefix = _list(node.get("prefixItems"))
        items = node.get("items")
        result: list[JSONValue] = []
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else items
            result.append(self.walk(item, sub, f"{path}[{index}]") if sub is not None else item)
        return result


Converted = tuple[CoercionKind, JSONValue] | None


def _to_null(value: JSONValue) -> Converted:
    if isinstance(value, str) and value.strip().lower() in _NULL:
        return CoercionKind.STRING_TO_NULL, None
    return None


def _to_boolean(value: JSONValue) -> Converted:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return CoercionKind.STRING_TO_BOOLEAN, word in _TRUE
    elif isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return CoercionKind.NUMBER_TO_BOOLEAN, value == 1
    return None


def _to_integer(value: JSONValue) -> Converted:
    if isinstance(value, str):
        text = _number_text(value)
        if _INTEGER.fullmatch(text):
            return CoercionKind.STRING_TO_INTEGER, int(text.replace(",", ""))
        number = _parse_number(text)
        if number is not None and float(number).is_integer():
            return CoercionKind.STRING_TO_INTEGER, int(number)
    return None


def _to_number(value: JSONValue) -> Converted:
    if isinstance(value, str):
        number = _parse_number(_number_text(value))
        if number is not None:
            return CoercionKind.STRING_TO_NUMBER, number
    return None


def _to_string(value: JSONValue) -> Converted:
    if isinstance(value, bool):
        return CoercionKind.SCALAR_TO_STRING, "true" if value else "false"
    if isinstance(value, int | float):
        return CoercionKind.SCALAR_TO_STRING, orjson.dumps(value).decode()
    return None


def _to_container(value: JSONValue, opener: str, kind: type) -> Converted:
    if isinstance(value, str) and value.strip().startswith(opener):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        if isinstance(parsed, kind):
            return CoercionKind.STRING_TO_JSON, parsed
    return None


def _to_array(value: JSONValue) -> Converted:
    return _to_container(value, "[", list)


def _to_object(value: JSONValue) -> Converted:
    return _to_container(value, "{", dict)


_CONVERTERS = {
    "null": _to_null,
    "boolean": _to_boolean,
    "integer": _to_integer,
    "number": _to_number,
    "string": _to_string,
    "array": _to_array,
    "object": _to_object,
}


def _number_text(text: str) -> str:
    return text.strip().lstrip(_CURRENCY).strip()


def _parse_number(text: str) -> int | float | None:
    if not text or not _NUMBER.fullmatch(text) or not any(c.isdigit() for c in text):
        return None
    plain = text.replace(",", "")
    try:
        if _INTEGER.fullmatch(plain):
            return int(plain)
        number = float(plain)
    except ValueError:
        return None
    return number if number not in (float("inf"), float("-inf")) else None


def _fits(value: JSONValue, node: SchemaNode) -> bool:
    """A shallow test: the value's type and, if listed, its enum membership."""
    if "enum" in node:
        return any(_same(value, option) for option in _list(node.get("enum")))
    if "const" in node:
        return _same(value, node.get("const"))
    types = declared_types(node)
    return not types or any(matches_type(value, name) for name in types)


def _same(value: JSONValue, option: object) -> bool:
    # JSON equality: true is not 1, though Python says True == 1.
    if isinstance(value, bool) or isinstance(option, bool):
        return type(value) is type(option) and value == option
    return value == option


def _enum_key(text: str) -> str:
    return _SEPARATORS.sub(" ", text.strip()).casefold()


def _key_form(key: str) -> str:
    return _NOT_ALPHANUMERIC.sub("", key).casefold()


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
