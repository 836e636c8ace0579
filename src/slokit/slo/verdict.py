"""Judging against an SLO: one request against the per-request objectives, a run against the rest.

Metric values are seconds and are named as in :data:`slokit.slo.spec.REQUEST_METRICS`:

- ``ttft``: time to first token; ``e2e``: end to end; ``wait``: time queued before service;
- ``tpot``: time per output token after the first, ``(e2e - ttft) / (output_tokens - 1)``;
- ``itl``: inter-token latency. A per-request ``itl`` objective judges the request's *largest*
  gap between consecutive tokens, so the caller passes that maximum as the request's ``itl``.
  A run's ``itl`` samples (distribution objectives) are all the gaps of all requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.slo.percentiles import quantile, summarize
from slokit.slo.spec import Objective, SLOSpec

#: Metrics that have no value for a one-token answer: there is no second token to time.
UNDEFINED_FOR_ONE_TOKEN: frozenset[str] = frozenset({"tpot", "itl"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether one request was good, and the text of each per-request objective it violated.

    ``good`` is true only for a request that succeeded and violated nothing. A failed request
    is never good, even when ``violated`` is empty (it may have failed before any token).
    """

    good: bool
    violated: tuple[str, ...]


def judge_request(spec: SLOSpec, values_s: Mapping[str, float | None], *, ok: bool) -> Verdict:
    """Judge one request against the per-request objectives of ``spec``.

    ``values_s`` maps metric names to the request's values in seconds; ``ok`` says whether the
    request succeeded. Distribution objectives (``ttft_p99`` ...) are not looked at here.

    A missing value (absent key, ``None`` or NaN) violates its objective, because a request
    that never produced its first token did not meet a ``ttft`` objective. The exception is
    ``tpot`` and ``itl`` (:data:`UNDEFINED_FOR_ONE_TOKEN`): a one-token answer has neither, and
    a request is not penalised for being short, so their missing values are skipped.
    """
    violated = tuple(
        str(objective)
        for objective in spec.per_request
        if _violates(objective, values_s.get(objective.metric))
    )
    return Verdict(good=ok and not violated, violated=violated)


def _violates(objective: Objective, value_s: float | None) -> bool:
    if value_s is None or math.isnan(value_s):
        return objective.metric not in UNDEFINED_FOR_ONE_TOKEN
    return not objective.met_by(value_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectiveResult:
    """A distribution objective judged over a run.

    ``observed_s`` is the run's statistic (percentile or mean) in seconds, NaN when the run had
    no sample of the metric (then ``met`` is false); ``count`` is the number of samples used.
    """

    objective: str
    observed_s: float
    count: int
    met: bool


def judge_run(spec: SLOSpec, samples_s: Mapping[str, npt.ArrayLike]) -> tuple[ObjectiveResult, ...]:
    """Judge the distribution objectives of ``spec`` over a run's samples, in spec order.

    ``samples_s`` maps each metric to its values in seconds over the run (a sequence or a 1-D
    array). NaN samples are ignored and infinite ones rejected, as in
    :func:`slokit.slo.percentiles.summarize`. Percentiles use the exact linear definition of
    :mod:`slokit.slo.percentiles`; a mean objective uses the arithmetic mean. A metric with no
    sample fails its objective: a run that measured nothing has not shown that it meets
    anything.
    """
    results = []
    for objective in spec.distribution:
        values = np.asarray(samples_s.get(objective.metric, ()), dtype=np.float64)
        # quantile() and summarize() both ignore NaN and reject infinities, so the two kinds
        # of objective see the same samples.
        if objective.quantile is not None:
            observed_s = quantile(values, objective.quantile)
        else:
            observed_s = summarize(values).mean
        results.append(
            ObjectiveResult(
                objective=str(objective),
                observed_s=observed_s,
                count=int(np.count_nonzero(~np.isnan(values))),
                met=objective.met_by(observed_s),
            )
        )
    return tuple(results)
