"""What the gate compares: metric names (``e2e_s.p99``, ``error_rate``) and a run's samples.

Latency samples are per request and over successful requests only, as in the run summary:
``ttft_s``, ``tpot_s`` (requests with two or more output tokens) and ``e2e_s``. ``itl_s`` is
each request's *largest* inter-token gap, as judged by per-request SLO objectives: the pooled
gaps of the summary are not independent samples (the gaps of one request move together), and
a bootstrap that treated them as independent would understate the uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError
from slokit.results import RequestRecord, Run
from slokit.results.summary import Columns

FloatArray = npt.NDArray[np.float64]

LATENCY_METRICS: tuple[str, ...] = ("ttft_s", "tpot_s", "itl_s", "e2e_s")
ERROR_RATE = "error_rate"
#: Statistic name and quantile; ``None`` is the mean.
STATISTICS: tuple[tuple[str, float | None], ...] = (
    ("mean", None),
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99_9", 0.999),
)
#: Medians catch broad slowdowns even in small runs; p99s catch tail slowdowns in large ones.
DEFAULT_METRICS: tuple[str, ...] = (
    "ttft_s.p50",
    "ttft_s.p99",
    "tpot_s.p50",
    "tpot_s.p99",
    "e2e_s.p50",
    "e2e_s.p99",
    ERROR_RATE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """A metric to compare: a latency and a statistic of it, or the failed-request rate."""

    metric: str
    statistic: str | None = None

    def __post_init__(self) -> None:
        if self.metric == ERROR_RATE:
            if self.statistic is not None:
                raise ConfigError(f"'{ERROR_RATE}' takes no statistic, got '{self.statistic}'")
        elif self.metric not in LATENCY_METRICS:
            raise ConfigError(
                f"unknown metric '{self.metric}'; use one of {', '.join(LATENCY_METRICS)} "
                f"with a statistic, or {ERROR_RATE}"
            )
        elif self.statistic not in dict(STATISTICS):
            raise ConfigError(
                f"unknown statistic '{self.statistic}' of {self.metric}; "
                f"use one of {', '.join(name for name, _ in STATISTICS)}"
            )

    @property
    def name(self) -> str:
        return self.metric if self.statistic is None else f"{self.metric}.{self.statistic}"

    @property
    def quantile(self) -> float | None:
        """The quantile compared, ``None`` for the mean and the error rate."""
        return None if self.statistic is None else dict(STATISTICS)[self.statistic]

    @property
    def min_samples(self) -> int:
        """Fewest samples per run for a decision: at least one beyond the quantile.

        A quantile ``q`` estimated from ``n < 1 / min(q, 1 - q)`` samples is an extreme order
        statistic, which the bootstrap does not reproduce; the mean needs two samples.
        """
        return _samples_for(self.quantile, beyond=1)

    @property
    def recommended_samples(self) -> int:
        """Samples per run that put fifty of them beyond the quantile (5,000 for a p99).

        ``benchmarks/gate_power.py``: at 5,000 requests per run a 10% rise of the p99 alone (the
        rest of the distribution unchanged) is caught every time; at 1,000, about one time in
        four.
        """
        return _samples_for(self.quantile, beyond=50)


def _samples_for(quantile: float | None, *, beyond: int) -> int:
    if quantile is None:
        return 2 * beyond
    tail = min(quantile, 1.0 - quantile)
    # Rounded before the ceiling so that 50 / 0.01 stays 5,000 and not 5,001.
    return max(2, int(np.ceil(round(beyond / tail, 6))))


def parse_metric(text: str) -> MetricSpec:
    """``'e2e_s.p99'`` -> ``MetricSpec(metric='e2e_s', statistic='p99')``; ``p99.9`` = ``p99_9``."""
    name = text.strip()
    if name == ERROR_RATE:
        return MetricSpec(metric=ERROR_RATE)
    metric, dot, statistic = name.partition(".")
    if not dot:
        raise ConfigError(
            f"metric '{text}' needs a statistic, e.g. '{metric}.p99'; or use {ERROR_RATE}"
        )
    return MetricSpec(metric=metric, statistic=statistic.replace(".", "_"))


def parse_metrics(texts: Sequence[str]) -> tuple[MetricSpec, ...]:
    """Parse comma-separated metric names, keeping the first of any repeated name."""
    specs: dict[str, MetricSpec] = {}
    for text in texts:
        for part in text.split(","):
            if part.strip():
                spec = parse_metric(part)
                specs.setdefault(spec.name, spec)
    if not specs:
        raise ConfigError("no metric to compare; name at least one, e.g. --metric e2e_s.p99")
    return tuple(specs.values())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RunSamples:
    """One run's per-request samples (seconds, successful requests) and its request counts."""

    ttft_s: FloatArray
    tpot_s: FloatArray
    itl_s: FloatArray
    e2e_s: FloatArray
    failed: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.failed <= self.total:
            raise ConfigError(f"need 0 <= failed ({self.failed}) <= total ({self.total})")
        for metric in LATENCY_METRICS:
            values = self.values(metric)
            if values.ndim != 1 or not np.isfinite(values).all():
                raise ConfigError(f"{metric}: samples must be a one-dimensional finite array")
            if values.size and values.min() < 0.0:
                raise ConfigError(
                    f"{metric}: a negative latency ({values.min():.6g} s) in the samples; "
                    "check the run's clock"
                )

    def values(self, metric: str) -> FloatArray:
        """The samples of a latency metric (one of :data:`LATENCY_METRICS`)."""
        if metric not in LATENCY_METRICS:
            raise ConfigError(f"'{metric}' is not a latency metric")
        array: FloatArray = getattr(self, metric)
        return array

    @classmethod
    def of_records(cls, records: Sequence[RequestRecord]) -> RunSamples:
        """Samples of request records: latencies of successful requests, missing ones dropped."""
        columns = Columns.of(records)
        ok = columns.ok

        def present(values: FloatArray) -> FloatArray:
            kept = values[ok]
            return kept[~np.isnan(kept)]

        return cls(
            ttft_s=present(columns.ttft_s),
            tpot_s=present(columns.tpot_s),
            itl_s=present(columns.itl_max_s),
            e2e_s=present(columns.e2e_s),
            failed=int(np.count_nonzero(~ok)),
            total=len(records),
        )

    @classmethod
    def of_run(cls, run: Run) -> RunSamples:
        return cls.of_records(run.records)
