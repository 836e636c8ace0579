"""The gate's output: a markdown table for CI logs and pull-request comments, and JSON."""

from __future__ import annotations

import math
from typing import Any

from slokit.gate.decision import GateResult, MetricComparison, Verdict


def render_markdown(result: GateResult, *, baseline: str, candidate: str) -> str:
    """A markdown report: verdict line, one table row per metric, the rule, and the notes."""
    config = result.config
    count = len(result.comparisons)
    if result.regressed:
        headline = f"### slokit gate: regression in {', '.join(result.regressions)}"
    else:
        improved = [c.metric for c in result.comparisons if c.verdict is Verdict.IMPROVED]
        headline = "### slokit gate: pass"
        if improved:
            headline += f", improved {', '.join(improved)}"
    lines = [
        headline,
        "",
        f"Baseline `{baseline}`, candidate `{candidate}`.",
        "",
        f"| metric | baseline | candidate | change [{_percent(result.confidence)} CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    lines.extend(_row(comparison) for comparison in result.comparisons)
    errors = (
        f"a rise of more than {_points(config.max_error_increase)} in the error rate"
        if config.max_error_increase > 0.0
        else "any rise in the error rate"
    )
    split = (
        f" (Bonferroni: the {_percent(config.alpha)} false-alarm budget split over {count} metrics)"
        if count > 1
        else ""
    )
    rule = (
        f"A metric regresses when its interval excludes no change and its estimate is worse "
        f"than the tolerance: {_percent(config.max_regression)} for latency statistics, "
        f"{errors}. Intervals are two-sided at {_percent(result.confidence)}{split}, so two "
        f"runs of the same system fail with probability at most {_percent(config.alpha)}. "
        f"{config.resamples:,} bootstrap resamples, seed {config.seed}."
    )
    lines += ["", rule]
    if result.notes:
        lines += ["", "Notes:", ""]
        lines.extend(f"- {note}" for note in result.notes)
    return "\n".join(lines) + "\n"


def result_to_json(result: GateResult, *, baseline: str, candidate: str) -> dict[str, Any]:
    """The result as a JSON-ready dict; undefined and infinite numbers become ``null``."""
    config = result.config
    return {
        "baseline": baseline,
        "candidate": candidate,
        "regressed": result.regressed,
        "regressions": list(result.regressions),
        "config": {
            "max_regression": config.max_regression,
            "max_error_increase": config.max_error_increase,
            "alpha": config.alpha,
            "resamples": config.resamples,
            "seed": config.seed,
        },
        "confidence": result.confidence,
        "metrics": [
            {
                "metric": c.metric,
                "kind": c.kind,
                "baseline": _finite(c.baseline),
                "candidate": _finite(c.candidate),
                "baseline_count": c.baseline_count,
                "candidate_count": c.candidate_count,
                "change": _finite(c.change),
                "low": _finite(c.low),
                "high": _finite(c.high),
                "verdict": c.verdict.value,
                "notes": list(c.notes),
            }
            for c in result.comparisons
        ],
    }


def _row(c: MetricComparison) -> str:
    verdict = f"**{c.verdict}**" if c.verdict is Verdict.REGRESSION else str(c.verdict)
    if c.kind == "difference":
        base = _rate(c.baseline, c.baseline_count)
        cand = _rate(c.candidate, c.candidate_count)
        change = (
            "n/a"
            if math.isnan(c.change)
            else f"{_signed_points(c.change)} [{_signed_points(c.low)}, {_signed_points(c.high)}]"
        )
    else:
        base = f"{_seconds(c.baseline)} (n={c.baseline_count:,})"
        cand = f"{_seconds(c.candidate)} (n={c.candidate_count:,})"
        if math.isnan(c.change):
            change = "n/a"
        elif c.verdict is Verdict.NOT_DECIDED:
            change = f"x{c.change:.3f} (no interval)"
        else:
            change = f"x{c.change:.3f} [{_number(c.low)}, {_number(c.high)}]"
    return f"| {c.metric} | {base} | {cand} | {change} | {verdict} |"


def _seconds(value_s: float) -> str:
    """Three significant digits in ms below a second, in s above (``'412 ms'``, ``'1.23 s'``)."""
    if math.isnan(value_s):
        return "n/a"
    if abs(value_s) < 1.0:
        return f"{value_s * 1e3:.3g} ms"
    if abs(value_s) < 1000.0:
        return f"{value_s:.3g} s"
    return f"{value_s:,.0f} s"


def _number(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3f}"


def _rate(rate: float, total: int) -> str:
    if math.isnan(rate):
        return "n/a"
    return f"{rate:.2%} ({round(rate * total):,}/{total:,})"


def _percent(fraction: float) -> str:
    """A percentage with as many digits as it needs: 0.01 -> '1%', 0.998 -> '99.8%'."""
    return f"{fraction * 100:.4g}%"


def _points(fraction: float) -> str:
    return f"{fraction * 100:.3g} percentage points"


def _signed_points(fraction: float) -> str:
    return f"{fraction * 100:+.2f} pp"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
