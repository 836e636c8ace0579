"""What a structured parse reports: the value, how it was obtained, and every change made."""

from __future__ import annotations

import enum
from dataclasses import dataclass

JSONValue = object
"""A value ``json.loads`` can return (dict, list, str, int, float, bool or None)."""


class Action(enum.StrEnum):
    """How the returned value was obtained, from cheapest to dearest."""

    VALID = "valid"
    """The whole text was strict JSON and matched the schema: nothing was changed."""
    REPAIRED = "repaired"
    """The value was cut out of prose or a code fence, or its syntax was repaired."""
    COERCED = "coerced"
    """Values were converted to the schema's types (see ``coercions``); maybe repaired too."""
    REASKED = "reasked"
    """The CPU could not fix it; a follow-up model call produced a valid value."""
    FAILED = "failed"
    """No valid value: ``errors`` says why."""


class CoercionKind(enum.StrEnum):
    """Each conversion the schema coercion may apply; docs/structured.md lists examples."""

    STRING_TO_NUMBER = "string_to_number"
    STRING_TO_INTEGER = "string_to_integer"
    STRING_TO_BOOLEAN = "string_to_boolean"
    NUMBER_TO_BOOLEAN = "number_to_boolean"
    STRING_TO_NULL = "string_to_null"
    SCALAR_TO_STRING = "scalar_to_string"
    STRING_TO_JSON = "string_to_json"
    ENUM_MATCH = "enum_match"
    WRAP_IN_LIST = "wrap_in_list"
    UNWRAP_SINGLE = "unwrap_single"
    UNWRAP_OBJECT = "unwrap_object"
    KEY_RENAMED = "key_renamed"
    DEFAULT_FILLED = "default_filled"
    EXTRA_KEY_DROPPED = "extra_key_dropped"


@dataclass(frozen=True, slots=True)
class Coercion:
    """One conversion: where (a JSON path such as ``$.items[0].qty``), which, from what to what."""

    path: str
    kind: CoercionKind
    before: JSONValue
    after: JSONValue

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "kind": str(self.kind),
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseResult:
    """The outcome of one parse.

    ``value`` is the validated value when ``ok``; when not, the best value found (or None) so
    that a caller may still show it. ``errors`` holds the schema violations or the reason no
    JSON was found, worded for a model to act on (the re-ask message quotes them).
    """

    ok: bool
    value: JSONValue
    action: Action
    coercions: tuple[Coercion, ...] = ()
    errors: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The CLI's and the gateway's wire shape."""
        report: dict[str, object] = {
            "ok": self.ok,
            "output": self.value,
            "action": str(self.action),
            "coercions": [coercion.as_json() for coercion in self.coercions],
        }
        if self.errors:
            report["errors"] = list(self.errors)
        return report
