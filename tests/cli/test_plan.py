"""``slokit plan`` through the command's entry point, as a user runs it."""

from __future__ import annotations

import json
import math

import pytest

from slokit.cli import main

FIGURES = (
    "utilization",
    "p_wait",
    "mean_wait_s",
    "wait_p99_s",
    "mean_in_queue",
    "mean_in_system",
    "mean_time_in_system_s",
)


def reject_non_finite(constant: str) -> float:
    raise AssertionError(f"JSON output holds {constant}")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["plan", *argv, "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "one JSON object on one line"
    report = json.loads(out, parse_constant=reject_non_finite)
    assert isinstance(report, dict)
    return code, report


def number(report: dict[str, object], key: str) -> float:
    value = report[key]
    assert isinstance(value, int | float)
    assert not isinstance(value, bool)
    return float(value)


def test_erlang_c_figures_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "--rate", "3", "--service-time", "1", "--replicas", "4")
    assert code == 0
    assert report["stable"] is True
    assert report["model"] == "M/M/c"
    assert report["replicas"] == 4
    for key in FIGURES:
        assert math.isfinite(number(report, key))
        assert number(report, key) >= 0
    assert number(report, "utilization") == pytest.approx(0.75)
    assert number(report, "p_wait") == pytest.approx(0.5094, abs=0.001)
    assert number(report, "mean_wait_s") == pytest.approx(0.5094, abs=0.001)
    assert number(report, "mean_in_system") == pytest.approx(
        3 * number(report, "mean_time_in_system_s")
    )
    assert "slo" not in report


def test_a_coefficient_of_variation_switches_to_allen_cunneen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ("--rate", "3", "--service-time", "1", "--replicas", "4")
    _, exact = run_json(capsys, *base)
    _, same = run_json(capsys, *base, "--service-cv", "1")
    _, calm = run_json(capsys, *base, "--service-cv", "0.5")
    _, bursty = run_json(capsys, *base, "--arrival-cv", "2")
    for report in (same, calm, bursty):
        assert report["model"] == "G/G/c (Allen-Cunneen)"
    assert number(same, "mean_wait_s") == pytest.approx(number(exact, "mean_wait_s"))
    assert (
        number(calm, "mean_wait_s") < number(exact, "mean_wait_s") < number(bursty, "mean_wait_s")
    )
    assert number(bursty, "arrival_cv") == 2.0


def test_slo_without_replicas_finds_the_fewest(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "--rate", "3", "--service-time", "1", "--slo", "wait_p99<=2s")
    assert code == 0
    assert report["min_replicas"] == 5
    assert report["replicas"] == 5
    assert report["slo"] == "wait_p99<=2s"
    assert report["slo_met"] is True
    assert number(report, "wait_p99_s") <= 2.0
    assert number(report, "utilization") == pytest.approx(0.6)


def test_slo_with_replicas_reports_the_verdict_and_the_max_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("--rate", "3", "--service-time", "1", "--slo", "wait_p99<=2s")
    code, short = run_json(capsys, *argv, "--replicas", "4")
    assert code == 1
    assert short["slo_met"] is False
    assert number(short, "max_rate_per_s") == pytest.approx(2.3498, abs=1e-3)
    objectives = short["objectives"]
    assert isinstance(objectives, list)
    assert objectives[0]["met"] is False
    assert objectives[0]["value_s"] == pytest.approx(number(short, "wait_p99_s"))

    code, enough = run_json(capsys, *argv, "--replicas", "6")
    assert code == 0
    assert enough["slo_met"] is True
    assert number(enough, "max_rate_per_s") > 3.0


def test_end_to_end_objectives(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(
        capsys, "--rate", "3", "--service-time", "1", "--slo", "e2e_p99<=8s", "--service-cv", "0.5"
    )
    assert code == 0
    objectives = report["objectives"]
    assert isinstance(objectives, list)
    assert objectives[0]["metric"] == "e2e"
    assert objectives[0]["value_s"] <= 8.0


def test_table_output_is_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["plan", "--rate", "3", "--service-time", "1", "--replicas", "4", "--slo", "wait_p99<=5s"]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    labels = {line.split("  ")[0] for line in lines}
    assert {"model", "P(wait)", "mean wait", "p99 wait", "max rate within SLO"} <= labels
    # Values start in one column, two spaces past the longest label.
    column = max(len(label) for label in labels) + 2
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines)
    assert "0.5094" in out
    assert "SLO wait_p99<=5s" in out
    assert "met (3.931 s)" in out
    assert not out.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (("--rate", "-1", "--replicas", "4"), "--rate"),
        (("--rate", "0", "--replicas", "4"), "--rate"),
        (("--rate", "fast", "--replicas", "4"), "--rate"),
        (("--rate", "nan", "--replicas", "4"), "--rate"),
        (("--rate", "3", "--service-time", "0", "--replicas", "4"), "--service-time"),
        (("--replicas", "0"), "--replicas"),
        (("--replicas", "2.5"), "--replicas"),
        (("--replicas", "4", "--service-cv", "-1"), "--service-cv"),
        (("--replicas", "4", "--arrival-cv", "inf"), "--arrival-cv"),
        (("--slo", "ttft_p99<=1s"), "unknown SLO metric 'ttft'"),
        (("--slo", "wait_p99<=2"), "cannot parse objective"),
        (("--slo", "wait<=2s"), "bounds every request"),
        (("--slo", "e2e_p99<=2s"), "cannot be met"),
        ((), "give --replicas"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], mentions: str
) -> None:
    defaults = ("--rate", "3", "--service-time", "1")
    # Later options win in argparse, so the defaults can be overridden by the case.
    code = main(["plan", *defaults, *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("slokit plan: error: ")
    assert mentions in captured.err


def test_unstable_system_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(
        capsys, "--rate", "5", "--service-time", "1", "--replicas", "4", "--slo", "wait_p99<=2s"
    )
    assert code == 1
    assert report["stable"] is False
    assert number(report, "utilization") == pytest.approx(1.25)
    message = report["message"]
    assert isinstance(message, str)
    assert "unstable" in message
    assert "p_wait" not in report
    assert report["slo_met"] is False
    assert 0 < number(report, "max_rate_per_s") < 4


def test_unstable_system_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--rate", "4", "--service-time", "1", "--replicas", "4"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1
    assert "utilisation 1 >= 1" in captured.err
    assert "no: the queue grows without bound" in captured.out
    assert "inf" not in captured.out
    assert "nan" not in captured.out


def test_help_documents_every_option_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in (
        "--rate",
        "--service-time",
        "--replicas",
        "--slo",
        "--service-cv",
        "--arrival-cv",
        "--max-replicas",
        "--json",
    ):
        assert option in text
    assert "requests per second" in text
    assert "in seconds" in text
    assert "(default: None)" not in text


def test_table_for_a_replica_search_with_variability(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "--rate",
            "300",
            "--service-time",
            "0.01",
            "--slo",
            "wait_p99<=1ms",
            "--service-cv",
            "0.5",
            "--arrival-cv",
            "1.2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("replicas needed")
    assert "(fewest meeting the SLO)" in out
    assert "G/G/c (Allen-Cunneen)" in out
    assert "1.2 / 0.5" in out
    assert " us" in out or " ms" in out


# ------------------------------------------------------------------------ --simulate

SIMULATE = ("--simulate", "--requests", "3000", "--prompt-tokens", "fixed:200")


def test_simulate_reports_the_figures_at_a_replica_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(
        capsys, "--rate", "40", "--replicas", "2", *SIMULATE, "--output-tokens", "fixed:100"
    )
    assert code == 0
    assert report["stable"] is True
    assert str(report["model"]).startswith("simulation")
    for key in FIGURES:
        assert number(report, key) >= 0
    # Little's law on the simulated run.
    assert number(report, "mean_in_system") == pytest.approx(
        number(report, "arrival_rate_per_s") * number(report, "mean_time_in_system_s")
    )


def test_simulate_finds_the_fewest_replicas_for_an_slo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("--rate", "150", *SIMULATE, "--output-tokens", "fixed:100")
    code, report = run_json(capsys, *argv, "--slo", "ttft_p99<=200ms")
    assert code == 0
    needed = report["min_replicas"]
    assert isinstance(needed, int)
    assert needed >= 2
    assert report["slo_met"] is True
    code, fewer = run_json(capsys, *argv, "--slo", "ttft_p99<=200ms", "--replicas", str(needed - 1))
    assert code == 1
    assert fewer["slo_met"] is False


def test_simulate_needs_no_service_time_but_plain_plan_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--rate", "3", "--replicas", "2"]) == 2
    assert "--service-time" in capsys.readouterr().err
