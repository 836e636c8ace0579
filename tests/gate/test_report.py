import math

import numpy as np

from slokit.gate import (
    GateConfig,
    RunSamples,
    compare,
    parse_metrics,
    render_markdown,
    result_to_json,
)


def samples(factor: float, *, n: int = 500, failed: int = 0, seed: int = 0) -> RunSamples:
    values = np.random.default_rng(seed).lognormal(0.0, 0.2, n) * factor
    return RunSamples(
        ttft_s=values / 10,
        tpot_s=values / 100,
        itl_s=values / 100,
        e2e_s=values,
        failed=failed,
        total=n + failed,
    )


def test_markdown_names_the_regression_and_explains_the_rule() -> None:
    metrics = parse_metrics(["ttft_s.p50", "e2e_s.p99", "error_rate"])
    result = compare(
        samples(1.0),
        samples(1.5, failed=30, seed=1),
        metrics=metrics,
        config=GateConfig(resamples=2_000),
    )
    text = render_markdown(result, baseline="base/results.json", candidate="cand/results.json")
    lines = text.splitlines()
    assert lines[0] == "### slokit gate: regression in ttft_s.p50, e2e_s.p99, error_rate"
    assert "| metric | baseline | candidate | change [99.33% CI] | verdict |" in lines
    (ttft,) = [line for line in lines if line.startswith("| ttft_s.p50 |")]
    assert "ms (n=500)" in ttft
    assert ttft.endswith("| **regression** |")
    (errors,) = [line for line in lines if line.startswith("| error_rate |")]
    assert "| 0.00% (0/500) | 5.66% (30/530) | +5.66 pp [" in errors
    assert "99.33% (Bonferroni: the 1% false-alarm budget split over 3 metrics)" in text
    assert "at most 1%" in text
    assert "Notes:" in text
    assert "- e2e_s.p99: " in text


def test_markdown_of_a_pass_names_improvements() -> None:
    result = compare(
        samples(1.0),
        samples(0.5),
        metrics=parse_metrics(["e2e_s.p50"]),
        config=GateConfig(resamples=2_000),
    )
    text = render_markdown(result, baseline="a", candidate="b")
    assert text.startswith("### slokit gate: pass, improved e2e_s.p50\n")
    assert "| 990 ms (n=500) | 495 ms (n=500) | x0.500 [" in text
    assert "two-sided at 98%, so two runs of the same system fail" in text
    assert "Notes:" not in text


def test_json_has_every_metric_and_no_infinities() -> None:
    metrics = parse_metrics(["e2e_s.p99", "e2e_s.mean"])
    result = compare(
        samples(1.0, n=20),
        samples(1.0, n=20, seed=1),
        metrics=metrics,
        config=GateConfig(resamples=2_000),
    )
    data = result_to_json(result, baseline="a", candidate="b")
    assert data["regressed"] is False
    assert data["config"]["alpha"] == 0.01
    p99, mean = data["metrics"]
    assert p99["verdict"] == "not decided"
    assert p99["high"] is None
    assert p99["notes"]
    text = render_markdown(result, baseline="a", candidate="b")
    assert "(no interval) | not decided |" in text
    assert "20 samples in a run, a decision needs at least 100" in text
    assert mean["verdict"] == "no significant change"
    assert all(math.isfinite(mean[key]) for key in ("baseline", "change", "low", "high"))
