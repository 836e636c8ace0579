"""Baseline vs candidate: a statistical regression check of two runs' per-request samples."""

from slokit.gate.bootstrap import RatioInterval, ratio_interval
from slokit.gate.decision import (
    DEFAULT_CONFIG,
    GateConfig,
    GateResult,
    MetricComparison,
    Verdict,
    compare,
)
from slokit.gate.metrics import (
    DEFAULT_METRICS,
    ERROR_RATE,
    LATENCY_METRICS,
    STATISTICS,
    MetricSpec,
    RunSamples,
    parse_metric,
    parse_metrics,
)
from slokit.gate.proportions import RateComparison, compare_rates
from slokit.gate.report import render_markdown, result_to_json

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_METRICS",
    "ERROR_RATE",
    "LATENCY_METRICS",
    "STATISTICS",
    "GateConfig",
    "GateResult",
    "MetricComparison",
    "MetricSpec",
    "RateComparison",
    "RatioInterval",
    "RunSamples",
    "Verdict",
    "compare",
    "compare_rates",
    "parse_metric",
    "parse_metrics",
    "ratio_interval",
    "render_markdown",
    "result_to_json",
]
