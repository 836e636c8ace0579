"""The summary of a run: throughput, goodput, SLO attainment and latency percentiles.

Columnar on purpose: a simulated run can hold a million records, so verdicts are computed on
numpy arrays, with the same rules as :func:`slokit.slo.judge_request` (tested to agree).
Latency distributions are taken over successful requests only, as vLLM's benchmark does;
failed requests count in ``requests.failed`` and are never good.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from slokit.results.record import RequestRecord
from slokit.slo import SLOSpec
from slokit.slo.attainment import attainment
from slokit.slo.goodput import goodput
from slokit.slo.percentiles import summarize
from slokit.slo.verdict import UNDEFINED_FOR_ONE_TOKEN, judge_run

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Columns:
    """A run's records as arrays; absent values are NaN."""

    ok: npt.NDArray[np.bool_]
    sent_s: FloatArray
    end_s: FloatArray
    ttft_s: FloatArray
    tpot_s: FloatArray
    e2e_s: FloatArray
    itl_max_s: FloatArray
    wait_s: FloatArray
    schedule_lag_s: FloatArray
    output_tokens: npt.NDArray[np.int64]
    prompt_tokens: npt.NDArray[np.int64]
    itl_s: FloatArray

    @classmethod
    def of(cls, records: Sequence[RequestRecord]) -> Columns:
        def floats(values: list[float | None]) -> FloatArray:
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

        gaps = [r.itl_s for r in records]
        return cls(
            ok=np.array([r.ok for r in records], dtype=np.bool_),
            sent_s=floats([r.sent_s for r in records]),
            end_s=floats([r.end_s for r in records]),
            ttft_s=floats([r.ttft_s for r in records]),
            tpot_s=floats([r.tpot_s for r in records]),
            e2e_s=floats([r.e2e_s for r in records]),
            itl_max_s=floats([max(g) if g else None for g in gaps]),
            wait_s=floats([r.wait_s for r in records]),
            schedule_lag_s=floats([r.schedule_lag_s for r in records]),
            output_tokens=np.array([r.output_tokens for r in records], dtype=np.int64),
            prompt_tokens=np.array([r.prompt_tokens for r in records], dtype=np.int64),
            # vLLM's ITL: every chunk-to-chunk gap of every successful request, pooled.
            itl_s=np.fromiter(
                (x for r, g in zip(records, gaps, strict=True) if r.ok for x in g),
                dtype=np.float64,
            ),
        )

    def per_request(self, metric: str) -> FloatArray:
        """Each request's value of an SLO metric (``itl``: its largest gap)."""
        return {
            "ttft": self.ttft_s,
            "tpot": self.tpot_s,
            "itl": self.itl_max_s,
            "e2e": self.e2e_s,
            "wait": self.wait_s,
        }[metric]


def good_mask(columns: Columns, slo: SLOSpec | None) -> npt.NDArray[np.bool_]:
    """Which requests are good: succeeded and met every per-request objective."""
    good = columns.ok.copy()
    for objective in () if slo is None else slo.per_request:
        values = columns.per_request(objective.metric)
        missing = np.isnan(values)
        with np.errstate(invalid="ignore"):
            met = (
                values < objective.threshold_s
                if objective.strict
                else values <= objective.threshold_s
            )
        if objective.metric in UNDEFINED_FOR_ONE_TOKEN:
            met |= missing
        good &= met
    return good


def summarize_run(
    records: Sequence[RequestRecord], *, duration_s: float, slo: SLOSpec | None
) -> dict[str, Any]:
    """The ``summary`` object of results.json for ``records`` measured over ``duration_s``."""
    columns = Columns.of(records)
    good = good_mask(columns, slo)
    ok = columns.ok
    total = len(records)
    completed = int(np.count_nonzero(ok))
    share = attainment(int(np.count_nonzero(good)), total)
    produced = goodput(good, columns.output_tokens, duration_s=duration_s)
    errors = Counter(r.error for r in records if r.error is not None)
    samples = {
        "ttft": columns.ttft_s[ok],
        "tpot": columns.tpot_s[ok],
        "itl": columns.itl_s,
        "e2e": columns.e2e_s[ok],
        "wait": columns.wait_s[ok],
    }
    objectives = () if slo is None else judge_run(slo, samples)
    output_tokens = int(columns.output_tokens[ok].sum())
    return {
        "duration_s": duration_s,
        "requests": {
            "total": total,
            "completed": completed,
            "failed": total - completed,
            "good": produced.good_requests,
            "errors": dict(sorted(errors.items())),
        },
        "request_throughput": completed / duration_s,
        "output_token_throughput": output_tokens / duration_s,
        "total_token_throughput": (output_tokens + int(columns.prompt_tokens[ok].sum()))
        / duration_s,
        "goodput": produced.requests_per_s,
        "goodput_tokens": produced.output_tokens_per_s,
        "slo_attainment": share.point,
        "slo_attainment_interval": [share.low, share.high],
        "output_tokens_counted": sum(r.output_tokens_counted for r in records),
        "ttft_s": summarize(samples["ttft"]).as_dict(),
        "tpot_s": summarize(samples["tpot"]).as_dict(),
        "itl_s": summarize(samples["itl"]).as_dict(),
        "e2e_s": summarize(samples["e2e"]).as_dict(),
        "wait_s": summarize(samples["wait"]).as_dict(),
        "schedule_lag_s": summarize(columns.schedule_lag_s).as_dict(),
        "objectives": [
            {
                "objective": o.objective,
                "observed_s": o.observed_s,
                "count": o.count,
                "met": o.met,
            }
            for o in objectives
        ],
    }
