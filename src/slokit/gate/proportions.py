"""Comparing the failed-request rates of two runs: Fisher's exact test and Newcombe's interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import fisher_exact

from slokit.errors import ConfigError
from slokit.slo.attainment import attainment


@dataclass(frozen=True, slots=True, kw_only=True)
class RateComparison:
    """Failure rates ``p_b`` (baseline) and ``p_c`` (candidate), their difference and tests.

    ``low <= difference <= high`` is the two-sided interval of ``p_c - p_b`` with
    ``tail_probability`` left out on each side. ``p_increase`` and ``p_decrease`` are the
    one-sided p-values of Fisher's exact test for a higher and for a lower candidate rate.
    """

    baseline_rate: float
    candidate_rate: float
    difference: float
    low: float
    high: float
    p_increase: float
    p_decrease: float
    tail_probability: float


def compare_rates(
    *,
    baseline_failed: int,
    baseline_total: int,
    candidate_failed: int,
    candidate_total: int,
    tail_probability: float,
) -> RateComparison:
    """Compare ``candidate_failed / candidate_total`` with ``baseline_failed / baseline_total``.

    The test is Fisher's exact test on the 2x2 table of failed and completed requests,
    conditional on the margins: its p-value is a hypergeometric tail, so its false-alarm rate
    never exceeds the level, however rare failures are (a normal approximation does exceed it
    when failures number a handful). The interval of ``d = p_c - p_b`` is Newcombe's hybrid
    score interval (Statistics in Medicine 17(8), 1998, method 10), built from the Wilson
    intervals ``[l_c, u_c]`` and ``[l_b, u_b]`` of each rate at the same confidence::

        low  = d - sqrt((p_c - l_c)^2 + (u_b - p_b)^2)
        high = d + sqrt((u_c - p_c)^2 + (p_b - l_b)^2)

    It shows the size of the change; decisions use the exact test.
    """
    for name, failed, total in (
        ("baseline", baseline_failed, baseline_total),
        ("candidate", candidate_failed, candidate_total),
    ):
        if total < 1 or not 0 <= failed <= total:
            raise ConfigError(f"{name}: need 0 <= failed ({failed}) <= total ({total}), total >= 1")
    if not 0.0 < tail_probability < 0.5:
        raise ConfigError(f"tail probability must be in (0, 0.5), got {tail_probability!r}")
    confidence = 1.0 - 2.0 * tail_probability
    base = attainment(baseline_failed, baseline_total, confidence=confidence)
    cand = attainment(candidate_failed, candidate_total, confidence=confidence)
    difference = cand.point - base.point
    table = [
        [candidate_failed, candidate_total - candidate_failed],
        [baseline_failed, baseline_total - baseline_failed],
    ]
    return RateComparison(
        baseline_rate=base.point,
        candidate_rate=cand.point,
        difference=difference,
        low=difference - math.hypot(cand.point - cand.low, base.high - base.point),
        high=difference + math.hypot(cand.high - cand.point, base.point - base.low),
        p_increase=float(fisher_exact(table, alternative="greater").pvalue),
        p_decrease=float(fisher_exact(table, alternative="less").pvalue),
        tail_probability=tail_probability,
    )
