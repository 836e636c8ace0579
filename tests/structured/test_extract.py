"""Finding the JSON in model text."""

from __future__ import annotations

from slokit.structured.extract import fenced_blocks, first_opener, repair_targets, spans


def test_fenced_blocks_with_and_without_language_tag() -> None:
    text = 'Here:\n```json\n{"a": 1}\n```\nand\n```\n[2]\n```'
    assert fenced_blocks(text) == ['{"a": 1}\n', "[2]\n"]


def test_unterminated_fence_runs_to_the_end() -> None:
    assert fenced_blocks('```json\n{"a": 1') == ['{"a": 1']


def test_no_fence_no_blocks() -> None:
    assert fenced_blocks('{"a": 1}') == []


def test_spans_cut_prose_on_both_sides() -> None:
    assert spans('Sure! {"a": [1]} Hope this helps.') == ['{"a": [1]}', "[1]"]


def test_spans_put_the_first_opener_first() -> None:
    assert spans('[{"a": 1}]')[0] == '[{"a": 1}]'


def test_first_opener() -> None:
    assert first_opener("abc [") == 4
    assert first_opener("abc") == -1


def test_repair_targets_prefer_fences_and_drop_leading_prose() -> None:
    text = 'I think: {"x": 1\n```json\n{"a": 1,\n```'
    assert repair_targets(text, limit=5) == ['{"a": 1,', '{"x": 1\n```json\n{"a": 1,\n```']


def test_repair_targets_are_limited_and_unique() -> None:
    text = "```\n{}\n```\n```\n{}\n```"
    assert repair_targets(text, limit=1) == ["{}"]
