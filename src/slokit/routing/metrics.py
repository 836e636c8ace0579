"""Routing quality with RouteLLM's definitions: the accuracy/strong-share curve, APGR and CPT.

A router gives each query a score; a higher score means "send this one to the strong model".
Sending the top ``k`` of ``n`` queries to the strong model and the rest to the weak one gives
a strong-call share ``c = k / n`` and an accuracy

    acc(c) = (sum of strong_correct over the top k + sum of weak_correct over the rest) / n

Queries with equal scores cannot be told apart, so within a tie group the curve is the
expectation over random orders: a straight line between the group's ends. The performance gap
recovered is ``PGR(c) = (acc(c) - acc_weak) / (acc_strong - acc_weak)``; ``APGR`` is its area
over ``c`` in [0, 1] (trapezoid rule over the exact piecewise-linear curve) and ``CPT(x)`` is
the smallest share at which ``PGR`` first reaches ``x``. A random router scores APGR 0.5 and
CPT(x) = x; the oracle sends exactly the queries only the strong model answers correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from slokit.errors import DataError

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityCurve:
    """Accuracy against strong-call share, piecewise linear between its points."""

    strong_share: Floats
    accuracy: Floats
    weak_accuracy: float
    strong_accuracy: float

    @property
    def gap(self) -> float:
        return self.strong_accuracy - self.weak_accuracy

    @property
    def recovered(self) -> Floats:
        """PGR at each point: the share of the weak-to-strong accuracy gap recovered."""
        return (self.accuracy - self.weak_accuracy) / self.gap


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingQuality:
    """The summary figures of one router on one labelled set."""

    n: int
    apgr: float
    cpt50: float
    cpt80: float
    weak_accuracy: float
    strong_accuracy: float


def quality_curve(
    scores: ArrayLike, weak_correct: ArrayLike, strong_correct: ArrayLike
) -> QualityCurve:
    """The exact accuracy/strong-share curve of ``scores``; ties are averaged over orders."""
    score = np.asarray(scores, dtype=np.float64)
    weak = np.asarray(weak_correct, dtype=np.float64)
    strong = np.asarray(strong_correct, dtype=np.float64)
    n = score.size
    if score.ndim != 1 or weak.shape != score.shape or strong.shape != score.shape:
        raise DataError(
            f"scores, weak_correct and strong_correct must be 1-D and of one length, got "
            f"{score.shape}, {weak.shape} and {strong.shape}"
        )
    if n == 0:
        raise DataError("routing quality needs at least one labelled query")
    if not np.all(np.isfinite(score)):
        raise DataError("router scores must be finite")
    weak_accuracy = float(weak.mean())
    strong_accuracy = float(strong.mean())
    if strong_accuracy == weak_accuracy:
        raise DataError(
            "the weak and strong models are equally accurate on these queries: there is no gap "
            "to recover, so APGR and CPT are undefined"
        )
    order = np.argsort(-score, kind="stable")
    gain = (strong - weak)[order]
    sorted_scores = score[order]
    # Curve points only at the ends of tie groups: the line between them is the tie average.
    ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True)) + 1
    cumulative_gain = np.concatenate(([0.0], np.cumsum(gain)[ends - 1]))
    taken = np.concatenate(([0], ends)).astype(np.float64)
    return QualityCurve(
        strong_share=taken / n,
        accuracy=weak_accuracy + cumulative_gain / n,
        weak_accuracy=weak_accuracy,
        strong_accuracy=strong_accuracy,
    )


def apgr(curve: QualityCurve) -> float:
    """Area under PGR(c) for c in [0, 1], by the trapezoid rule on the curve's own points."""
    return float(np.trapezoid(curve.recovered, curve.strong_share))


def cpt(curve: QualityCurve, recovered: float) -> float:
    """Smallest strong-call share where PGR first reaches ``recovered``, linearly interpolated.

    Always defined for ``recovered`` <= 1, since routing everything to the strong model
    recovers the whole gap.
    """
    if not 0.0 <= recovered <= 1.0:
        raise ValueError(f"recovered must be a share of the gap in [0, 1], got {recovered}")
    pgr = curve.recovered
    shares = curve.strong_share
    # Float noise could leave the last point a hair below 1; it recovers the whole gap.
    pgr[-1] = 1.0
    first = int(np.argmax(pgr >= recovered))
    if first == 0:
        return 0.0
    before, after = pgr[first - 1], pgr[first]
    fraction = (recovered - before) / (after - before)
    return float(shares[first - 1] + fraction * (shares[first] - shares[first - 1]))


def routing_quality(
    scores: ArrayLike, weak_correct: ArrayLike, strong_correct: ArrayLike
) -> RoutingQuality:
    """APGR, CPT(50%) and CPT(80%) of ``scores`` on one labelled set."""
    curve = quality_curve(scores, weak_correct, strong_correct)
    return RoutingQuality(
        n=int(np.asarray(scores).size),
        apgr=apgr(curve),
        cpt50=cpt(curve, 0.5),
        cpt80=cpt(curve, 0.8),
        weak_accuracy=curve.weak_accuracy,
        strong_accuracy=curve.strong_accuracy,
    )


def oracle_scores(weak_correct: ArrayLike, strong_correct: ArrayLike) -> Floats:
    """Scores of the oracle: +1 where only strong is right, -1 where only weak is, else 0."""
    weak = np.asarray(weak_correct, dtype=np.float64)
    strong = np.asarray(strong_correct, dtype=np.float64)
    return strong - weak


def random_scores(n: int) -> Floats:
    """Scores of a router that cannot tell queries apart: all tied, so the curve is the
    expectation over random orders, a straight line with APGR 0.5 and CPT(x) = x."""
    return np.zeros(n)
