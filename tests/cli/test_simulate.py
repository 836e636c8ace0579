"""``slokit simulate`` through the command's entry point: run files that report and gate read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slokit.cli import main
from slokit.results import load_run
from slokit.sim import Profile

TRACE = Path("/work/shared/data/traces/splitwise_conv.csv")

FAST = Profile(
    model="fast",
    prefill_per_token_s=1e-5,
    decode_base_s=0.002,
    max_batch_size=8,
    max_batched_tokens=2048,
    kv_capacity_tokens=100_000,
    cold_start_s=5.0,
    price_per_hour=2.0,
)


def simulate(tmp_path: Path, name: str, *argv: str) -> tuple[int, Path]:
    directory = tmp_path / name
    code = main(["simulate", *argv, "-o", str(directory), "--quiet"])
    return code, directory


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "fast.json"
    FAST.save(path)
    return path


def test_writes_bench_run_files_with_cost_and_timeline(
    tmp_path: Path, profile_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, directory = simulate(
        tmp_path,
        "run",
        "--profile",
        str(profile_file),
        "--rate",
        "20",
        "--requests",
        "400",
        "--replicas",
        "2",
        "--slo",
        "ttft_p99<=2s",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "cost" in out
    assert "wrote" in out
    run = load_run(directory)
    assert run.results["kind"] == "simulate"
    assert run.results["summary"]["requests"]["total"] == 400
    assert len(run.records) == 400
    assert {record.replica for record in run.records} == {"r0", "r1"}
    simulation = run.results["simulation"]
    replica_seconds = 2 * run.results["summary"]["duration_s"]
    assert simulation["replica_seconds"] == pytest.approx(replica_seconds, rel=0.05)
    assert simulation["cost"] == pytest.approx(simulation["replica_seconds"] * 2.0 / 3600)
    timeline = run.results["timeline"]
    assert timeline["replicas"][0] == 2
    assert len(timeline["t_s"]) == len(timeline["replicas"])
    assert run.results["config"]["profile"]["model"] == "fast"


def test_report_and_gate_read_its_output(tmp_path: Path, profile_file: Path) -> None:
    common = ("--profile", str(profile_file), "--rate", "40", "--requests", "3000")
    _, base = simulate(tmp_path, "base", *common, "--replicas", "2", "--seed", "1")
    _, same = simulate(tmp_path, "same", *common, "--replicas", "2", "--seed", "2")
    _, worse = simulate(tmp_path, "worse", *common, "--replicas", "1", "--seed", "3")
    assert main(["report", str(base)]) == 0
    assert (base / "report.html").is_file()
    assert main(["gate", str(base), str(same)]) == 0
    assert main(["gate", str(base), str(worse)]) == 1


def test_replays_a_trace_with_an_autoscaler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not TRACE.is_file():
        pytest.skip(f"{TRACE} is not on this machine")
    code, directory = simulate(
        tmp_path,
        "trace",
        "--arrivals",
        f"trace:{TRACE}",
        "--prompt-tokens",
        "replay",
        "--output-tokens",
        "replay",
        "--requests",
        "2000",
        "--autoscaler",
        "ray",
        "--target-ongoing-requests",
        "4",
        "--upscale-delay",
        "10",
        "--json",
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["requests"]["total"] == 2000
    results = load_run(directory).results
    assert results["config"]["autoscaler"] == "ray"
    assert max(results["timeline"]["replicas"]) > 1
    assert results["simulation"]["peak_replicas"] == max(results["timeline"]["replicas"])


@pytest.mark.parametrize("scaler", ["kpa", "slo"])
def test_other_autoscalers_run(tmp_path: Path, profile_file: Path, scaler: str) -> None:
    extra = ["--scale-slo", "wait_p99<=1s"] if scaler == "slo" else ["--target-concurrency", "4"]
    code, directory = simulate(
        tmp_path,
        scaler,
        "--profile",
        str(profile_file),
        "--rate",
        "30",
        "--duration",
        "60",
        "--autoscaler",
        scaler,
        "--scale-interval",
        "2",
        *extra,
    )
    assert code == 0
    assert load_run(directory).results["config"]["autoscaler"] == scaler


def test_gateway_admission_sheds_with_429(tmp_path: Path, profile_file: Path) -> None:
    code, directory = simulate(
        tmp_path,
        "shed",
        "--profile",
        str(profile_file),
        "--rate",
        "400",
        "--requests",
        "2000",
        "--concurrency-limit",
        "4",
        "--service-budget",
        "10",
        "--wait-budget",
        "0.5",
    )
    assert code == 0
    run = load_run(directory)
    shed = [record for record in run.records if record.error == "shed"]
    assert shed
    assert all(record.status == 429 for record in shed)
    assert run.results["summary"]["requests"]["errors"]["shed"] == len(shed)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "5"], "--duration"),
        (["--rate", "5", "--requests", "10", "--profile", "no-such-profile"], "profile"),
        (["--rate", "5", "--requests", "10", "--autoscaler", "slo"], "--scale-slo"),
        (["--arrivals", "closed:users=4", "--requests", "10"], "open-loop"),
        (["--rate", "5", "--requests", "10", "--replicas", "0"], "--replicas"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _ = simulate(tmp_path, "bad", *argv)
    assert code == 2
    assert message in capsys.readouterr().err
