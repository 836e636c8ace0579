"""Hypothesis: no text makes the parser raise, and none runs past its time cap."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slokit.structured import (
    Action,
    ParserConfig,
    SchemaValidator,
    StreamingParser,
    StructuredParser,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "n": {"type": "integer"},
        "kind": {"enum": ["a", "b"]},
        "items": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}
PARSERS = (StructuredParser(), StructuredParser(SCHEMA))
# The worst case measured at the default 4 KiB cap is ~0.6 s on the 2-core development
# machine (docs/structured.md); fuzzed texts stay far below the cap, so a call that takes
# longer than this has found unbounded work, not noise.
TIME_CAP_S = 2.0

# Characters that steer the repairer: structure, quotes, escapes, fences, literals.
JSONISH = st.text(
    alphabet=st.sampled_from(list("{}[]\":,'\\` \n\ttruefalsnul0123456789.-+eE#/*abc()")),
    max_size=400,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=15,
)


def check(text: str) -> None:
    for parser in PARSERS:
        started = time.perf_counter()
        result = parser.parse(text)
        assert time.perf_counter() - started < TIME_CAP_S
        assert result.ok == (result.action != Action.FAILED)
        if result.ok and parser.schema is not None:
            assert SchemaValidator(parser.schema).is_valid(result.value)
        assert isinstance(result.as_json(), dict)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_json_like_noise_never_raises(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_never_raises(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=200), st.text(max_size=20))
def test_cut_and_wrapped_json_never_raises(value: Any, cut: int, prose: str) -> None:
    text = json.dumps(value)
    check(f"{prose}```json\n{text[: max(1, len(text) - cut)]}")


@settings(max_examples=200, deadline=None)
@given(JSONISH, st.integers(min_value=1, max_value=16))
def test_the_stream_parser_never_raises(text: str, size: int) -> None:
    parser = StreamingParser()
    for start in range(0, len(text), size):
        parser.feed(text[start : start + size])
    assert isinstance(parser.done, bool)


def test_pathological_input_over_the_cap_is_refused_in_microseconds() -> None:
    # Unquoted keys with nested containers make json-repair quadratic: seconds at 16 KB.
    text = ("{a: b, " * 3000)[:16_000]
    parser = StructuredParser(config=ParserConfig())
    started = time.perf_counter()
    result = parser.parse(text)
    assert time.perf_counter() - started < 0.05
    assert result.action == Action.FAILED
    assert "longer" in result.errors[0]
