"""``slokit cache calibrate`` and ``evaluate`` end to end, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slokit.cache.scoring import FEATURE_NAMES
from slokit.cli import main

QQP = Path(__file__).parents[3] / "shared" / "data" / "semcache" / "qqp_dev.jsonl"


def write_pairs(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


@pytest.fixture
def halves(tmp_path: Path) -> tuple[Path, Path]:
    """Two disjoint slices of the QQP pairs (the file is split by question already)."""
    if not QQP.exists():
        pytest.skip(f"shared data not found at {QQP}")
    with QQP.open() as file:
        lines = [next(file) for _ in range(6_000)]
    return (
        write_pairs(tmp_path / "calibrate.jsonl", lines[:3_000]),
        write_pairs(tmp_path / "evaluate.jsonl", lines[3_000:]),
    )


def test_calibrate_then_evaluate_keeps_the_bound(
    halves: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration_pairs, evaluation_pairs = halves
    calibration = tmp_path / "calib.json"
    code = main(
        [
            "cache", "calibrate", "--pairs", str(calibration_pairs),
            "--max-false-hit-rate", "0.05", "--embedder", "hashing-256",
            "-o", str(calibration),
        ]
    )  # fmt: skip
    assert code == 0
    assert "false-hit upper bound" in capsys.readouterr().out
    saved = json.loads(calibration.read_text())
    assert saved["embedder"] == "hashing-256"
    assert saved["report"]["false_hit_rate_upper_bound"] <= 0.05

    code = main(
        [
            "cache",
            "evaluate",
            "--pairs",
            str(evaluation_pairs),
            "--calibration",
            str(calibration),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    report = json.loads(out)
    assert set(report) == {
        "n", "positives", "hits", "correct_hits", "false_hits",
        "hit_rate", "precision", "recall", "false_hit_rate",
    }  # fmt: skip
    assert report["hits"] == report["correct_hits"] + report["false_hits"]
    assert report["correct_hits"] <= report["positives"] <= report["n"]
    assert report["false_hit_rate"] == pytest.approx(report["false_hits"] / report["n"])
    assert report["false_hit_rate"] <= 0.05
    assert report["correct_hits"] > 0
    assert code == 0


def test_evaluate_counts_by_the_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Identical texts hit; a chain of duplicates makes a hit correct; the rest are misses."""
    pairs = write_pairs(
        tmp_path / "pairs.jsonl",
        [
            json.dumps({"text_a": a, "text_b": b, "label": label}) + "\n"
            for a, b, label in [
                ("How is light created?", "What causes light?", 1),
                ("What causes light?", "Where does light come from?", 1),
                ("What is dark matter?", "What is dark matter?", 1),
                ("Why is the sky blue?", "What is a black hole?", 0),
            ]
        ],
    )
    calibration = tmp_path / "calib.json"
    body = {
        "version": 1, "max_false_hit_rate": 0.01, "confidence": 0.95, "candidates": 4,
        "threshold": None, "hard_guards": True, "embedder": "hashing-256", "report": {},
        "model": {
            "feature_names": list(FEATURE_NAMES),
            "mean": [0.0] * len(FEATURE_NAMES),
            "scale": [1.0] * len(FEATURE_NAMES),
            "weights": [1.0] * len(FEATURE_NAMES),
            "bias": 0.0,
        },
    }  # fmt: skip
    calibration.write_text(json.dumps(body))
    assert (
        main(
            [
                "cache",
                "evaluate",
                "--pairs",
                str(pairs),
                "--calibration",
                str(calibration),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    # Lookups: 4 distinct text_b; 3 have a correct entry, "Where does light come from?" through
    # the chain to "How is light created?". With no safe threshold only identical texts hit.
    assert (report["n"], report["positives"]) == (4, 3)
    assert (report["hits"], report["correct_hits"], report["false_hits"]) == (2, 2, 0)


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.jsonl"
    args = [
        "cache",
        "calibrate",
        "--pairs",
        str(missing),
        "--max-false-hit-rate",
        "0.01",
        "-o",
        "x",
    ]
    assert main(args) == 2
    assert "--pairs" in capsys.readouterr().err
    args[5] = "1.5"
    assert main(args) == 2
