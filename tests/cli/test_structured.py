"""``slokit structured repair`` end to end through ``slokit.cli.main``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from slokit.cli import main

SCHEMA = {
    "type": "object",
    "properties": {"age": {"type": "integer"}, "ok": {"type": "boolean"}},
    "required": ["age"],
    "additionalProperties": False,
}


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    *args: str,
) -> tuple[int, list[dict[str, Any]], str]:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    code = main(["structured", "repair", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def line(text: str, schema: Any = None) -> str:
    record: dict[str, Any] = {"input": text}
    if schema is not None:
        record["schema"] = schema
    return json.dumps(record)


def test_each_action_and_its_coercions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        monkeypatch,
        capsys,
        [
            line('{"age": 3}', SCHEMA),
            line('Sure!\n```json\n{"age": 3,}\n```', SCHEMA),
            line('{"age": "3", "ok": "yes", "extra": 1}', SCHEMA),
            line("[1, 2"),
        ],
    )
    assert code == 0
    assert [(row["ok"], row["action"]) for row in out] == [
        (True, "valid"),
        (True, "repaired"),
        (True, "coerced"),
        (True, "repaired"),
    ]
    assert out[2]["output"] == {"age": 3, "ok": True}
    assert [c["kind"] for c in out[2]["coercions"]] == [
        "string_to_integer",
        "string_to_boolean",
        "extra_key_dropped",
    ]
    assert out[3]["output"] == [1, 2]


def test_a_failed_line_says_why_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, [line('{"age": "old"}', SCHEMA), line("{}")])
    assert code == 1
    assert out[0]["ok"] is False
    assert out[0]["action"] == "failed"
    assert out[0]["output"] == {"age": "old"}
    assert out[0]["errors"] == ['at $.age: "old" is not of type "integer"']
    assert out[1]["ok"] is True


def test_bad_lines_get_an_error_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "not json",
        "[1]",
        json.dumps({"input": 5}),
        json.dumps({"input": "{}", "schema": "object"}),
        json.dumps({"input": "{}", "schema": {"type": "nope"}}),
        "",
        line('{"age": 1}', SCHEMA),
    ]
    code, out, err = run(monkeypatch, capsys, lines)
    assert code == 1
    assert err == ""
    assert len(out) == 6
    assert [row.get("line") for row in out[:5]] == [1, 2, 3, 4, 5]
    assert all(row["ok"] is False and row["action"] == "failed" for row in out[:5])
    assert "not a JSON object" in out[0]["error"]
    assert "expected a JSON object" in out[1]["error"]
    assert "'input' must be a string" in out[2]["error"]
    assert "'schema' must be a JSON object" in out[3]["error"]
    assert "JSON Schema is not valid" in out[4]["error"]
    assert out[5] == {"ok": True, "output": {"age": 1}, "action": "valid", "coercions": []}


def test_schema_file_applies_to_lines_without_their_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    code, out, _ = run(
        monkeypatch,
        capsys,
        [line('{"age": "2"}'), line('{"x": "2"}', {"type": "object"})],
        "--schema",
        str(schema_file),
    )
    assert code == 0
    assert out[0]["action"] == "coerced"
    assert out[1]["action"] == "valid"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{", "is not JSON"),
        ("[]", "must hold a JSON object"),
        ('{"type": 3}', "JSON Schema is not valid"),
    ],
)
def test_a_bad_schema_file_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    message: str,
) -> None:
    schema_file = tmp_path / "schema.json"
    if content is not None:
        schema_file.write_text(content)
    code, out, err = run(monkeypatch, capsys, [line("{}")], "--schema", str(schema_file))
    assert code == 2
    assert out == []
    assert message in err


def test_max_repair_chars(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, [line('{"a": 1')], "--max-repair-chars", "0")
    assert code == 1
    assert "longer" in out[0]["errors"][0]
    code, _, err = run(monkeypatch, capsys, [], "--max-repair-chars", "-3")
    assert code == 2
    assert "--max-repair-chars must be a whole number" in err


def test_huge_integers_are_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, [line("[123456789012345678901234567890,")])
    assert code == 0
    assert out[0]["output"] == [123456789012345678901234567890]
