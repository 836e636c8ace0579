"""What an autoscaler sees and answers: the load snapshot, the protocol, a sliding time window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingSnapshot:
    """The load of one model's replicas at one instant, as its driver measures it.

    ``ongoing_requests``: requests admitted and not finished, in replicas or queued for one.
    ``arrivals``, ``completions`` and ``service_s`` are running totals since the start (the
    requests that arrived, those that finished, and the sum of their service times, from
    being scheduled on a replica to the last token), from which a policy takes rates over its
    own window.
    """

    ready_replicas: int
    starting_replicas: int = 0
    ongoing_requests: int = 0
    arrivals: int = 0
    completions: int = 0
    service_s: float = 0.0

    @property
    def replicas(self) -> int:
        """Replicas ready or starting: the count an autoscaler has already asked for."""
        return self.ready_replicas + self.starting_replicas


class Autoscaler(Protocol):
    """Names the replica count (starting + ready) each time it is asked, every ``interval_s``."""

    @property
    def interval_s(self) -> float: ...

    def desired_replicas(self, snapshot: ScalingSnapshot, now_s: float) -> int: ...


class TimeWindow:
    """The mean of samples taken in the last ``window_s`` seconds (the newest always kept).

    Each sample stands for one instant; samples are taken at a steady interval by the caller,
    so their plain mean is the time average. Amortised O(1) per sample.
    """

    __slots__ = ("_samples", "_sum", "window_s")

    def __init__(self, window_s: float) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ConfigError(f"a time window must be > 0 seconds, got {window_s!r}")
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def record(self, now_s: float, value: float) -> None:
        """Add a sample taken at ``now_s`` and forget those older than the window."""
        self._samples.append((now_s, value))
        self._sum += value
        horizon_s = now_s - self.window_s
        while len(self._samples) > 1 and self._samples[0][0] <= horizon_s:
            self._sum -= self._samples.popleft()[1]

    def mean(self) -> float:
        """Mean of the samples in the window (0 when there is none)."""
        return self._sum / len(self._samples) if self._samples else 0.0

    def oldest(self) -> tuple[float, float] | None:
        """The oldest sample still in the window: ``(time_s, value)``."""
        return self._samples[0] if self._samples else None


def check_bounds(min_replicas: int, max_replicas: int, who: str) -> None:
    """``0 <= min_replicas <= max_replicas``, ``max_replicas >= 1``, as integers."""
    for name, value in (("min_replicas", min_replicas), ("max_replicas", max_replicas)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{who}: {name!r} must be an integer >= 0, got {value!r}")
    if max_replicas < 1 or min_replicas > max_replicas:
        raise ConfigError(
            f"{who}: need 0 <= min_replicas <= max_replicas and max_replicas >= 1, got "
            f"{min_replicas} and {max_replicas}"
        )


def check_positive(value: float, name: str, who: str) -> None:
    """A finite number > 0."""
    if isinstance(value, bool) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{who}: {name!r} must be a number > 0, got {value!r}")


def check_non_negative(value: float, name: str, who: str) -> None:
    """A finite number >= 0."""
    if isinstance(value, bool) or not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{who}: {name!r} must be a number >= 0, got {value!r}")
