"""Open-loop arrival processes: when requests arrive, as offsets in seconds from the run start.

Every process returns a non-decreasing ``float64`` array of arrival offsets, for a request
``count``, a ``duration_s``, or both (whichever limit is reached first). Synthetic processes are
renewal processes: the ``k``-th arrival is the sum of ``k`` inter-arrival gaps, so the first
arrival comes one gap after the start and a run of ``duration_s`` keeps the arrivals in
``(0, duration_s]`` (``rate * duration_s`` of them on average, exactly that many at a constant
rate). A replayed trace starts at offset 0 with its first replayed row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError
from slokit.workload.seeding import RandomSource, as_generator
from slokit.workload.shapes import format_number
from slokit.workload.traces import Trace

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GapSampler = Callable[[np.random.Generator, int], FloatArray]


class ArrivalProcess(Protocol):
    """A source of arrival offsets."""

    def sample(
        self, rng: RandomSource, *, count: int | None = None, duration_s: float | None = None
    ) -> FloatArray:
        """Arrival offsets (s), non-decreasing, for ``count`` requests and/or ``duration_s``."""
        ...

    @property
    def spec(self) -> str:
        """The text that :func:`slokit.workload.parse_arrivals` reads back into this process."""
        ...


def check_limits(count: int | None, duration_s: float | None) -> None:
    """Raise :class:`ConfigError` unless at least one valid limit is given."""
    if count is None and duration_s is None:
        raise ConfigError("give a request count, a duration_s, or both")
    if count is not None and count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s >= 0):
        raise ConfigError(f"duration_s must be a finite number >= 0, got {duration_s}")


def _check_rate(kind: str, rate_per_s: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ConfigError(f"{kind}: rate must be a finite number > 0, got {rate_per_s}")


def renewal_arrivals(
    draw_gaps: GapSampler,
    rng: RandomSource,
    *,
    rate_per_s: float,
    cv: float,
    count: int | None,
    duration_s: float | None,
) -> FloatArray:
    """Cumulative sums of gaps drawn by ``draw_gaps``, cut at ``count`` and ``duration_s``.

    With only a duration the number of arrivals is unknown in advance, so gaps are drawn in
    chunks sized to cover the expected count plus five standard deviations (about
    ``cv * sqrt(expected)`` for a renewal process); a second chunk is rarely needed.
    """
    check_limits(count, duration_s)
    generator = as_generator(rng)
    if count is not None:
        arrivals = np.cumsum(draw_gaps(generator, count))
        return arrivals if duration_s is None else arrivals[arrivals <= duration_s]
    assert duration_s is not None  # guaranteed by check_limits
    expected = duration_s * rate_per_s
    chunk = int(expected + 5 * max(cv, 1.0) * math.sqrt(expected) + 16)
    parts: list[FloatArray] = []
    reached_s = 0.0
    while reached_s <= duration_s:
        part = reached_s + np.cumsum(draw_gaps(generator, chunk))
        parts.append(part)
        reached_s = float(part[-1])
    arrivals = np.concatenate(parts)
    return arrivals[arrivals <= duration_s]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoissonArrivals:
    """A Poisson process: exponential inter-arrival gaps of mean ``1 / rate_per_s`` (CV 1)."""

    rate_per_s: float

    def __post_init__(self) -> None:
        _check_rate("poisson", self.rate_per_s)

    def sample(
        self, rng: RandomSource, *, count: int | None = None, duration_s: float | None = None
    ) -> FloatArray:
        scale_s = 1.0 / self.rate_per_s
        return renewal_arrivals(
            lambda generator, n: generator.exponential(scale_s, size=n),
            rng, rate_per_s=self.rate_per_s, cv=1.0, count=count, duration_s=duration_s,
        )  # fmt: skip

    @property
    def spec(self) -> str:
        return f"poisson:rate={format_number(self.rate_per_s)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class GammaArrivals:
    """Gamma inter-arrival gaps of mean ``1 / rate_per_s`` and coefficient of variation ``cv``.

    ``cv`` is the burstiness knob: 1 is a Poisson process, above 1 arrivals come in bursts
    separated by lulls, below 1 they are more regular than Poisson. The gamma shape is
    ``k = 1 / cv**2`` and its scale ``cv**2 / rate_per_s``, so the mean gap stays ``1 / rate``.
    """

    rate_per_s: float
    cv: float

    def __post_init__(self) -> None:
        _check_rate("gamma", self.rate_per_s)
        if not (math.isfinite(self.cv) and self.cv > 0):
            raise ConfigError(
                f"gamma: cv must be a finite number > 0, got {self.cv} "
                "(for perfectly regular arrivals use constant:rate=R)"
            )

    def sample(
        self, rng: RandomSource, *, count: int | None = None, duration_s: float | None = None
    ) -> FloatArray:
        shape = 1.0 / self.cv**2
        scale_s = self.cv**2 / self.rate_per_s
        return renewal_arrivals(
            lambda generator, n: generator.gamma(shape, scale_s, size=n),
            rng, rate_per_s=self.rate_per_s, cv=self.cv, count=count, duration_s=duration_s,
        )  # fmt: skip

    @property
    def spec(self) -> str:
        return f"gamma:rate={format_number(self.rate_per_s)},cv={format_number(self.cv)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantArrivals:
    """Exactly ``rate_per_s`` requests a second: the ``k``-th arrives at ``k / rate_per_s``."""

    rate_per_s: float

    def __post_init__(self) -> None:
        _check_rate("constant", self.rate_per_s)

    def sample(
        self, rng: RandomSource, *, count: int | None = None, duration_s: float | None = None
    ) -> FloatArray:
        del rng  # constant arrivals draw nothing
        check_limits(count, duration_s)
        if count is None:
            assert duration_s is not None  # guaranteed by check_limits
            count = math.floor(duration_s * self.rate_per_s) + 1
        arrivals = np.arange(1, count + 1, dtype=np.float64) / self.rate_per_s
        return arrivals if duration_s is None else arrivals[arrivals <= duration_s]

    @property
    def spec(self) -> str:
        return f"constant:rate={format_number(self.rate_per_s)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceArrivals:
    """Replay a trace's arrival times, in file order, scaled in time.

    Time is measured from the trace's first row. Rows before ``start_s`` (trace time) are
    skipped and the replay starts there, so the first replayed row arrives at
    ``(its time - start_s) / speedup``. Give ``speedup`` (2 plays twice as fast) or
    ``rate_per_s`` (the speed-up that makes the trace's mean rate equal it), not both; neither
    replays in real time. ``max_requests`` caps the rows replayed. A replay ends with its trace:
    it may hold fewer requests than a count or duration asks for.
    """

    trace: Trace
    speedup: float | None = None
    rate_per_s: float | None = None
    start_s: float = 0.0
    max_requests: int | None = None

    def __post_init__(self) -> None:
        self.trace.require_arrivals()
        if self.speedup is not None and self.rate_per_s is not None:
            raise ConfigError("trace arrivals: give speedup or rate, not both")
        if self.speedup is not None and not (math.isfinite(self.speedup) and self.speedup > 0):
            raise ConfigError(f"trace arrivals: speedup must be > 0, got {self.speedup}")
        if self.rate_per_s is not None:
            _check_rate("trace arrivals", self.rate_per_s)
            _ = self.trace.mean_rate_per_s  # raises when the trace has no rate to scale
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ConfigError(f"trace arrivals: start must be a time >= 0 s, got {self.start_s}")
        if self.max_requests is not None and self.max_requests < 0:
            raise ConfigError(f"trace arrivals: max must be >= 0, got {self.max_requests}")

    @property
    def effective_speedup(self) -> float:
        """The factor trace time is divided by."""
        if self.rate_per_s is not None:
            return self.rate_per_s / self.trace.mean_rate_per_s
        return 1.0 if self.speedup is None else self.speedup

    def select(
        self, *, count: int | None = None, duration_s: float | None = None
    ) -> tuple[IntArray, FloatArray]:
        """The replayed rows' indices into the trace and their arrival offsets (s)."""
        check_limits(count, duration_s)
        times_s = self.trace.require_arrivals()
        relative_s = times_s - times_s[0]
        first = int(np.searchsorted(relative_s, self.start_s, side="left"))
        last = len(relative_s)
        for cap in (self.max_requests, count):
            if cap is not None:
                last = min(last, first + cap)
        rows = np.arange(first, last, dtype=np.int64)
        offsets_s = (relative_s[first:last] - self.start_s) / self.effective_speedup
        if duration_s is not None:
            keep = int(np.searchsorted(offsets_s, duration_s, side="right"))
            rows, offsets_s = rows[:keep], offsets_s[:keep]
        return rows, offsets_s

    def sample(
        self, rng: RandomSource, *, count: int | None = None, duration_s: float | None = None
    ) -> FloatArray:
        """The replayed arrival offsets; a replay is deterministic and draws nothing."""
        del rng
        return self.select(count=count, duration_s=duration_s)[1]

    @property
    def spec(self) -> str:
        options = []
        if self.speedup is not None:
            options.append(f"speedup={format_number(self.speedup)}")
        if self.rate_per_s is not None:
            options.append(f"rate={format_number(self.rate_per_s)}")
        if self.start_s:
            options.append(f"start={format_number(self.start_s)}")
        if self.max_requests is not None:
            options.append(f"max={self.max_requests}")
        return ",".join([f"trace:{self.trace.source}", *options])
