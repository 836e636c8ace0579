"""Incremental parsing of a streamed JSON answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.structured import StreamingParser

DOCUMENT = {
    "name": 'Al\u00e9 "quoted" \\ \n',
    "values": [1, -2.5, 3e2, True, False, None, {"k": "v"}, []],
    "nested": {"a": {"b": [{}]}},
}


def feed_all(text: str, size: int) -> tuple[StreamingParser, list[Any]]:
    parser = StreamingParser()
    seen = [parser.feed(text[start : start + size]) for start in range(0, len(text), size)]
    return parser, seen


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_any_chunking_gives_the_document(size: int, ensure_ascii: bool) -> None:
    text = json.dumps(DOCUMENT, ensure_ascii=ensure_ascii, indent=1)
    parser, _ = feed_all(text, size)
    assert parser.done
    assert not parser.broken
    assert parser.value == DOCUMENT
    assert parser.text == text


def test_partial_values_grow_and_leave_out_what_is_unsure() -> None:
    parser = StreamingParser()
    assert parser.feed("Sure! ```json\n") is None
    assert parser.feed('{"name": "Jo') == {"name": "Jo"}
    assert parser.feed('hn", "age": 4') == {"name": "John"}  # 4 may become 42
    assert parser.feed('2, "ok": tr') == {"name": "John", "age": 42}
    assert parser.feed('ue, "tags": ["a", "b') == {
        "name": "John",
        "age": 42,
        "ok": True,
        "tags": ["a", "b"],
    }
    assert parser.feed('"], "ke') == {"name": "John", "age": 42, "ok": True, "tags": ["a", "b"]}
    assert not parser.done
    final = parser.feed('y": null}\n```')
    assert parser.done
    assert final == {"name": "John", "age": 42, "ok": True, "tags": ["a", "b"], "key": None}


def test_an_escape_cut_in_half_is_held_back() -> None:
    parser = StreamingParser()
    assert parser.feed('["a\\') == ["a"]
    assert parser.feed("u00") == ["a"]
    assert parser.feed('e9b"]') == ["a\u00e9b"]


def test_snapshots_are_copies() -> None:
    parser = StreamingParser()
    first = parser.feed('{"a": [1, ')
    first["a"].append("mutated")
    assert parser.feed("2]}") == {"a": [1, 2]}


def test_text_after_the_value_is_ignored() -> None:
    parser = StreamingParser()
    parser.feed('[1] and {"more": 1}')
    assert (parser.done, parser.value) == (True, [1])


@pytest.mark.parametrize("text", ['{"a" 1 x', '{"a": 1]', "[1, @]", '{"a": tru e}', "{1: 2}"])
def test_broken_json_keeps_the_last_good_value(text: str) -> None:
    parser, _ = feed_all(text, 1)
    assert parser.broken
    assert not parser.done


def test_raw_newlines_in_strings_are_accepted() -> None:
    parser, _ = feed_all('{"a": "line\nbreak"}', 4)
    assert parser.value == {"a": "line\nbreak"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=5), json_values, max_size=4)
    | st.lists(json_values, max_size=4),
    cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=50),
)
def test_every_prefix_gives_a_prefix_of_the_value(value: Any, cuts: list[int]) -> None:
    text = json.dumps(value)
    parser = StreamingParser()
    position = 0
    index = 0
    while position < len(text):
        step = cuts[index % len(cuts)]
        index += 1
        partial = parser.feed(text[position : position + step])
        position += step
        assert isinstance(partial, type(value))
        assert len(partial) <= len(value)
    assert parser.done
    assert parser.value == value
