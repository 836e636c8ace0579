"""Erlang B and C: published values, an independent log-space formula, and invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from slokit.capacity import erlang_b, erlang_c, mmc
from slokit.errors import ConfigError, UnstableSystemError


def erlang_b_log_space(servers: int, offered_load: float) -> float:
    """B(c, a) = Poisson pmf(c; a) / Poisson cdf(c; a), in logs: an independent check."""
    log_pmf = servers * math.log(offered_load) - offered_load - special.gammaln(servers + 1)
    log_cdf = math.log(special.pdtr(servers, offered_load))
    return math.exp(log_pmf - log_cdf)


def test_textbook_four_servers_three_erlangs() -> None:
    # lambda = 3, mu = 1, c = 4: C = 0.5094 and Wq = C / (c mu - lambda) = 0.5094, the worked
    # M/M/c case in most queueing texts; exactly 27/53.
    assert erlang_c(4, 3.0) == pytest.approx(27 / 53, rel=1e-12)
    assert mmc(3.0, 1.0, 4).mean_wait_s == pytest.approx(0.5094, abs=1e-4)


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    # 100 calls per 30 minutes, 180 s average handling time = 10 erlangs on 11 agents; the
    # probability a call waits is 68.21% and the average speed of answer
    # ASA = Pw * AHT / (N - A) = 122.8 s.
    calls_per_s = 100 / (30 * 60)
    state = mmc(calls_per_s, 180.0, 11)
    assert state.p_wait == pytest.approx(0.6821, abs=5e-5)
    assert state.mean_wait_s == pytest.approx(122.8, abs=0.05)


def test_hillier_lieberman_county_hospital() -> None:
    # Hillier & Lieberman, Introduction to Operations Research, the County Hospital emergency
    # room (M/M/s): lambda = 2 patients/h, mu = 3 patients/h. With s = 2 doctors the book's
    # table gives P0 = 1/2, Lq = 1/12, L = 3/4, Wq = 1/24 h, W = 3/8 h; with s = 1, Lq = 4/3,
    # L = 2, Wq = 2/3 h, W = 1 h. The same numbers (L = 3/4 with P0 = 1/2) appear in Render,
    # Stair & Hanna's two-server information-desk example (lambda = 20/h, mu = 30/h).
    per_hour = 1 / 3600
    two = mmc(2 * per_hour, 3600 / 3, 2)
    assert two.mean_in_queue == pytest.approx(1 / 12, rel=1e-12)
    assert two.mean_in_system == pytest.approx(3 / 4, rel=1e-12)
    assert two.mean_wait_s / 3600 == pytest.approx(1 / 24, rel=1e-12)
    assert two.mean_time_in_system_s / 3600 == pytest.approx(3 / 8, rel=1e-12)
    one = mmc(2 * per_hour, 3600 / 3, 1)
    assert one.mean_in_queue == pytest.approx(4 / 3, rel=1e-12)
    assert one.mean_in_system == pytest.approx(2, rel=1e-12)
    assert one.mean_wait_s / 3600 == pytest.approx(2 / 3, rel=1e-12)
    assert one.mean_time_in_system_s / 3600 == pytest.approx(1, rel=1e-12)


def test_mitan_erlang_c_example() -> None:
    # The step-by-step Erlang-C example (360 calls per half hour, 4-minute calls, 55 agents:
    # 48 erlangs) publishes an average speed of answer of about 8.2 s.
    state = mmc(360 / 1800, 240.0, 55)
    assert state.utilization == pytest.approx(48 / 55)
    assert state.mean_wait_s == pytest.approx(8.2, abs=0.05)


def test_erlang_b_small_case_by_hand() -> None:
    # B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
    assert erlang_b(2, 1.0) == pytest.approx(0.2, rel=1e-12)
    assert erlang_b(5, 0.0) == 0.0


@pytest.mark.parametrize(
    ("servers", "offered_load"), [(200, 180.0), (500, 480.5), (1000, 950.0), (5000, 4900.0)]
)
def test_large_server_counts_stay_finite_and_match_log_space(
    servers: int, offered_load: float
) -> None:
    # a^c / c! overflows a float beyond ~170 servers; the recurrence must not.
    blocking = erlang_b(servers, offered_load)
    assert blocking == pytest.approx(erlang_b_log_space(servers, offered_load), rel=1e-9)
    waiting = erlang_c(servers, offered_load)
    assert 0.0 < waiting < 1.0
    assert math.isfinite(mmc(offered_load, 1.0, servers).wait_p99_s)


@given(
    servers=st.integers(min_value=1, max_value=300),
    offered_load=st.floats(min_value=1e-3, max_value=400.0),
)
def test_erlang_b_matches_log_space(servers: int, offered_load: float) -> None:
    assert erlang_b(servers, offered_load) == pytest.approx(
        erlang_b_log_space(servers, offered_load), rel=1e-8
    )


@given(
    servers=st.integers(min_value=1, max_value=300),
    utilization=st.floats(min_value=0.0, max_value=0.999),
)
def test_erlang_c_is_a_probability_decreasing_in_servers(servers: int, utilization: float) -> None:
    offered_load = utilization * servers
    waiting = erlang_c(servers, offered_load)
    assert 0.0 <= waiting <= 1.0
    assert erlang_c(servers + 1, offered_load) <= waiting
    # Waiting is at least as likely as being lost: C >= B.
    assert waiting >= erlang_b(servers, offered_load)


def test_unstable_load_raises() -> None:
    with pytest.raises(UnstableSystemError, match=r"utilisation 1\.25 >= 1") as raised:
        erlang_c(4, 5.0)
    assert raised.value.utilization == pytest.approx(1.25)


@pytest.mark.parametrize(("servers", "offered_load"), [(0, 1.0), (True, 0.5), (2, -1.0)])
def test_bad_arguments_raise_config_error(servers: int, offered_load: float) -> None:
    with pytest.raises(ConfigError):
        erlang_b(servers, offered_load)


def test_non_finite_load_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="finite"):
        erlang_c(3, math.nan)
