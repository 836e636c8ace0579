"""A run's request records read once, in a stream, into the arrays the report's plots need.

Streaming on purpose: a simulated run can hold a million records, and each record's chunk
times can hold hundreds of values, so neither the records nor every inter-token gap is kept.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.report.downsample import FloatArray, GapSampler
from slokit.results import RequestRecord

#: Chunk times gathered before their gaps are computed in one vectorised step.
_CHUNK_BATCH = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordColumns:
    """Per-request values as arrays (NaN where a request has none), plus pooled gaps.

    ``itl_s`` holds every inter-token gap of every successful request when ``itl_exact``,
    otherwise a seeded uniform sample of the ``itl_seen`` gaps.
    """

    ok: npt.NDArray[np.bool_]
    sent_s: FloatArray
    ttft_s: FloatArray
    tpot_s: FloatArray
    e2e_s: FloatArray
    itl_s: FloatArray
    itl_seen: int
    itl_exact: bool
    errors: dict[str, int]

    @property
    def count(self) -> int:
        return int(self.ok.size)

    def successful(self, metric: str) -> tuple[FloatArray, FloatArray]:
        """``(send time, value)`` of the successful requests that have a value of ``metric``."""
        values = {"ttft": self.ttft_s, "tpot": self.tpot_s, "e2e": self.e2e_s}[metric]
        keep = self.ok & ~np.isnan(values)
        return self.sent_s[keep], values[keep]


def read_columns(
    records: Iterable[RequestRecord], *, itl_limit: int, rng: np.random.Generator
) -> RecordColumns:
    """Columns of ``records``; at most about ``2 * itl_limit`` gaps are kept (see GapSampler)."""
    ok: list[bool] = []
    sent_s, ttft_s, tpot_s, e2e_s = array("d"), array("d"), array("d"), array("d")
    errors: Counter[str] = Counter()
    gaps = GapSampler(limit=itl_limit, rng=rng)
    chunk_times_s, chunk_counts = array("d"), array("q")
    for record in records:
        ok.append(record.ok)
        sent_s.append(record.sent_s)
        ttft_s.append(_or_nan(record.ttft_s))
        tpot_s.append(_or_nan(record.tpot_s))
        e2e_s.append(record.e2e_s)
        if record.error is not None:
            errors[record.error] += 1
        elif len(record.chunk_times_s) > 1:
            chunk_times_s.extend(record.chunk_times_s)
            chunk_counts.append(len(record.chunk_times_s))
            if len(chunk_times_s) >= _CHUNK_BATCH:
                gaps.add(_gaps(chunk_times_s, chunk_counts))
                chunk_times_s, chunk_counts = array("d"), array("q")
    if chunk_counts:
        gaps.add(_gaps(chunk_times_s, chunk_counts))
    return RecordColumns(
        ok=np.array(ok, dtype=np.bool_),
        sent_s=np.frombuffer(sent_s, dtype=np.float64),
        ttft_s=np.frombuffer(ttft_s, dtype=np.float64),
        tpot_s=np.frombuffer(tpot_s, dtype=np.float64),
        e2e_s=np.frombuffer(e2e_s, dtype=np.float64),
        itl_s=gaps.values(),
        itl_seen=gaps.seen,
        itl_exact=gaps.exact,
        errors=dict(errors.most_common()),
    )


def _gaps(chunk_times_s: array[float], chunk_counts: array[int]) -> FloatArray:
    """Gaps between consecutive chunks of each request in a batch of concatenated chunk times.

    One ``diff`` over the whole batch, minus the differences that straddle two requests: those
    sit just before each request's first chunk.
    """
    times_s = np.frombuffer(chunk_times_s, dtype=np.float64)
    differences = np.diff(times_s)
    firsts = np.cumsum(np.frombuffer(chunk_counts, dtype=np.int64))[:-1]
    return np.delete(differences, firsts - 1)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value
