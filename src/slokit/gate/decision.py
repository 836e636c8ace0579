"""The gate's decision: is the candidate run worse than the baseline, beyond noise and tolerance?

For each metric, with ``m`` metrics compared and family-wise false-alarm rate ``alpha``, the
interval of the change leaves ``a = alpha / m`` out on each side (Bonferroni), and::

    regression  <=>  low > 1  and  ratio > 1 + max_regression          (latency statistics)
                     p_increase <= a  and  p_c - p_b > max_error_increase    (error rate)
    improved    <=>  high < 1                                 (p_decrease <= a for errors)

A regression is flagged only when the change is statistically significant (the interval
excludes "no change") and its estimate exceeds the tolerance. Identical systems therefore
raise a false alarm on any metric with probability at most ``alpha`` whatever the correlation
between metrics, and the tolerance keeps tiny but real changes in large runs from failing CI.
A significant change inside the tolerance is reported as "worse, within tolerance".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np

from slokit.errors import ConfigError
from slokit.gate.bootstrap import FloatArray, RatioInterval, ratio_interval, sample_statistic
from slokit.gate.metrics import DEFAULT_METRICS, ERROR_RATE, MetricSpec, RunSamples, parse_metrics
from slokit.gate.proportions import compare_rates


@dataclass(frozen=True, slots=True, kw_only=True)
class GateConfig:
    """How strict the gate is.

    ``max_regression`` is the tolerated relative worsening of a latency statistic (0.05 = 5%),
    ``max_error_increase`` the tolerated absolute rise of the failed-request rate (0.001 = 0.1
    percentage points), ``alpha`` the family-wise false-alarm probability over all metrics,
    ``resamples`` the bootstrap resamples per run and metric, ``seed`` the bootstrap's seed.
    """

    max_regression: float = 0.05
    max_error_increase: float = 0.0
    alpha: float = 0.01
    resamples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_regression) and self.max_regression >= 0.0):
            raise ConfigError(f"max regression must be >= 0, got {self.max_regression!r}")
        if not 0.0 <= self.max_error_increase < 1.0:
            raise ConfigError(
                f"max error increase must be in [0, 1), got {self.max_error_increase!r}"
            )
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(f"alpha must be in (0, 0.5), got {self.alpha!r}")
        if self.resamples < 100:
            raise ConfigError(f"resamples must be >= 100, got {self.resamples}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")


DEFAULT_CONFIG = GateConfig()


class Verdict(StrEnum):
    """The outcome for one metric."""

    REGRESSION = "regression"
    WORSE_WITHIN_TOLERANCE = "worse, within tolerance"
    NO_CHANGE = "no significant change"
    IMPROVED = "improved"
    NOT_DECIDED = "not decided"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricComparison:
    """One metric of both runs and the verdict.

    ``kind`` is ``"ratio"`` (latency: ``change = candidate / baseline``) or ``"difference"``
    (error rate: ``change = candidate - baseline``); ``low <= change <= high`` is its interval.
    ``*_count`` are the samples used (requests, for the error rate). Values are NaN when
    undefined (no samples). ``notes`` explain a missing decision or a weak one.
    """

    metric: str
    kind: Literal["ratio", "difference"]
    baseline: float
    candidate: float
    baseline_count: int
    candidate_count: int
    change: float
    low: float
    high: float
    verdict: Verdict
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """Every metric's comparison; ``tail_probability`` is ``alpha / m``, left out per side."""

    comparisons: tuple[MetricComparison, ...]
    config: GateConfig
    tail_probability: float

    @property
    def confidence(self) -> float:
        """Two-sided confidence of each metric's interval, ``1 - 2 alpha / m``."""
        return 1.0 - 2.0 * self.tail_probability

    @property
    def regressions(self) -> tuple[str, ...]:
        return tuple(c.metric for c in self.comparisons if c.verdict is Verdict.REGRESSION)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(f"{c.metric}: {note}" for c in self.comparisons for note in c.notes)


def compare(
    baseline: RunSamples,
    candidate: RunSamples,
    *,
    metrics: Sequence[MetricSpec] | None = None,
    config: GateConfig = DEFAULT_CONFIG,
) -> GateResult:
    """Compare ``candidate`` with ``baseline`` on ``metrics`` (default :data:`DEFAULT_METRICS`).

    Each metric draws its bootstrap from streams of its own, seeded by ``config.seed`` and the
    metric's name, so a metric's result does not depend on which others are compared.
    """
    specs = tuple(metrics) if metrics is not None else parse_metrics(DEFAULT_METRICS)
    if not specs:
        raise ConfigError("no metric to compare")
    tail = config.alpha / len(specs)
    comparisons = tuple(
        _compare_rates(spec, baseline, candidate, config=config, tail=tail)
        if spec.metric == ERROR_RATE
        else _compare_latency(
            spec,
            baseline.values(spec.metric),
            candidate.values(spec.metric),
            config=config,
            tail=tail,
        )
        for spec in specs
    )
    return GateResult(comparisons=comparisons, config=config, tail_probability=tail)


def _compare_latency(
    spec: MetricSpec,
    baseline: FloatArray,
    candidate: FloatArray,
    *,
    config: GateConfig,
    tail: float,
) -> MetricComparison:
    baseline_value = sample_statistic(baseline, spec.quantile) if baseline.size else math.nan
    candidate_value = sample_statistic(candidate, spec.quantile) if candidate.size else math.nan
    fewest = min(baseline.size, candidate.size)

    def result(
        verdict: Verdict, change: float, low: float, high: float, notes: Sequence[str]
    ) -> MetricComparison:
        return MetricComparison(
            metric=spec.name,
            kind="ratio",
            baseline=baseline_value,
            candidate=candidate_value,
            baseline_count=baseline.size,
            candidate_count=candidate.size,
            change=change,
            low=low,
            high=high,
            verdict=verdict,
            notes=tuple(notes),
        )

    if fewest < spec.min_samples:
        note = (
            f"{fewest:,} samples in a run, a decision needs at least {spec.min_samples} "
            f"({spec.recommended_samples:,} or more recommended)"
        )
        ratio = candidate_value / baseline_value if fewest and baseline_value > 0 else math.nan
        return result(Verdict.NOT_DECIDED, ratio, 0.0, math.inf, [note])
    if baseline_value <= 0.0 or candidate_value <= 0.0:
        note = "the statistic is 0 in a run, so no ratio can be formed"
        return result(Verdict.NOT_DECIDED, math.nan, 0.0, math.inf, [note])
    baseline_rng, candidate_rng = _streams(config.seed, spec.name, baseline, candidate)
    interval = ratio_interval(
        baseline,
        candidate,
        quantile=spec.quantile,
        tail_probability=tail,
        resamples=config.resamples,
        baseline_rng=baseline_rng,
        candidate_rng=candidate_rng,
    )
    notes: list[str] = []
    if fewest < spec.recommended_samples:
        notes.append(_few_samples_note(spec, fewest))
    if interval.log_low > 0.0:
        verdict = (
            Verdict.REGRESSION
            if interval.log_ratio > math.log1p(config.max_regression)
            else Verdict.WORSE_WITHIN_TOLERANCE
        )
    elif interval.log_high < 0.0:
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.NO_CHANGE
        # Only here can a real regression hide: the interval is too wide to rule it out.
        notes.extend(_resolution_note(interval, fewest, config.max_regression))
    return result(verdict, interval.ratio, interval.low, interval.high, notes)


def _few_samples_note(spec: MetricSpec, samples: int) -> str:
    """Why a statistic of ``samples`` values is shaky, and how many would steady it."""
    if spec.quantile is None:
        shaky = "too few to pin the mean down"
    else:
        beyond = math.floor(samples * min(spec.quantile, 1.0 - spec.quantile))
        side = "above" if spec.quantile > 0.5 else "below"
        shaky = f"only {beyond} lie {side} the {spec.statistic}, too few to pin it down"
    return (
        f"{samples:,} samples in a run: {shaky}; {spec.recommended_samples:,} or more recommended"
    )


def _streams(
    seed: int, metric: str, baseline: FloatArray, candidate: FloatArray
) -> tuple[np.random.Generator, np.random.Generator]:
    """One bootstrap stream per run, assigned by the runs' content rather than their role.

    The run whose sorted values come first lexicographically (a prefix first) takes stream 0,
    the other stream 1. Swapping baseline and candidate then hands each run the same draws as
    before, so the swapped interval is the exact reciprocal; scaling both runs by the same
    factor keeps the order, and with it the draws.
    """
    x, y = np.sort(baseline), np.sort(candidate)
    common = min(x.size, y.size)
    differ = np.flatnonzero(x[:common] != y[:common])
    baseline_first = bool(x[differ[0]] < y[differ[0]]) if differ.size else x.size <= y.size
    key = [seed, zlib.crc32(metric.encode())]
    first, second = (np.random.default_rng([*key, stream]) for stream in (0, 1))
    return (first, second) if baseline_first else (second, first)


def _resolution_note(interval: RatioInterval, samples: int, tolerance: float) -> list[str]:
    """A note when the interval is too wide to catch a regression of twice the tolerance.

    With half-width ``w = (ln high - ln low) / 2`` and ``t = ln(1 + tolerance)``: when ``w <=
    t``, a true change of ``2t`` is caught with high probability. ``w`` shrinks as ``1 /
    sqrt(n)``, so about ``n (w / t)^2`` samples per run bring it down to ``t``.
    """
    if tolerance <= 0.0:
        return []
    target = math.log1p(tolerance)
    half_width = (interval.log_high - interval.log_low) / 2.0
    low, high = interval.low, interval.high
    if half_width <= target:
        return []
    if not math.isfinite(half_width):
        return ["the interval is unbounded: the runs cannot resolve this statistic"]
    needed = _round_up(samples * (half_width / target) ** 2)
    note = (
        f"the interval [{low:.3f}, {high:.3f}] is wider than the {tolerance:.0%} tolerance, so "
        f"a {2 * tolerance:.0%} regression can pass unnoticed; about {needed:,} requests "
        f"per run would narrow it to ±{tolerance:.0%}"
    )
    return [note]


def _round_up(value: float) -> int:
    """``value`` rounded up to two significant digits, so an estimate does not look exact."""
    magnitude = 10 ** max(0, math.floor(math.log10(max(value, 1.0))) - 1)
    return int(math.ceil(value / magnitude) * magnitude)


def _compare_rates(
    spec: MetricSpec,
    baseline: RunSamples,
    candidate: RunSamples,
    *,
    config: GateConfig,
    tail: float,
) -> MetricComparison:
    if min(baseline.total, candidate.total) == 0:
        return MetricComparison(
            metric=spec.name,
            kind="difference",
            baseline=baseline.failed / baseline.total if baseline.total else math.nan,
            candidate=candidate.failed / candidate.total if candidate.total else math.nan,
            baseline_count=baseline.total,
            candidate_count=candidate.total,
            change=math.nan,
            low=-1.0,
            high=1.0,
            verdict=Verdict.NOT_DECIDED,
            notes=("a run has no requests",),
        )
    rates = compare_rates(
        baseline_failed=baseline.failed,
        baseline_total=baseline.total,
        candidate_failed=candidate.failed,
        candidate_total=candidate.total,
        tail_probability=tail,
    )
    if rates.p_increase <= tail:
        verdict = (
            Verdict.REGRESSION
            if rates.difference > config.max_error_increase
            else Verdict.WORSE_WITHIN_TOLERANCE
        )
    else:
        verdict = Verdict.IMPROVED if rates.p_decrease <= tail else Verdict.NO_CHANGE
    return MetricComparison(
        metric=spec.name,
        kind="difference",
        baseline=rates.baseline_rate,
        candidate=rates.candidate_rate,
        baseline_count=baseline.total,
        candidate_count=candidate.total,
        change=rates.difference,
        low=rates.low,
        high=rates.high,
        verdict=verdict,
    )
