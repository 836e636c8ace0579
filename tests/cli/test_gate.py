from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from slokit import cli
from slokit.cli import gate
from slokit.results import (
    REQUESTS_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    RecordWriter,
    RequestRecord,
    write_json_atomic,
)

Slokit = Callable[[list[str]], int]
FAST = ["--resamples", "2000"]


@pytest.fixture
def slokit() -> Slokit:
    """The ``slokit`` entry point."""
    return cli.main


def test_gate_is_a_registered_command() -> None:
    assert gate in cli.commands(["gate"])


def write_run(
    directory: Path, *, seed: int, factor: float = 1.0, failures: int = 0, n: int = 400
) -> Path:
    """A run of ``n`` streamed requests whose latencies are scaled by ``factor``."""
    rng = np.random.default_rng(seed)
    with RecordWriter(directory / REQUESTS_FILE) as writer:
        for i in range(n):
            sent_s = i * 0.05
            ttft_s = 0.1 * rng.lognormal(0.0, 0.2) * factor
            gap_s = 0.01 * rng.lognormal(0.0, 0.1) * factor
            chunks = tuple(sent_s + ttft_s + k * gap_s for k in range(20))
            failed = i < failures
            writer.write(
                RequestRecord(
                    request_id=i,
                    scheduled_s=sent_s,
                    sent_s=sent_s,
                    first_token_s=None if failed else chunks[0],
                    chunk_times_s=() if failed else chunks,
                    end_s=sent_s + 0.01 if failed else chunks[-1],
                    output_tokens=0 if failed else len(chunks),
                    status=500 if failed else 200,
                    error="http_5xx" if failed else None,
                )
            )
    write_json_atomic(
        directory / RESULTS_FILE,
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "bench",
            "requests_file": REQUESTS_FILE,
            "summary": {},
        },
    )
    return directory / RESULTS_FILE


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return write_run(tmp_path / "baseline", seed=1)


def test_identical_runs_pass(
    slokit: Slokit, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert slokit(["gate", str(baseline), str(baseline.parent), *FAST]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### slokit gate: pass\n")
    assert "| e2e_s.p99 |" in out


def test_a_slower_candidate_fails_with_a_table_naming_the_metric(
    slokit: Slokit, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = write_run(tmp_path / "candidate", seed=2, factor=1.4)
    report = tmp_path / "gate.json"
    args = ["gate", str(baseline), str(candidate), "--metric", "e2e_s.p50", "--json", str(report)]
    assert slokit([*args, *FAST]) == 1
    out = capsys.readouterr().out
    assert out.startswith("### slokit gate: regression in e2e_s.p50\n")
    (row,) = [line for line in out.splitlines() if line.startswith("| e2e_s.p50 |")]
    assert row.endswith("| **regression** |")
    assert orjson.loads(report.read_bytes())["regressions"] == ["e2e_s.p50"]


def test_a_faster_candidate_passes_and_says_improved(
    slokit: Slokit, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = write_run(tmp_path / "candidate", seed=2, factor=0.7)
    assert slokit(["gate", str(baseline), str(candidate), *FAST]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### slokit gate: pass, improved ")
    assert "| improved |" in out


def test_more_failed_requests_fail_the_gate(
    slokit: Slokit, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = write_run(tmp_path / "candidate", seed=1, failures=25)
    assert slokit(["gate", str(baseline), str(candidate), "--metric", "error_rate"]) == 1
    assert "| error_rate | 0.00% (0/400) | 6.25% (25/400) |" in capsys.readouterr().out
    tolerant = ["--max-error-increase", "10%"]
    assert slokit(["gate", str(baseline), str(candidate), "--metric", "error_rate", *tolerant]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metric", "e2e_s.p42"], "unknown statistic 'p42'"),
        (["--metric", "latency"], "needs a statistic"),
        (["--max-regression", "5"], "ambiguous; write 5% or 0.05"),
        (["--max-regression", "five"], "is not a number"),
        (["--alpha", "0.7"], "alpha must be in"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    slokit: Slokit,
    baseline: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    assert slokit(["gate", str(baseline), str(baseline), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("slokit gate: error: ")
    assert message in line


def test_missing_or_malformed_runs_exit_2_with_one_line(
    slokit: Slokit, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / RESULTS_FILE
    assert slokit(["gate", str(baseline), str(missing)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot read the candidate run" in line
    assert "nowhere" in line
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert slokit(["gate", str(broken), str(baseline)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot read the baseline run" in line


def test_fractions_parse_as_percentages_or_fractions() -> None:
    assert gate.parse_fraction("5%", option="x") == pytest.approx(0.05)
    assert gate.parse_fraction(" 0.5 pp", option="x") == pytest.approx(0.005)
    assert gate.parse_fraction("0.05", option="x") == 0.05
    assert gate.parse_fraction("0", option="x") == 0.0
