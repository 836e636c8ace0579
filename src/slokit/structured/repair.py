"""Loading JSON: strict first (orjson, microseconds), the ``json-repair`` library on failure.

The repairer is pure Python and costs about 1-4 microseconds per character on broken input,
and more on adversarial input (see docs/structured.md); its work is bounded by refusing texts
longer than a cap, so that one pathological reply cannot hold a worker for seconds.
"""

from __future__ import annotations

import enum
from typing import Final

import json_repair
import orjson

from slokit.structured.result import JSONValue


class _Nothing(enum.Enum):
    NOTHING = enum.auto()


NOTHING: Final = _Nothing.NOTHING
"""Returned where no JSON value could be read (distinct from a JSON ``null``)."""

Loaded = JSONValue | _Nothing


def strict_load(text: str) -> Loaded:
    """The value if ``text`` is strict JSON (RFC 8259, no NaN), else :data:`NOTHING`."""
    try:
        return orjson.loads(text)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        return NOTHING


def repair_load(text: str, *, max_chars: int) -> Loaded:
    """The value ``json-repair`` reads from ``text``, or :data:`NOTHING`.

    Texts longer than ``max_chars`` are not attempted. The library answers ``""`` when it found
    no JSON at all, which is told apart from a real empty string by the text not starting
    with a quote.
    """
    if len(text) > max_chars:
        return NOTHING
    try:
        # skip_json_loads: the caller has already tried the strict parse.
        value = json_repair.repair_json(text, return_objects=True, skip_json_loads=True)
    except Exception:  # noqa: BLE001
        # Nesting deeper than the parser's recursion raises ValueError or RecursionError, and
        # a defect of the library on some odd input must not take a worker down either: the
        # text is then simply not repairable.
        return NOTHING
    if value == "" and not text.lstrip().startswith(('"', "'")):
        return NOTHING
    return value
