"""Per-request verdicts and run-level judgement of distribution objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.slo import Verdict, judge_request, judge_run, parse_slo

SPEC = parse_slo("ttft<=500ms, e2e<=5s, tpot<=50ms, itl<=200ms, ttft_p99<=1s")
FINE = {"ttft": 0.2, "e2e": 3.0, "tpot": 0.02, "itl": 0.1, "wait": 0.0}


def test_a_request_within_every_objective_is_good() -> None:
    assert judge_request(SPEC, FINE, ok=True) == Verdict(good=True, violated=())


def test_violations_are_named_in_spec_order() -> None:
    values = FINE | {"e2e": 6.0, "ttft": 0.75}

    verdict = judge_request(SPEC, values, ok=True)

    assert not verdict.good
    assert verdict.violated == ("ttft<=500ms", "e2e<=5s")


def test_a_failed_request_is_never_good() -> None:
    verdict = judge_request(SPEC, FINE, ok=False)
    assert verdict == Verdict(good=False, violated=())


def test_a_failed_request_still_reports_its_violations() -> None:
    verdict = judge_request(SPEC, {"ttft": None, "e2e": 9.0}, ok=False)
    assert not verdict.good
    assert verdict.violated == ("ttft<=500ms", "e2e<=5s")


def test_distribution_objectives_do_not_judge_one_request() -> None:
    # ttft of 0.4 s passes ttft<=500ms; ttft_p99<=1s is not a per-request objective anyway.
    spec = parse_slo("ttft_p99<=100ms, ttft_mean<=100ms")
    assert judge_request(spec, {"ttft": 0.4}, ok=True).good


@pytest.mark.parametrize("missing", ["absent", None, math.nan])
@pytest.mark.parametrize("metric", ["ttft", "e2e"])
def test_missing_ttft_or_e2e_is_a_violation(metric: str, missing: object) -> None:
    values: dict[str, float | None] = dict(FINE)
    if missing == "absent":
        del values[metric]
    else:
        values[metric] = missing  # type: ignore[assignment]

    verdict = judge_request(SPEC, values, ok=True)

    assert not verdict.good
    assert len(verdict.violated) == 1
    assert verdict.violated[0].startswith(metric)


@pytest.mark.parametrize("missing", ["absent", None, math.nan])
def test_missing_tpot_and_itl_of_a_one_token_answer_are_skipped(missing: object) -> None:
    values: dict[str, float | None] = dict(FINE)
    for metric in ("tpot", "itl"):
        if missing == "absent":
            del values[metric]
        else:
            values[metric] = missing  # type: ignore[assignment]

    assert judge_request(SPEC, values, ok=True) == Verdict(good=True, violated=())


def test_present_tpot_and_itl_are_judged() -> None:
    # itl is the request's largest gap between two tokens.
    verdict = judge_request(SPEC, FINE | {"tpot": 0.051, "itl": 0.5}, ok=True)
    assert verdict.violated == ("tpot<=50ms", "itl<=200ms")


def test_boundary_follows_strictness() -> None:
    inclusive = parse_slo("ttft<=500ms")
    strict = parse_slo("ttft<500ms")
    boundary_s = inclusive.objectives[0].threshold_s

    assert judge_request(inclusive, {"ttft": boundary_s}, ok=True).good
    assert not judge_request(strict, {"ttft": boundary_s}, ok=True).good


_VALUE = st.one_of(st.none(), st.floats(min_value=0.0, max_value=10.0))


@given(
    st.fixed_dictionaries(dict.fromkeys(("ttft", "e2e", "tpot", "itl"), _VALUE)),
    st.sampled_from(["ttft", "e2e", "tpot", "itl"]),
    st.floats(min_value=0.0, max_value=1.0),
    st.booleans(),
)
def test_a_faster_request_is_never_judged_worse(
    values: dict[str, float | None], metric: str, factor: float, ok: bool
) -> None:
    before = judge_request(SPEC, values, ok=ok)
    current = values[metric]
    faster = values | {metric: None if current is None else current * factor}

    after = judge_request(SPEC, faster, ok=ok)

    assert set(after.violated) <= set(before.violated)
    assert after.good >= before.good
    assert before.good == (ok and not before.violated)


def test_run_percentile_objective() -> None:
    spec = parse_slo("ttft_p99<=990ms, e2e_p99<=1s")
    samples = np.arange(1, 101) / 100.0  # 0.01 .. 1.00
    # p99 sits at position 0.99 * 99 = 98.01: 0.99 + 0.01 * (1.00 - 0.99) = 0.9901.
    ttft, e2e = judge_run(spec, {"ttft": samples, "e2e": list(samples)})

    assert ttft.objective == "ttft_p99<=990ms"
    assert ttft.observed_s == pytest.approx(0.9901)
    assert ttft.count == 100
    assert not ttft.met
    assert e2e.objective == "e2e_p99<=1s"
    assert e2e.met


def test_run_mean_objective_and_strictness() -> None:
    samples = {"e2e": [1.0, 2.0, 3.0, math.nan]}

    (inclusive,) = judge_run(parse_slo("e2e_mean<=2s"), samples)
    (strict,) = judge_run(parse_slo("e2e_mean<2s"), samples)

    assert inclusive.observed_s == pytest.approx(2.0)
    assert inclusive.count == 3
    assert inclusive.met
    assert not strict.met


def test_run_without_samples_fails_the_objective() -> None:
    results = judge_run(parse_slo("ttft_p50<=1s, tpot_mean<=1s"), {"tpot": [math.nan]})

    assert [r.count for r in results] == [0, 0]
    assert all(math.isnan(r.observed_s) and not r.met for r in results)


def test_run_ignores_per_request_objectives() -> None:
    results = judge_run(parse_slo("ttft<=1ms, ttft_p50<=1s, e2e<=1ms"), {"ttft": [0.5]})
    assert [r.objective for r in results] == ["ttft_p50<=1s"]
    assert results[0].met


def test_run_rejects_infinite_samples() -> None:
    with pytest.raises(ConfigError, match="finite"):
        judge_run(parse_slo("e2e_mean<=1s"), {"e2e": [1.0, math.inf]})
