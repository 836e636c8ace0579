"""Error budgets, burn rates and the multi-window, multi-burn-rate alerts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.clock import ManualClock
from slokit.errors import ConfigError
from slokit.slo import (
    DEFAULT_RULES,
    PAGE_RULE,
    TICKET_RULE,
    BurnRateMonitor,
    BurnRateRule,
    burn_rate,
    error_budget,
    remaining_error_budget,
)

MINUTE_S = 60.0
HOUR_S = 3600.0
THIRTY_DAYS_H = 30 * 24


def test_error_budget() -> None:
    assert error_budget(0.999) == pytest.approx(0.001)
    assert error_budget(0.9) == pytest.approx(0.1)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_target_must_be_a_fraction(target: float) -> None:
    with pytest.raises(ConfigError, match="target"):
        error_budget(target)


def test_burn_rate_by_hand() -> None:
    # 10 bad of 1000 is a 1% error ratio against a 0.1% budget: ten times too fast.
    assert burn_rate(990, 1000, target=0.999) == pytest.approx(10.0)
    assert burn_rate(999, 1000, target=0.999) == pytest.approx(1.0)
    assert burn_rate(1000, 1000, target=0.999) == 0.0
    assert burn_rate(0, 0, target=0.999) == 0.0


def test_remaining_budget_by_hand() -> None:
    assert remaining_error_budget(1000, 1000, target=0.999) == 1.0
    assert remaining_error_budget(1999, 2000, target=0.999) == pytest.approx(0.5)
    assert remaining_error_budget(999, 1000, target=0.999) == pytest.approx(0.0, abs=1e-12)
    assert remaining_error_budget(997, 1000, target=0.999) == pytest.approx(-2.0)
    assert remaining_error_budget(0, 0, target=0.999) == 1.0


@pytest.mark.parametrize(("good", "total"), [(2, 1), (-1, 1), (0, -1)])
def test_rejects_impossible_counts(good: int, total: int) -> None:
    with pytest.raises(ConfigError, match="good"):
        burn_rate(good, total, target=0.99)
    with pytest.raises(ConfigError, match="good"):
        remaining_error_budget(good, total, target=0.99)


_WINDOWS = st.integers(min_value=1, max_value=10**6).flatmap(
    lambda total: st.tuples(
        st.integers(min_value=0, max_value=total),
        st.integers(min_value=0, max_value=total),
        st.just(total),
    )
)
_TARGETS = st.floats(min_value=0.5, max_value=0.99999)


@given(_WINDOWS, _TARGETS)
def test_burn_rate_is_monotone_in_the_error_count(
    window: tuple[int, int, int], target: float
) -> None:
    bad_a, bad_b, total = window
    fewer, more = sorted((bad_a, bad_b))
    assert burn_rate(total - fewer, total, target=target) <= burn_rate(
        total - more, total, target=target
    )


@given(_WINDOWS, _TARGETS)
def test_burn_rate_and_remaining_budget_agree(window: tuple[int, int, int], target: float) -> None:
    bad, _, total = window
    rate = burn_rate(total - bad, total, target=target)
    # Over one period, spending at rate r leaves 1 - r of the budget.
    assert remaining_error_budget(total - bad, total, target=target) == pytest.approx(1 - rate)
    assert rate * (1 - target) == pytest.approx(bad / total)


def test_workbook_rules() -> None:
    assert DEFAULT_RULES == (PAGE_RULE, TICKET_RULE)
    assert (PAGE_RULE.long_window_s, PAGE_RULE.short_window_s) == (HOUR_S, 5 * MINUTE_S)
    assert (TICKET_RULE.long_window_s, TICKET_RULE.short_window_s) == (6 * HOUR_S, 30 * MINUTE_S)
    # The thresholds spend 2% and 5% of a 30-day budget within their long windows.
    assert PAGE_RULE.threshold * 1 / THIRTY_DAYS_H == pytest.approx(0.02)
    assert TICKET_RULE.threshold * 6 / THIRTY_DAYS_H == pytest.approx(0.05)


def test_a_rule_needs_both_windows_strictly_above_the_threshold() -> None:
    rule = PAGE_RULE
    assert rule.fires(long_burn_rate=14.5, short_burn_rate=20.0)
    assert not rule.fires(long_burn_rate=14.4, short_burn_rate=20.0)
    assert not rule.fires(long_burn_rate=20.0, short_burn_rate=14.4)
    assert not rule.fires(long_burn_rate=20.0, short_burn_rate=1.0)


@pytest.mark.parametrize(
    ("long_s", "short_s", "threshold"),
    [(60.0, 0.0, 1.0), (60.0, 120.0, 1.0), (60.0, 60.0, 0.0), (float("inf"), 60.0, 1.0)],
)
def test_rule_validates_itself(long_s: float, short_s: float, threshold: float) -> None:
    with pytest.raises(ConfigError, match="rule 'r'"):
        BurnRateRule(name="r", long_window_s=long_s, short_window_s=short_s, threshold=threshold)


def _clock() -> ManualClock:
    """A clock half a minute before the first bucket, so that each minute is sampled mid-way."""
    return ManualClock(start_s=-MINUTE_S / 2)


def _run(
    monitor: BurnRateMonitor, clock: ManualClock, minutes: int, *, good: int, bad: int
) -> None:
    """Move to the middle of each of the next ``minutes`` and record ``good`` and ``bad`` events.

    The clock stays in the last minute recorded, so a window of ``n`` minutes covers exactly the
    last ``n`` minutes recorded.
    """
    for _ in range(minutes):
        clock.advance(MINUTE_S)
        monitor.record(good=True, count=good)
        monitor.record(good=False, count=bad)


def test_a_sustained_fast_burn_pages_and_stops_paging_soon_after_the_fix() -> None:
    clock = _clock()
    monitor = BurnRateMonitor(target=0.999, clock=clock)

    _run(monitor, clock, 60, good=980, bad=20)  # 2% errors: burn rate 20

    assert monitor.burn_rate(HOUR_S) == pytest.approx(20.0)
    assert monitor.burn_rate(5 * MINUTE_S) == pytest.approx(20.0)
    assert monitor.firing() == ("page", "ticket")

    _run(monitor, clock, 10, good=1000, bad=0)  # fixed

    page, ticket = monitor.alerts()
    assert page.short_burn_rate == 0.0
    assert page.long_burn_rate > PAGE_RULE.threshold
    assert not page.firing
    assert ticket.firing  # the 30-minute window still holds 20 minutes of errors
    assert monitor.firing() == ("ticket",)


def test_a_short_spike_does_not_page() -> None:
    clock = _clock()
    monitor = BurnRateMonitor(target=0.999, clock=clock)
    _run(monitor, clock, 59, good=1000, bad=0)
    _run(monitor, clock, 1, good=900, bad=100)

    (page, _) = monitor.alerts()

    assert page.short_burn_rate == pytest.approx(100 / 5000 / 0.001)  # 20: above 14.4
    assert page.long_burn_rate == pytest.approx(100 / 60000 / 0.001)  # 1.67: below
    assert monitor.firing() == ()


def test_window_covers_the_current_bucket_and_the_ones_before_it() -> None:
    clock = ManualClock()
    monitor = BurnRateMonitor(target=0.99, clock=clock)
    monitor.record(good=False)  # t = 0: bucket 0

    clock.set(299.0)  # bucket 4: a 5-bucket window still holds bucket 0
    assert monitor.counts(300.0) == (0, 1)
    assert monitor.counts(60.0) == (0, 0)
    clock.set(300.0)  # bucket 5: it does not
    assert monitor.counts(300.0) == (0, 0)
    assert monitor.counts(600.0) == (0, 1)


def test_memory_is_bounded_by_the_longest_window() -> None:
    clock = _clock()
    monitor = BurnRateMonitor(target=0.99, clock=clock)
    assert monitor.history_s == 6 * HOUR_S

    _run(monitor, clock, 10 * 60, good=1, bad=1)

    assert monitor.retained_buckets == 360
    assert monitor.counts(monitor.history_s) == (360, 720)
    clock.advance(7 * HOUR_S)
    assert monitor.retained_buckets == 0
    assert monitor.counts(monitor.history_s) == (0, 0)


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=600.0), st.booleans(), st.integers(0, 5)),
        max_size=50,
    )
)
def test_events_are_conserved_within_the_history(events: list[tuple[float, bool, int]]) -> None:
    clock = ManualClock()
    rule = BurnRateRule(name="r", long_window_s=3600.0, short_window_s=60.0, threshold=2.0)
    monitor = BurnRateMonitor(target=0.9, clock=clock, rules=[rule], bucket_s=10.0)
    for gap_s, good, count in events:
        clock.advance(gap_s)
        monitor.record(good=good, count=count)
    # Events older than the history may have left; only check when everything fits.
    if clock.now() >= 3600.0 - 10.0:
        return

    good_count, total = monitor.counts(3600.0)

    assert total == sum(count for _, _, count in events)
    assert good_count == sum(count for _, good, count in events if good)
    assert monitor.burn_rate(3600.0) == burn_rate(good_count, total, target=0.9)


def test_windows_must_be_whole_buckets_within_the_history() -> None:
    clock = ManualClock()
    monitor = BurnRateMonitor(target=0.99, clock=clock)
    with pytest.raises(ConfigError, match="whole number"):
        monitor.counts(90.0)
    with pytest.raises(ConfigError, match="longer than"):
        monitor.counts(7 * HOUR_S)
    with pytest.raises(ConfigError, match="whole number"):
        BurnRateMonitor(target=0.99, clock=clock, bucket_s=7 * MINUTE_S)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"target": 1.0}, "target"),
        ({"target": 0.99, "bucket_s": 0.0}, "bucket_s"),
        ({"target": 0.99, "rules": []}, "at least one"),
    ],
)
def test_monitor_validates_its_configuration(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        BurnRateMonitor(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


def test_negative_counts_are_refused() -> None:
    monitor = BurnRateMonitor(target=0.99, clock=ManualClock())
    with pytest.raises(ConfigError, match="count"):
        monitor.record(good=True, count=-1)
