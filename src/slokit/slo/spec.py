"""SLO specifications: a small grammar for latency objectives.

Grammar (whitespace is ignored, objectives are separated by commas)::

    spec       := objective ("," objective)*
    objective  := metric ["_" statistic] op duration
    statistic  := "p" PERCENT | "mean"        PERCENT: 50, 90, 99, 99.9 or 99_9
    op         := "<=" | "<"
    duration   := NUMBER unit                  unit: us | ms | s | m

``ttft<=500ms`` is a *per-request* objective: each request is judged on its own value.
``ttft_p99<=500ms`` is a *distribution* objective: the 99th percentile over a run is judged.
Both may appear in one spec; per-request objectives decide which requests are "good" (goodput),
distribution objectives judge a run as a whole.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from slokit.errors import SLOSpecError

#: Metrics every producer of request records knows (seconds):
#: time to first token, time per output token, inter-token latency, end to end, queue wait.
REQUEST_METRICS: frozenset[str] = frozenset({"ttft", "tpot", "itl", "e2e", "wait"})

_UNIT_TO_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_OBJECTIVE = re.compile(
    r"""^(?P<metric>[a-z][a-z0-9]*?)
        (?:_(?P<stat>mean|p(?P<pct>\d+(?:[._]\d+)?)))?
        (?P<op><=|<)
        (?P<value>\d+(?:\.\d*)?|\.\d+)
        (?P<unit>us|ms|s|m)$""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Objective:
    """One latency objective: ``metric[_statistic] op threshold``.

    ``quantile`` is in (0, 1) for a percentile objective, ``None`` otherwise; ``mean`` is true for
    a mean objective. With neither, the objective is per-request.
    """

    metric: str
    threshold_s: float
    quantile: float | None = None
    mean: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold_s) or self.threshold_s < 0:
            raise SLOSpecError(
                f"objective on '{self.metric}': threshold must be a finite duration >= 0, "
                f"got {self.threshold_s!r}"
            )
        if self.quantile is not None and not 0.0 < self.quantile < 1.0:
            raise SLOSpecError(
                f"objective on '{self.metric}': percentile must be between 0 and 100 exclusive"
            )
        if self.quantile is not None and self.mean:
            raise SLOSpecError(f"objective on '{self.metric}': choose a percentile or the mean")

    @property
    def per_request(self) -> bool:
        """True when each request is judged on its own value."""
        return self.quantile is None and not self.mean

    @property
    def statistic(self) -> str | None:
        """``"p99"``, ``"p99_9"``, ``"mean"`` or ``None`` for a per-request objective."""
        if self.mean:
            return "mean"
        if self.quantile is None:
            return None
        return "p" + format(self.quantile * 100, ".10g").replace(".", "_")

    def met_by(self, value_s: float) -> bool:
        """Whether a value (one request's, or a run's statistic) meets the objective."""
        if math.isnan(value_s):
            return False
        return value_s < self.threshold_s if self.strict else value_s <= self.threshold_s

    def __str__(self) -> str:
        name = self.metric if self.statistic is None else f"{self.metric}_{self.statistic}"
        return f"{name}{'<' if self.strict else '<='}{format_duration(self.threshold_s)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SLOSpec:
    """A set of objectives; see the module docstring for the text form."""

    objectives: tuple[Objective, ...]

    @property
    def per_request(self) -> tuple[Objective, ...]:
        """The objectives that judge each request."""
        return tuple(o for o in self.objectives if o.per_request)

    @property
    def distribution(self) -> tuple[Objective, ...]:
        """The objectives that judge a statistic of a whole run."""
        return tuple(o for o in self.objectives if not o.per_request)

    def __str__(self) -> str:
        return ", ".join(str(o) for o in self.objectives)


def format_duration(seconds: float) -> str:
    """Shortest exact text for a duration in the spec grammar's units."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        value = seconds / scale
        if value >= 1 or unit == "us":
            text = f"{value:.10g}"
            if "e" in text:  # the grammar has no exponent: write 1e+10 as 10000000000
                text = format(Decimal(text), "f")
            return f"{text}{unit}"
    return f"{seconds:.10g}s"  # pragma: no cover - the loop always returns


def parse_slo(text: str, *, metrics: frozenset[str] = REQUEST_METRICS) -> SLOSpec:
    """Parse an SLO spec such as ``"ttft_p99<=500ms, e2e<=5s"``.

    Raises :class:`SLOSpecError` naming the offending objective, the unknown metric and the
    metrics that are known.
    """
    parts = [p for p in (s.strip().replace(" ", "") for s in text.split(",")) if p]
    if not parts:
        raise SLOSpecError("empty SLO: write objectives such as 'ttft_p99<=500ms, e2e<=5s'")
    objectives = []
    seen: set[str] = set()
    for part in parts:
        objective = _parse_objective(part.lower(), metrics)
        key = f"{objective.metric}_{objective.statistic}"
        if key in seen:
            raise SLOSpecError(f"objective '{part}' is given twice; keep one")
        seen.add(key)
        objectives.append(objective)
    return SLOSpec(objectives=tuple(objectives))


def _parse_objective(text: str, metrics: frozenset[str]) -> Objective:
    match = _OBJECTIVE.match(text)
    if match is None:
        raise SLOSpecError(
            f"cannot parse objective '{text}': expected METRIC[_pNN|_mean]<=DURATION "
            "with a unit (us, ms, s, m), e.g. 'ttft_p99<=500ms' or 'e2e<=5s'"
        )
    metric = match["metric"]
    if metric not in metrics:
        known = ", ".join(sorted(metrics))
        raise SLOSpecError(f"unknown SLO metric '{metric}' in '{text}'; known metrics: {known}")
    quantile = None
    if match["pct"] is not None:
        percent = float(match["pct"].replace("_", "."))
        if not 0.0 < percent < 100.0:
            raise SLOSpecError(f"percentile in '{text}' must be between 0 and 100 exclusive")
        quantile = round(percent / 100.0, 12)
    threshold_s = float(match["value"]) * _UNIT_TO_S[match["unit"]]
    return Objective(
        metric=metric,
        threshold_s=threshold_s,
        quantile=quantile,
        mean=match["stat"] == "mean",
        strict=match["op"] == "<",
    )
