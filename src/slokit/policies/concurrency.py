"""The admission concurrency limit: the knee of the upstream's throughput, within a budget.

:class:`ConcurrencyLimit` decides how many requests may be in service at once (Little's law on
measured service times, moved one request at a time towards where throughput stops growing)
and keeps a high quantile of recent service times that waits and deadlines are planned with.
Nothing here sleeps or reads a clock: times come in as ``now_s`` arguments.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from slokit.errors import ConfigError
from slokit.policies.scaling import check_positive


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcurrencyConfig:
    """``latency_budget_s``: the mean service time a request may take (its SLO less queueing).

    ``smoothing``: EWMA weight of each new service time; ``max_step``: the most one shrink
    moves the limit, as a factor; ``initial_limit``, ``min_limit``, ``max_limit``: bounds.
    ``quantile`` and ``window``: the service-time quantile kept over the last ``window``
    completions, for wait predictions and deadlines. ``probe_gain``: a probe that moves the
    limit by a share ``r`` of it is kept only when the throughput moves by at least
    ``probe_gain * r`` (see :class:`ConcurrencyLimit`); ``hold_rounds``: rounds the limit
    stays put after a probe that did not pay. ``adaptive=False`` keeps the limit at
    ``initial_limit`` (service times are still measured, for wait predictions).
    ``per_round=True`` decides once per round of ``limit`` completions, so each decision
    averages a whole round (without it, every completion is a round).
    """

    latency_budget_s: float
    initial_limit: int = 8
    min_limit: int = 1
    max_limit: int = 1024
    smoothing: float = 0.1
    max_step: float = 2.0
    quantile: float = 0.95
    window: int = 64
    probe_gain: float = 0.25
    hold_rounds: int = 4
    adaptive: bool = True
    per_round: bool = False

    def __post_init__(self) -> None:
        who = "concurrency limit"
        check_positive(self.latency_budget_s, "latency_budget_s", who)
        for name in ("initial_limit", "min_limit", "max_limit", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{who}: {name!r} must be an integer >= 1, got {value!r}")
        hold = self.hold_rounds
        if isinstance(hold, bool) or not isinstance(hold, int) or hold < 0:
            raise ConfigError(f"{who}: 'hold_rounds' must be an integer >= 0, got {hold!r}")
        if not self.min_limit <= self.initial_limit <= self.max_limit:
            raise ConfigError(f"{who}: need min_limit <= initial_limit <= max_limit")
        if not 0 < self.smoothing <= 1:
            raise ConfigError(f"{who}: 'smoothing' must be in (0, 1], got {self.smoothing!r}")
        if not (math.isfinite(self.max_step) and self.max_step > 1):
            raise ConfigError(f"{who}: 'max_step' must be a number > 1, got {self.max_step!r}")
        if not 0 < self.quantile <= 1:
            raise ConfigError(f"{who}: 'quantile' must be in (0, 1], got {self.quantile!r}")
        if not 0 <= self.probe_gain <= 1:
            raise ConfigError(f"{who}: 'probe_gain' must be in [0, 1], got {self.probe_gain!r}")


def nearest_rank(samples: Sequence[float], quantile: float) -> float:
    """The nearest-rank ``quantile`` of ``samples``: the ``ceil(q n)``-th smallest of ``n``."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


class ConcurrencyLimit:
    """A per-model limit on requests in service: the knee of the upstream's throughput curve.

    In service, Little's law gives ``X = N / S``: with every one of ``L`` slots taken for a
    round of completions of mean service time ``S``, the upstream delivered ``X = L / S``.
    Beyond the knee of a batching (or one-at-a-time) upstream more concurrency buys no
    throughput, it only stretches every request's service time, so the limit hill-climbs on
    ``X`` one request at a time:

    - over budget (``S > B``): shrink at once, ``L' = max(L / max_step, L B / S)``, by at
      least one;
    - a probe from ``L`` (throughput ``X``) to ``L'`` (throughput ``X'``) is kept when
      ``X' / X - 1 >= probe_gain (L' - L) / L``: growing must raise the throughput, shrinking
      must not lose more than that share; the next probe goes the same way. A probe that
      does not pay is undone, and after ``hold_rounds`` rounds (doubled for each such probe
      in a row, up to 8x) the next probe goes the other way; at the knee both fail and the
      limit stays.
    - a probe up is made only while ``S (L + 1) / L <= B``, and only from a round in which
      every slot was taken (a demand-bound round says nothing of the upstream).

    The first round after a move mixes requests started under both limits and is not
    measured. Each step is one request, so the limit never overshoots the knee.
    """

    __slots__ = (
        "_direction",
        "_enough",
        "_failures",
        "_hold",
        "_in_flight",
        "_limit",
        "_probe_from",
        "_quantile_s",
        "_recent_s",
        "_round",
        "_round_saturated",
        "_round_service_s",
        "_service_s",
        "_settling",
        "_steady",
        "config",
    )

    def __init__(self, config: ConcurrencyConfig) -> None:
        self.config = config
        self._limit = config.initial_limit
        self._in_flight = 0
        self._service_s: float | None = None
        self._recent_s: deque[float] = deque(maxlen=config.window)
        tail = 1.0 - config.quantile
        self._enough = config.window if tail <= 0 else min(config.window, math.ceil(1.0 / tail))
        self._quantile_s: float | None = None
        self._round = 0
        self._round_service_s = 0.0
        self._round_saturated = True
        #: ``(limit, mean throughput, rounds)`` at the limit held now, and where a probe began.
        self._steady: tuple[int, float, int] | None = None
        self._probe_from: tuple[int, float, int] | None = None
        self._direction = 1
        self._hold = 0
        self._failures = 0
        self._settling = True  # the first round fills the slots: not a measure

    @property
    def limit(self) -> int:
        """Requests allowed in service at once now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests holding a slot."""
        return self._in_flight

    @property
    def service_time_s(self) -> float | None:
        """The smoothed (mean) service time (``None`` before the first completion)."""
        return self._service_s

    @property
    def service_quantile_s(self) -> float | None:
        """The ``config.quantile`` of the last ``config.window`` service times (None: none yet).

        Until the window holds ``min(window, ceil(1 / (1 - quantile)))`` of them, the fewest
        whose quantile is not just their maximum, it is their maximum: a few replies say
        little of a tail, so plan on the slowest.
        """
        if self._quantile_s is None and self._recent_s:
            quantile = self.config.quantile if len(self._recent_s) >= self._enough else 1.0
            self._quantile_s = nearest_rank(self._recent_s, quantile)
        return self._quantile_s

    @property
    def throughput_per_s(self) -> float | None:
        """The throughput measured at the limit held now (``None`` before a full round)."""
        return None if self._steady is None else self._steady[1]

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        if self._in_flight < self._limit:
            self._in_flight += 1
            return True
        return False

    def release(self, service_s: float | None = None) -> None:
        """Free a slot; ``service_s`` (when the request completed) updates the limit."""
        if self._in_flight <= 0:
            raise ValueError("release() without a matching try_acquire()")
        saturated = self._in_flight >= self._limit
        self._in_flight -= 1
        if service_s is None or not math.isfinite(service_s) or service_s < 0:
            return
        config = self.config
        weight = config.smoothing
        smoothed = service_s if self._service_s is None else self._service_s
        self._service_s = (1.0 - weight) * smoothed + weight * service_s
        self._recent_s.append(service_s)
        self._quantile_s = None
        if not config.adaptive:
            return
        self._round += 1
        self._round_service_s += service_s
        self._round_saturated = self._round_saturated and saturated
        budget_s = config.latency_budget_s
        if not config.per_round and self._service_s > budget_s:
            self._shrink(self._service_s)  # at once, on the smoothed service time
            return
        if self._round < self._limit:
            return
        mean_s = self._round_service_s / self._round
        saturated = self._round_saturated
        self._round, self._round_service_s, self._round_saturated = 0, 0.0, True
        if mean_s > budget_s:
            self._shrink(mean_s)
        elif self._settling:
            self._settling = False
        elif saturated and mean_s > 0:
            self._measured(self._limit / mean_s, mean_s)

    def _shrink(self, service_s: float) -> None:
        limit = self._limit
        config = self.config
        wanted = limit * max(config.latency_budget_s / service_s, 1.0 / config.max_step)
        self._move(min(limit - 1, math.floor(wanted)))
        self._steady = self._probe_from = None
        self._direction, self._hold, self._failures = -1, 0, 0
        self._round, self._round_service_s, self._round_saturated = 0, 0.0, True

    def _measured(self, throughput: float, mean_s: float) -> None:
        """A whole round with every slot taken delivered ``throughput``: judge, then probe."""
        config = self.config
        limit = self._limit
        probe_from = self._probe_from
        if probe_from is not None:
            self._probe_from = None
            before, before_per_s, _ = probe_from
            step = (limit - before) / before
            if throughput / before_per_s - 1.0 < config.probe_gain * step:
                self._move(before)  # it did not pay: back, and the other way next time
                self._steady = probe_from
                self._direction = -self._direction
                self._hold = self._backoff()
                self._failures += 1
                return
            self._steady = (limit, throughput, 1)  # it paid: on the same way
            self._failures = 0
        else:
            steady = self._steady
            if steady is not None and steady[0] == limit:
                rounds = min(steady[2] + 1, 8)  # a mean of the last rounds, not all time
                throughput = steady[1] + (throughput - steady[1]) / rounds
                self._steady = (limit, throughput, rounds)
            else:
                self._steady = (limit, throughput, 1)
        if self._hold > 0:
            self._hold -= 1
            return
        self._probe(mean_s)

    def _probe(self, mean_s: float) -> None:
        config = self.config
        limit = self._limit
        if self._direction > 0:
            can = (
                limit < config.max_limit and mean_s * (limit + 1) <= config.latency_budget_s * limit
            )
        else:
            can = limit > config.min_limit
        if not can:  # at a bound: the other way, after a pause
            self._direction = -self._direction
            self._hold = self._backoff()
        elif self._steady is not None:
            self._probe_from = self._steady
            self._move(limit + self._direction)

    def _backoff(self) -> int:
        """Rounds to hold: ``hold_rounds``, doubled for each probe in a row that did not pay."""
        return self.config.hold_rounds << min(self._failures, 3)

    def _move(self, limit: int) -> None:
        new = max(self.config.min_limit, min(self.config.max_limit, limit))
        if new != self._limit:
            self._limit = new
            self._settling = True
