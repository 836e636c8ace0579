"""Checking a value against a JSON Schema, with messages a model can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import jsonschema_rs

from slokit.errors import ConfigError
from slokit.structured.result import JSONValue


class Validator(Protocol):
    """A compiled JSON Schema."""

    def is_valid(self, value: JSONValue) -> bool: ...

    def errors(self, value: JSONValue, *, limit: int) -> tuple[str, ...]:
        """Up to ``limit`` violations, each naming its JSON path; empty when valid."""
        ...


class AcceptAll:
    """The validator of "no schema": any JSON value is acceptable."""

    def is_valid(self, value: JSONValue) -> bool:
        del value
        return True

    def errors(self, value: JSONValue, *, limit: int) -> tuple[str, ...]:
        del value, limit
        return ()


class SchemaValidator:
    """A JSON Schema (Draft 2020-12 unless ``$schema`` names another) compiled once.

    jsonschema-rs (Rust) was the fastest correct validator measured on the same schemas and
    values (benchmarks/structured_speed.py, "validators"): 0.3-0.5 us per small object where
    fastjsonschema takes 2 us, pydantic (which also needs a model class, not a JSON Schema)
    2 us and jsonschema 85-200 us; on a 500-item array 3 us against 116, 68 and 11,800 us. It
    implements Draft 4 to 2020-12 and passes the official test suite; fastjsonschema stops
    at Draft 7, so ``$defs`` and ``prefixItems`` from 2020-12 schemas would go unchecked.
    """

    def __init__(self, schema: Mapping[str, object]) -> None:
        try:
            self._compiled = jsonschema_rs.validator_for(dict(schema))
        except (jsonschema_rs.ValidationError, ValueError, TypeError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ConfigError(f"the JSON Schema is not valid: {first_line}") from None

    def is_valid(self, value: JSONValue) -> bool:
        try:
            return bool(self._compiled.is_valid(value))
        except (ValueError, TypeError, OverflowError):
            # Values JSON cannot carry (NaN from a lenient repair, integers past 64 bits).
            return False

    def errors(self, value: JSONValue, *, limit: int) -> tuple[str, ...]:
        messages: list[str] = []
        try:
            for error in self._compiled.iter_errors(value):
                messages.append(f"at {json_path(error.instance_path)}: {error.message}")
                if len(messages) >= limit:
                    break
        except (ValueError, TypeError, OverflowError) as error:
            messages.append(f"at $: the value cannot be checked: {error}")
        return tuple(messages)


def json_path(parts: object) -> str:
    """``["items", 0, "qty"]`` -> ``$.items[0].qty``."""
    path = "$"
    for part in parts if isinstance(parts, list | tuple) else ():
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
