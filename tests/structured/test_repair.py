"""Strict loading first, json-repair on failure, under a size cap."""

from __future__ import annotations

from slokit.structured.repair import NOTHING, repair_load, strict_load


def test_strict_load_reads_json_and_refuses_the_rest() -> None:
    assert strict_load(' {"a": [1, 2.5, true, null]} ') == {"a": [1, 2.5, True, None]}
    assert strict_load("{'a': 1}") is NOTHING
    assert strict_load("NaN") is NOTHING


def test_repair_fixes_common_breakage() -> None:
    assert repair_load('{"a": 1, "b": [1, 2,]', max_chars=100) == {"a": 1, "b": [1, 2]}
    assert repair_load("{'a': True, b: None}", max_chars=100) == {"a": True, "b": None}


def test_repair_reports_nothing_when_no_json_is_there() -> None:
    assert repair_load("no json here", max_chars=100) is NOTHING


def test_repair_keeps_a_real_empty_string() -> None:
    assert repair_load('""', max_chars=100) == ""


def test_repair_refuses_text_over_the_cap() -> None:
    assert repair_load('{"a": 1', max_chars=6) is NOTHING
    assert repair_load('{"a": 1', max_chars=7) == {"a": 1}


def test_deep_nesting_is_not_an_exception() -> None:
    value = repair_load("[" * 5000, max_chars=10_000)
    assert value is NOTHING or isinstance(value, list)
