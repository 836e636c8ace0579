"""``slokit report`` through the command's entry point, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import slokit.cli
from slokit.cli import main
from slokit.cli import report as report_command
from slokit.results import RecordWriter, RequestRecord, write_json_atomic


def test_report_is_a_registered_command() -> None:
    assert report_command in slokit.cli.commands([])


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    with RecordWriter(directory / "requests.jsonl") as writer:
        writer.write_all(
            RequestRecord(
                request_id=i,
                scheduled_s=i * 0.1,
                sent_s=i * 0.1,
                first_token_s=i * 0.1 + 0.05,
                end_s=i * 0.1 + 0.4,
                chunk_times_s=(i * 0.1 + 0.05, i * 0.1 + 0.2, i * 0.1 + 0.4),
                output_tokens=3,
            )
            for i in range(50)
        )
    write_json_atomic(
        directory / "results.json",
        {"schema_version": 1, "kind": "bench", "summary": {"request_throughput": 10.0}},
    )
    return directory


def test_writes_beside_the_results_and_prints_the_path(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir / "results.json")]) == 0
    written = run_dir / "report.html"
    assert capsys.readouterr().out == f"{written}\n"
    assert "10.00 req/s" in written.read_text(encoding="utf-8")


def test_accepts_the_directory_and_an_output(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(run_dir), "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"{target}\n"
    assert target.is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read results file"),
        (b"{oops", "not valid JSON"),
        (orjson.dumps({"summary": {}}), "not a slokit results file"),
        (orjson.dumps({"schema_version": 1}), "no 'summary' object"),
    ],
)
def test_bad_input_is_a_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    assert main(["report", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("slokit report: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_malformed_records_exit_2(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir / "requests.jsonl").write_text("[1, 2]\n{}\n")
    assert main(["report", str(run_dir)]) == 2
    assert "expected a JSON object per line" in capsys.readouterr().err


def test_unwritable_output_exits_2(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = run_dir / "a-file"
    blocker.write_text("")
    assert main(["report", str(run_dir), "-o", str(blocker / "r.html")]) == 2
    assert "cannot write report" in capsys.readouterr().err


def test_a_command_imports_its_own_module_only() -> None:
    assert [module.NAME for module in slokit.cli.commands(["serve", "--port", "1"])] == ["serve"]
    assert [module.NAME for module in slokit.cli.commands(["--version"])] == list(
        slokit.cli.COMMAND_MODULES
    )
