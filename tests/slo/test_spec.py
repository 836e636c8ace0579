"""The SLO grammar: parsing, round trips through text, and the errors users see."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError, SLOSpecError
from slokit.slo import REQUEST_METRICS, Objective, SLOSpec, format_duration, parse_slo


def test_parses_per_request_and_distribution_objectives() -> None:
    spec = parse_slo("ttft_p99<=500ms, e2e<=5s, tpot_mean<50ms")

    ttft, e2e, tpot = spec.objectives
    assert (ttft.metric, ttft.quantile, ttft.mean, ttft.strict) == ("ttft", 0.99, False, False)
    assert ttft.threshold_s == pytest.approx(0.5)
    assert (e2e.metric, e2e.quantile, e2e.threshold_s) == ("e2e", None, 5.0)
    assert (tpot.metric, tpot.mean, tpot.strict) == ("tpot", True, True)
    assert tpot.threshold_s == pytest.approx(0.05)
    assert spec.per_request == (e2e,)
    assert spec.distribution == (ttft, tpot)


@pytest.mark.parametrize(
    ("text", "threshold_s"),
    [("e2e<=2m", 120.0), ("e2e<=1.5s", 1.5), ("e2e<=250us", 250e-6), ("e2e<=.5s", 0.5)],
)
def test_units(text: str, threshold_s: float) -> None:
    assert parse_slo(text).objectives[0].threshold_s == pytest.approx(threshold_s)


def test_whitespace_and_case_are_ignored() -> None:
    assert parse_slo("  TTFT_P99 <= 500 MS ,  e2e <= 5 s ") == parse_slo("ttft_p99<=500ms,e2e<=5s")


@pytest.mark.parametrize("text", ["ttft_p99.9<=1s", "ttft_p99_9<=1s"])
def test_decimal_percentile_in_both_forms(text: str) -> None:
    objective = parse_slo(text).objectives[0]

    assert objective.quantile == pytest.approx(0.999)
    assert objective.statistic == "p99_9"
    assert str(objective) == "ttft_p99_9<=1s"


def test_the_two_percentile_forms_are_the_same_objective() -> None:
    with pytest.raises(SLOSpecError, match="twice"):
        parse_slo("ttft_p99.9<=1s, ttft_p99_9<=2s")


def test_a_metric_may_have_a_per_request_and_a_distribution_objective() -> None:
    spec = parse_slo("ttft<=2s, ttft_p50<=500ms, ttft_mean<=400ms")
    assert [o.statistic for o in spec.objectives] == [None, "p50", "mean"]


def test_strictness_decides_the_boundary() -> None:
    strict = parse_slo("ttft<500ms").objectives[0]
    inclusive = parse_slo("ttft<=500ms").objectives[0]
    boundary_s = inclusive.threshold_s

    assert strict.strict
    assert not inclusive.strict
    assert inclusive.met_by(boundary_s)
    assert not strict.met_by(boundary_s)
    assert strict.met_by(math.nextafter(boundary_s, 0.0))
    assert not inclusive.met_by(math.nextafter(boundary_s, 1.0))
    assert str(strict) == "ttft<500ms"


def test_nan_never_meets_an_objective() -> None:
    assert not parse_slo("ttft<=10s").objectives[0].met_by(math.nan)


def test_unknown_metric_error_names_it_and_the_known_ones() -> None:
    with pytest.raises(SLOSpecError) as caught:
        parse_slo("ttft<=1s, latency_p99<=1s")

    message = str(caught.value)
    assert "'latency'" in message
    for metric in REQUEST_METRICS:
        assert metric in message


def test_errors_are_config_and_value_errors() -> None:
    with pytest.raises(ConfigError):
        parse_slo("bogus")
    with pytest.raises(ValueError, match="cannot parse"):
        parse_slo("bogus")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (" , ", "empty"),
        ("ttft<=500", "objective 'ttft<=500'.*unit"),
        ("ttft>=500ms", "cannot parse"),
        ("ttft_p100<=1s", "between 0 and 100"),
        ("ttft_p0<=1s", "between 0 and 100"),
        ("ttft_median<=1s", "cannot parse"),
        ("e2e<=1s, e2e<2s", "twice"),
    ],
)
def test_rejects_bad_text(text: str, fragment: str) -> None:
    with pytest.raises(SLOSpecError, match=fragment):
        parse_slo(text)


def test_custom_metric_set() -> None:
    spec = parse_slo("queue_p95<=2s", metrics=frozenset({"queue"}))
    assert spec.objectives[0].metric == "queue"
    with pytest.raises(SLOSpecError, match="unknown SLO metric 'ttft'"):
        parse_slo("ttft<=1s", metrics=frozenset({"queue"}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold_s": -1.0},
        {"threshold_s": math.inf},
        {"threshold_s": math.nan},
        {"threshold_s": 1.0, "quantile": 1.0},
        {"threshold_s": 1.0, "quantile": 0.0},
        {"threshold_s": 1.0, "quantile": 0.5, "mean": True},
    ],
)
def test_objective_validates_itself(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SLOSpecError, match="'ttft'"):
        Objective(metric="ttft", **kwargs)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5.0, "5s"), (0.5, "500ms"), (0.0015, "1.5ms"), (2e-5, "20us"), (0.0, "0us"), (90.0, "90s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0.0, max_value=1e15, allow_nan=False))
def test_formatted_durations_parse_back(seconds: float) -> None:
    parsed_s = parse_slo(f"e2e<={format_duration(seconds)}").objectives[0].threshold_s
    # format_duration keeps 10 significant digits.
    assert parsed_s == pytest.approx(seconds, rel=1e-9, abs=1e-15)


_STATISTICS = st.sampled_from(["", "_mean", "_p50", "_p90", "_p99", "_p99.9", "_p99_99", "_p1"])
_OBJECTIVE_TEXTS = st.builds(
    lambda metric, statistic, op, amount, unit: f"{metric}{statistic}{op}{amount}{unit}",
    st.sampled_from(sorted(REQUEST_METRICS)),
    _STATISTICS,
    st.sampled_from(["<=", "<"]),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["us", "ms", "s", "m"]),
)


def _same(a: SLOSpec, b: SLOSpec) -> bool:
    return len(a.objectives) == len(b.objectives) and all(
        (x.metric, x.quantile, x.mean, x.strict) == (y.metric, y.quantile, y.mean, y.strict)
        and math.isclose(x.threshold_s, y.threshold_s, rel_tol=1e-12)
        for x, y in zip(a.objectives, b.objectives, strict=True)
    )


@given(st.lists(_OBJECTIVE_TEXTS, min_size=1, max_size=6))
def test_text_round_trip(texts: list[str]) -> None:
    keys = [t.split("<")[0].replace(".", "_") for t in texts]
    if len(set(keys)) != len(keys):
        with pytest.raises(SLOSpecError, match="twice"):
            parse_slo(", ".join(texts))
        return
    spec = parse_slo(", ".join(texts))

    again = parse_slo(str(spec))

    assert _same(spec, again)
    assert str(again) == str(spec)
