"""Error budgets, burn rates and multi-window, multi-burn-rate alerts on an SLO.

Source: Google, *The Site Reliability Workbook*, chapter 5 "Alerting on SLOs", section
"Multiwindow, Multi-Burn-Rate Alerts". For an SLO with target ``T`` (say 0.999):

- error budget ``B = 1 - T``: the share of requests that may be bad;
- burn rate of a window ``= (bad / total in the window) / B``: how many times faster than
  "exactly spend the budget over the SLO period" the window spends it;
- an alert rule fires when *both* its long and its short window burn faster than its
  threshold. The long window makes the alert significant (it has spent a real part of the
  budget); the short window makes it stop soon after the problem is fixed.

The workbook's rules for a 30-day SLO period, used here by default:

========  ===========  ============  =========  =============================
rule      long window  short window  burn rate  budget spent in long window
========  ===========  ============  =========  =============================
page      1 h          5 min         14.4       2% (14.4 * 1 h / 720 h)
ticket    6 h          30 min        6          5% (6 * 6 h / 720 h)
========  ===========  ============  =========  =============================

The workbook pages on both rules and files a ticket on a third (3 days / 6 h at burn rate 1);
many teams route the 6 h rule to a ticket, as named here. Any rules can be given instead.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from slokit.clock import Clock
from slokit.errors import ConfigError


def error_budget(target: float) -> float:
    """The error budget ``1 - target`` of an SLO target such as 0.999 (0 < target < 1)."""
    if not 0.0 < target < 1.0:
        raise ConfigError(
            f"SLO target must be a fraction between 0 and 1 exclusive (e.g. 0.999), got {target!r}"
        )
    return 1.0 - target


def burn_rate(good: int, total: int, *, target: float) -> float:
    """Burn rate ``((total - good) / total) / (1 - target)`` of one window's counts.

    1 spends the budget exactly over the SLO period; 14.4 spends 2% of a 30-day budget in an
    hour. A window without events burns nothing: 0.
    """
    budget = error_budget(target)
    _check_counts(good, total)
    if total == 0:
        return 0.0
    return ((total - good) / total) / budget


def remaining_error_budget(good: int, total: int, *, target: float) -> float:
    """Share of the error budget left over a period: ``1 - bad / ((1 - target) * total)``.

    1 means no bad request yet, 0 means the budget is spent, a negative value means it is
    overspent by that share. A period without requests has its whole budget: 1.
    """
    budget = error_budget(target)
    _check_counts(good, total)
    if total == 0:
        return 1.0
    return 1.0 - (total - good) / (budget * total)


@dataclass(frozen=True, slots=True, kw_only=True)
class BurnRateRule:
    """Fire when both windows burn the budget faster than ``threshold`` (strictly greater)."""

    name: str
    long_window_s: float
    short_window_s: float
    threshold: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.short_window_s) and self.short_window_s > 0):
            raise ConfigError(f"rule '{self.name}': short_window_s must be > 0 seconds")
        if not (math.isfinite(self.long_window_s) and self.long_window_s >= self.short_window_s):
            raise ConfigError(
                f"rule '{self.name}': long_window_s must be finite and >= short_window_s "
                f"({self.long_window_s!r} < {self.short_window_s!r})"
            )
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ConfigError(f"rule '{self.name}': threshold must be a burn rate > 0")

    def fires(self, *, long_burn_rate: float, short_burn_rate: float) -> bool:
        """Whether the rule fires for the burn rates of its two windows."""
        return long_burn_rate > self.threshold and short_burn_rate > self.threshold


#: Page: 2% of a 30-day budget spent in an hour, and still burning over the last 5 minutes.
PAGE_RULE = BurnRateRule(name="page", long_window_s=3600.0, short_window_s=300.0, threshold=14.4)
#: Ticket: 5% of a 30-day budget spent in 6 hours, and still burning over the last 30 minutes.
TICKET_RULE = BurnRateRule(
    name="ticket", long_window_s=21600.0, short_window_s=1800.0, threshold=6.0
)
DEFAULT_RULES: tuple[BurnRateRule, ...] = (PAGE_RULE, TICKET_RULE)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    """One rule evaluated now: its windows' burn rates and whether it fires."""

    rule: BurnRateRule
    long_burn_rate: float
    short_burn_rate: float
    firing: bool


class BurnRateMonitor:
    """Counts good and bad events in time buckets and evaluates burn-rate alert rules.

    Time is read from ``clock`` when an event is recorded and when a window is asked for.
    Events go into buckets of ``bucket_s`` seconds (bucket ``floor(t / bucket_s)``). A window of
    ``n * bucket_s`` seconds sums the current bucket and the ``n - 1`` before it, so it covers
    between ``(n - 1) * bucket_s`` and ``n * bucket_s`` seconds of the past: finer buckets give
    sharper windows at the cost of memory. Only the buckets of the longest rule window are
    kept, so memory is bounded by ``longest window / bucket_s`` buckets.
    """

    __slots__ = ("_bucket_s", "_buckets", "_clock", "_max_buckets", "_rules", "_target")

    def __init__(
        self,
        *,
        target: float,
        clock: Clock,
        rules: Sequence[BurnRateRule] = DEFAULT_RULES,
        bucket_s: float = 60.0,
    ) -> None:
        error_budget(target)  # validates the target
        if not (math.isfinite(bucket_s) and bucket_s > 0):
            raise ConfigError(f"bucket_s must be a finite number of seconds > 0, got {bucket_s!r}")
        if not rules:
            raise ConfigError("give at least one burn-rate rule (e.g. DEFAULT_RULES)")
        self._target = target
        self._clock = clock
        self._rules = tuple(rules)
        self._bucket_s = bucket_s
        for rule in self._rules:
            self._buckets_in(rule.long_window_s)
            self._buckets_in(rule.short_window_s)
        self._max_buckets = max(self._buckets_in(rule.long_window_s) for rule in self._rules)
        # Each entry is [bucket index, good events, all events], oldest first.
        self._buckets: deque[list[int]] = deque()

    @property
    def history_s(self) -> float:
        """The span of time kept: the longest rule window."""
        return self._max_buckets * self._bucket_s

    @property
    def retained_buckets(self) -> int:
        """Buckets held in memory now; never more than ``history_s / bucket_s``."""
        oldest_kept = self._current_index() - self._max_buckets + 1
        return sum(1 for bucket in self._buckets if bucket[0] >= oldest_kept)

    def record(self, *, good: bool, count: int = 1) -> None:
        """Record ``count`` events (requests) at the clock's current time, all good or all bad."""
        if count < 0:
            raise ConfigError(f"count must be >= 0, got {count}")
        index = self._current_index()
        self._evict(index)
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append([index, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += count if good else 0
        bucket[2] += count

    def counts(self, window_s: float) -> tuple[int, int]:
        """``(good, total)`` events in the window of ``window_s`` seconds ending now."""
        n = self._buckets_in(window_s)
        if n > self._max_buckets:
            raise ConfigError(
                f"window of {window_s} s is longer than the {self.history_s} s of history kept; "
                "add a rule with that window"
            )
        index = self._current_index()
        self._evict(index)
        first = index - n + 1
        good = total = 0
        for bucket_index, bucket_good, bucket_total in reversed(self._buckets):
            if bucket_index < first:
                break
            good += bucket_good
            total += bucket_total
        return good, total

    def burn_rate(self, window_s: float) -> float:
        """Burn rate of the window of ``window_s`` seconds ending now (see :func:`burn_rate`)."""
        good, total = self.counts(window_s)
        return burn_rate(good, total, target=self._target)

    def alerts(self) -> tuple[AlertState, ...]:
        """Every rule evaluated now, in the order the rules were given."""
        states = []
        for rule in self._rules:
            long_rate = self.burn_rate(rule.long_window_s)
            short_rate = self.burn_rate(rule.short_window_s)
            states.append(
                AlertState(
                    rule=rule,
                    long_burn_rate=long_rate,
                    short_burn_rate=short_rate,
                    firing=rule.fires(long_burn_rate=long_rate, short_burn_rate=short_rate),
                )
            )
        return tuple(states)

    def firing(self) -> tuple[str, ...]:
        """Names of the rules that fire now."""
        return tuple(state.rule.name for state in self.alerts() if state.firing)

    def _current_index(self) -> int:
        return math.floor(self._clock.now() / self._bucket_s)

    def _evict(self, index: int) -> None:
        oldest_kept = index - self._max_buckets + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            self._buckets.popleft()

    def _buckets_in(self, window_s: float) -> int:
        buckets = round(window_s / self._bucket_s) if math.isfinite(window_s) else 0
        if buckets < 1 or not math.isclose(buckets * self._bucket_s, window_s, rel_tol=1e-9):
            raise ConfigError(
                f"window of {window_s} s must be a whole number (>= 1) of {self._bucket_s} s "
                "buckets; choose bucket_s to divide every rule window"
            )
        return buckets


def _check_counts(good: int, total: int) -> None:
    if good < 0 or total < 0:
        raise ConfigError(f"event counts must be >= 0, got good={good}, total={total}")
    if good > total:
        raise ConfigError(f"good ({good}) cannot exceed total ({total}) events")
