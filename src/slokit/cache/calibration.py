"""Calibration: fit the hit score, then pick the loosest threshold whose false-hit rate is bounded.

The guarantee (Learn then Test, with fixed-sequence testing). Calibration lookups are split by
duplicate group: one part fits the :class:`~slokit.cache.scoring.HitModel`, the other tests
thresholds ``t_1 > t_2 > ...`` (fixed before looking at the test part) in order. At ``t_j`` the
``n`` test lookups give ``x_j`` false hits (served, wrong) and the exact Clopper-Pearson upper
bound ``u_j = BetaInv(1 - alpha; x_j + 1, n - x_j)``. Testing stops at the first ``u_j > eps``;
the last threshold that passed is kept. Because the tests are taken in a fixed order, no
multiplicity correction is needed: with probability at least ``1 - alpha`` over the draw of the
calibration data, the kept threshold's false-hit rate per lookup is at most ``eps`` on traffic
exchangeable with it (same kind of prompts, similar cache size).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import beta

from slokit.cache.scoring import (
    FEATURE_NAMES,
    FloatArray,
    HitModel,
    candidate_features,
    fit_hit_model,
)
from slokit.cache.verify import negation_differs, numbers_differ, same_text
from slokit.errors import ConfigError, DataError

CALIBRATION_VERSION = 1
DEFAULT_CONFIDENCE = 0.95
DEFAULT_CANDIDATES = 4
# A larger test part tightens the bound, so the threshold sits closer to it: in 8-fold
# cross-validation on QQP's calibration half, 0.35 gave no more recall than 0.5 and broke the
# bound on held-out lookups more often (up to 1.14% at 1%).
DEFAULT_FIT_SHARE = 0.5
NEVER = math.inf


def clopper_pearson_upper(failures: int, trials: int, confidence: float) -> float:
    """Exact one-sided upper confidence bound on a binomial rate: ``BetaInv(c; x + 1, n - x)``."""
    if trials < 1:
        return 1.0
    if failures >= trials:
        return 1.0
    return float(beta.ppf(confidence, failures + 1, trials - failures))


@dataclass(frozen=True, slots=True)
class Choice:
    """A candidate accepted as a hit: its position among the candidates and its score."""

    position: int
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """A fitted hit score and the threshold that keeps the false-hit rate under the bound.

    ``threshold`` is ``inf`` when no threshold could be shown safe: then only identical
    prompts (after normalising case, spaces and trailing punctuation) are served.
    """

    max_false_hit_rate: float
    confidence: float
    candidates: int
    threshold: float
    model: HitModel
    hard_guards: bool = True
    embedder: str = ""
    report: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.max_false_hit_rate < 1.0:
            raise ConfigError(
                f"max_false_hit_rate must be in (0, 1), got {self.max_false_hit_rate}"
            )
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")

    def scores(self, query: str, candidates: Sequence[tuple[str, float]]) -> FloatArray:
        """Hit score of each candidate; ``inf`` for the same text, ``-inf`` when guarded out."""
        if not candidates:
            return np.empty(0)
        scores = self.model.score(candidate_features(query, candidates))
        for position, (text, _) in enumerate(candidates):
            if same_text(query, text):
                scores[position] = math.inf
            elif self.hard_guards and (
                numbers_differ(query, text) or negation_differs(query, text)
            ):
                scores[position] = -math.inf
        return scores

    def best(self, query: str, candidates: Sequence[tuple[str, float]]) -> Choice | None:
        """The best-scoring candidate, hit or not; None without candidates."""
        scores = self.scores(query, candidates[: self.candidates])
        if len(scores) == 0:
            return None
        position = int(np.argmax(scores))
        return Choice(position, float(scores[position]))

    def choose(self, query: str, candidates: Sequence[tuple[str, float]]) -> Choice | None:
        """The candidate to serve, most similar first in ``candidates``; None for a miss."""
        choice = self.best(query, candidates)
        if choice is None or choice.score == -math.inf or choice.score < self.threshold:
            return None
        return choice

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["threshold"] = None if math.isinf(self.threshold) else self.threshold
        body["report"] = dict(self.report)
        return {"version": CALIBRATION_VERSION, **body}

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, source: str = "calibration") -> Calibration:
        try:
            if body["version"] != CALIBRATION_VERSION:
                raise DataError(f"{source}: calibration version {body['version']} unsupported")
            model = body["model"]
            threshold = body["threshold"]
            if tuple(model["feature_names"]) != FEATURE_NAMES:
                raise DataError(
                    f"{source}: fitted on other features {model['feature_names']}; "
                    "recalibrate with this version (slokit cache calibrate)"
                )
            return cls(
                max_false_hit_rate=float(body["max_false_hit_rate"]),
                confidence=float(body["confidence"]),
                candidates=int(body["candidates"]),
                threshold=NEVER if threshold is None else float(threshold),
                hard_guards=bool(body["hard_guards"]),
                embedder=str(body.get("embedder", "")),
                report={str(k): float(v) for k, v in body.get("report", {}).items()},
                model=HitModel(
                    feature_names=tuple(model["feature_names"]),
                    mean=tuple(model["mean"]),
                    scale=tuple(model["scale"]),
                    weights=tuple(model["weights"]),
                    bias=float(model["bias"]),
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{source}: not a slokit cache calibration ({error!r})") from error


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledLookup:
    """One calibration lookup: the query, its nearest cached prompts and which are correct.

    ``group`` names the query's duplicate group, so that a group never spans the fit and
    test parts.
    """

    query: str
    candidates: tuple[tuple[str, float], ...]
    correct: tuple[bool, ...]
    group: str


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The kept threshold, and the test-part counts at it."""

    threshold: float
    lookups: int
    hits: int
    false_hits: int
    upper_bound: float


def select_threshold(
    scores: Sequence[float],
    wrong: Sequence[bool],
    grid: Sequence[float],
    *,
    max_false_hit_rate: float,
    confidence: float,
) -> ThresholdChoice:
    """Fixed-sequence testing down ``grid`` (sorted high to low) as in the module docstring.

    ``scores[i]`` is lookup ``i``'s best candidate score (``-inf`` without one) and
    ``wrong[i]`` whether that candidate would be a false hit.
    """
    score_array = np.asarray(scores, dtype=np.float64)
    wrong_array = np.asarray(wrong, dtype=bool)
    lookups = len(score_array)
    kept = ThresholdChoice(NEVER, lookups, 0, 0, 0.0)
    for threshold in sorted(grid, reverse=True):
        served = score_array >= threshold
        false_hits = int(np.count_nonzero(served & wrong_array))
        upper = clopper_pearson_upper(false_hits, lookups, confidence)
        if upper > max_false_hit_rate:
            break
        kept = ThresholdChoice(
            float(threshold), lookups, int(np.count_nonzero(served)), false_hits, upper
        )
    return kept


def calibrate(
    lookups: Sequence[LabelledLookup],
    *,
    max_false_hit_rate: float,
    confidence: float = DEFAULT_CONFIDENCE,
    candidates: int = DEFAULT_CANDIDATES,
    hard_guards: bool = True,
    embedder: str = "",
    fit_share: float = DEFAULT_FIT_SHARE,
    grid_size: int = 400,
) -> Calibration:
    """Fit on part of ``lookups`` (chosen by a hash of ``group``), bound on the rest."""
    if not 0.0 < fit_share < 1.0:
        raise ConfigError(f"fit_share must be in (0, 1), got {fit_share}")
    fit = [x for x in lookups if _in_fit_part(x.group, fit_share)]
    test = [x for x in lookups if not _in_fit_part(x.group, fit_share)]
    rows: list[FloatArray] = []
    labels: list[bool] = []
    for lookup in fit:
        kept = [
            (c, ok)
            for c, ok in zip(lookup.candidates[:candidates], lookup.correct, strict=False)
            if not same_text(lookup.query, c[0])
        ]
        if kept:
            rows.append(candidate_features(lookup.query, [c for c, _ in kept]))
            labels.extend(ok for _, ok in kept)
    if not rows:
        raise DataError("calibration needs lookups with candidates that are not identical texts")
    model = fit_hit_model(np.vstack(rows), np.asarray(labels, dtype=bool))
    unbounded = Calibration(
        max_false_hit_rate=max_false_hit_rate,
        confidence=confidence,
        candidates=candidates,
        threshold=-math.inf,
        model=model,
        hard_guards=hard_guards,
    )
    fit_scores = [_best_score(unbounded, x)[0] for x in fit]
    finite = np.asarray([s for s in fit_scores if math.isfinite(s)])
    grid = np.quantile(finite, np.linspace(0.0, 1.0, grid_size)) if len(finite) else []
    tested = [_best_score(unbounded, x) for x in test]
    choice = select_threshold(
        [s for s, _ in tested],
        [w for _, w in tested],
        list(grid),
        max_false_hit_rate=max_false_hit_rate,
        confidence=confidence,
    )
    return Calibration(
        max_false_hit_rate=max_false_hit_rate,
        confidence=confidence,
        candidates=candidates,
        threshold=choice.threshold,
        model=model,
        hard_guards=hard_guards,
        embedder=embedder,
        report={
            "fit_lookups": float(len(fit)),
            "test_lookups": float(choice.lookups),
            "test_hits": float(choice.hits),
            "test_false_hits": float(choice.false_hits),
            "false_hit_rate_upper_bound": choice.upper_bound,
        },
    )


def _best_score(calibration: Calibration, lookup: LabelledLookup) -> tuple[float, bool]:
    choice = calibration.best(lookup.query, lookup.candidates)
    if choice is None:
        return -math.inf, False
    return choice.score, not lookup.correct[choice.position]


def _in_fit_part(group: str, fit_share: float) -> bool:
    return zlib.crc32(group.encode()) / 2**32 < fit_share
