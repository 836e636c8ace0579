"""``slokit bench`` as a user runs it, against the emulator with known delays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from slokit.cli import main
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process
from slokit.results import load_run

TTFT_S = 0.040
ITL_S = 0.010
TOKENS = 6


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=TTFT_S, itl_s=ITL_S, output_tokens=TOKENS))
    with run_emulator_process(config) as url:
        yield url


def bench(base_url: str, out: Path, *extra: str) -> int:
    return main(["bench", "--base-url", base_url, "--model", "m", "-o", str(out), *extra])


def test_open_loop_run_writes_results_that_match_the_server(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench(
        base_url,
        tmp_path,
        "--rate",
        "40",
        "--requests",
        "40",
        "--seed",
        "3",
        "--slo",
        "ttft<=30ms, e2e_p99<=1s",
    )
    assert code == 0
    run = load_run(tmp_path)
    summary = run.summary
    assert run.results["schema_version"] == 1
    assert run.results["kind"] == "bench"
    assert len(run.records) == summary["requests"]["total"] == 40
    assert summary["requests"]["completed"] == 40
    # Known delays, measured through the real client: medians within a few ms on a busy box.
    assert summary["ttft_s"]["p50"] == pytest.approx(TTFT_S, abs=0.004)
    assert summary["tpot_s"]["p50"] == pytest.approx(ITL_S, abs=0.002)
    assert summary["e2e_s"]["p50"] == pytest.approx(TTFT_S + (TOKENS - 1) * ITL_S, abs=0.006)
    assert all(r.output_tokens == TOKENS and not r.output_tokens_counted for r in run.records)
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert set(summary[key]) >= {"mean", "p50", "p90", "p95", "p99", "p99_9"}
    # ttft<=30ms cannot be met by a 40 ms server: nothing is good, the run still completes.
    assert summary["goodput"] == 0
    assert summary["slo_attainment"] == 0
    assert summary["objectives"][0]["met"] is True
    out = capsys.readouterr()
    assert "goodput" in out.out
    assert "requests" in out.err  # the progress bar


def test_closed_loop_keeps_at_most_n_users_in_flight(base_url: str, tmp_path: Path) -> None:
    assert bench(base_url, tmp_path, "--concurrency", "3", "--requests", "12", "--quiet") == 0
    run = load_run(tmp_path)
    assert len(run.records) == 12
    assert run.summary["generator"]["max_in_flight"] <= 3
    events = sorted([(r.sent_s, 1) for r in run.records] + [(r.end_s, -1) for r in run.records])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= 3


def test_non_streaming_completions_and_json_output(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench(
        base_url,
        tmp_path,
        "--rate",
        "50",
        "--requests",
        "10",
        "--no-stream",
        "--endpoint",
        "completions",
        "--json",
        "--quiet",
    )
    assert code == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["requests"]["completed"] == 10
    assert printed["itl_s"]["count"] == 0  # no chunks without streaming
    assert printed["e2e_s"]["p50"] >= TTFT_S + (TOKENS - 1) * ITL_S - 0.002


def test_sweep_writes_the_curve(base_url: str, tmp_path: Path) -> None:
    code = bench(
        base_url,
        tmp_path,
        "--rate",
        "1",
        "--duration",
        "0.5",
        "--sweep",
        "--quiet",
        "--slo",
        "e2e<=1s",
        "--sweep-start-rate",
        "10",
        "--sweep-max-rate",
        "40",
        "--replicas",
        "2",
    )
    assert code == 0
    sweep = load_run(tmp_path).results["sweep"]
    rates = [point["rate"] for point in sweep["points"]]
    assert rates == [10, 20, 40]
    assert sweep["hit_ceiling"] is True
    assert sweep["max_rate"] == 40
    assert sweep["capacity_per_replica"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "5"], "--duration"),
        (["--rate", "-1", "--requests", "3"], "--rate"),
        (["--rate", "5", "--requests", "3", "--slo", "speed<=1s"], "unknown SLO metric"),
        (["--rate", "5", "--requests", "3", "--prompt-tokens", "gauss:1"], "--prompt-tokens"),
        (["--rate", "5", "--requests", "3", "--sweep"], "--sweep needs --slo"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    base_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert bench(base_url, tmp_path, "--quiet", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_unreachable_server_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench("http://127.0.0.1:9/v1", tmp_path, "--rate", "5", "--requests", "3") == 1
    assert "cannot reach" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
