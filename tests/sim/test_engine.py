"""The simulator end to end: queueing theory, batching, conservation, determinism, records."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from slokit.errors import ConfigError
from slokit.sim import (
    LeastOutstandingBalancer,
    Outcome,
    Profile,
    RoundRobinBalancer,
    SimulationResult,
    example_profile,
    simulate,
)

# ------------------------------------------------------------------------ M/M/1

MEAN_OUTPUT_TOKENS = 1000  # service = output tokens x step: fine-grained enough to be continuous


def _mm1(count: int, seed: int) -> tuple[Profile, NDArray[np.float64], NDArray[np.int64]]:
    """Poisson arrivals at 0.8/s; exponential-like service of mean 1 s on one batch-1 server."""
    profile = Profile(
        model="mm1",
        prefill_per_token_s=0.0,
        decode_base_s=1.0 / MEAN_OUTPUT_TOKENS,
        max_batch_size=1,
        max_batched_tokens=1,
        kv_capacity_tokens=10**9,
        kv_block_tokens=1,
    )
    rng = np.random.default_rng(seed)
    arrival_s = np.cumsum(rng.exponential(1 / 0.8, count))
    # The first token comes with the (free) prefill, so service = (output - 1) decode steps:
    # output - 1 ~ geometric on {0, 1, ...} with mean 1000, i.e. service ~ Exp(1) in 1 ms steps.
    output = rng.geometric(1 / (MEAN_OUTPUT_TOKENS + 1), count).astype(np.int64)
    return profile, arrival_s, output


def test_mm1_time_in_system_and_littles_law() -> None:
    count = 200_000  # standard error of the mean time in system about 1.6% at rho = 0.8
    profile, arrival_s, output = _mm1(count, seed=2024)
    result = simulate(
        profile=profile,
        replicas=1,
        arrival_s=arrival_s,
        prompt_tokens=np.ones(count, dtype=np.int64),
        output_tokens=output,
    )
    time_in_system_s = result.e2e_s
    assert time_in_system_s.mean() == pytest.approx(1 / (1.0 - 0.8), rel=0.03)

    # The model itself is exact: FCFS single server, Lindley's recursion on the same draws.
    service_s = (output - 1) / MEAN_OUTPUT_TOKENS
    departure_s = np.empty(count)
    previous_s = 0.0
    for index, (arrive_s, serve_s) in enumerate(zip(arrival_s, service_s, strict=True)):
        previous_s = max(arrive_s, previous_s) + serve_s
        departure_s[index] = previous_s
    np.testing.assert_allclose(result.end_s, departure_s, rtol=1e-9)

    # Little: L sampled on a time grid equals lambda * W.
    horizon_s = float(result.end_s.max())
    grid_s = np.linspace(0.0, horizon_s, 100_000)
    in_system = np.searchsorted(arrival_s, grid_s, side="right") - np.searchsorted(
        np.sort(result.end_s), grid_s, side="right"
    )
    rate = count / horizon_s
    assert in_system.mean() == pytest.approx(rate * time_in_system_s.mean(), rel=0.02)
    assert result.replicas[0].utilization == pytest.approx(0.8, rel=0.03)


# ------------------------------------------------------------------------ batching


def _saturated_throughput(max_batch_size: int) -> float:
    profile = Profile(
        model="batching",
        prefill_per_token_s=0.0,
        decode_base_s=0.010,
        decode_per_seq_s=0.0001,
        max_batch_size=max_batch_size,
        max_batched_tokens=4096,
        kv_capacity_tokens=10**7,
    )
    count = 2000
    result = simulate(
        profile=profile,
        replicas=1,
        arrival_s=np.zeros(count),
        prompt_tokens=np.full(count, 100),
        output_tokens=np.full(count, 101),
    )
    return float(result.output_tokens.sum() / result.duration_s)


def test_batching_multiplies_saturated_throughput_by_the_step_cost_ratio() -> None:
    # tokens/s at batch b: b / (base + per_seq * b); the first token comes free with prefill.
    single = _saturated_throughput(1)
    batched = _saturated_throughput(64)
    expected = 64 * (0.010 + 0.0001) / (0.010 + 0.0001 * 64)
    assert single == pytest.approx(101 / (100 * 0.0101), rel=0.01)
    assert batched / single == pytest.approx(expected, rel=0.03)


# ------------------------------------------------------------------------ workloads


def _workload(count: int, rate: float, seed: int) -> dict[str, NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return {
        "arrival_s": np.cumsum(rng.exponential(1 / rate, count)),
        "prompt_tokens": np.clip(rng.lognormal(np.log(800), 0.7, count), 1, 6000).astype(int),
        "output_tokens": np.clip(rng.lognormal(np.log(200), 0.7, count), 1, 2000).astype(int),
        "prefix_group": rng.integers(-1, 20, count),
        "prefix_tokens": np.full(count, 512),
    }


def _assert_same(first: SimulationResult, second: SimulationResult) -> None:
    for name in ("first_token_s", "end_s", "wait_s", "replica", "outcome"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert first.summary() == second.summary()


def test_same_seed_same_run_other_seed_other_run() -> None:
    runs = [
        simulate(profile=example_profile(), replicas=3, **_workload(3000, 40.0, seed))
        for seed in (7, 7, 8)
    ]
    _assert_same(runs[0], runs[1])
    assert not np.array_equal(runs[0].end_s, runs[2].end_s)


def test_ttft_grows_with_load() -> None:
    mean_ttft = []
    for rate in (10.0, 30.0, 45.0):
        result = simulate(profile=example_profile(), replicas=3, **_workload(4000, rate, 3))
        mean_ttft.append(float(np.nanmean(result.ttft_s)))
    assert mean_ttft == sorted(mean_ttft)
    assert mean_ttft[-1] > 1.5 * mean_ttft[0]


def test_prefix_cache_shortens_ttft_of_repeated_groups() -> None:
    workload = _workload(3000, 20.0, 5)
    workload["prefix_tokens"] = np.minimum(workload["prompt_tokens"], 600)
    ttft = {}
    for cache in (False, True):
        profile = dataclasses.replace(example_profile(), prefix_cache=cache)
        result = simulate(profile=profile, replicas=2, **workload)
        grouped = workload["prefix_group"] >= 0
        ttft[cache] = float(np.mean(result.ttft_s[grouped]))
        assert (sum(r.prefix_hit_tokens for r in result.replicas) > 0) == cache
    assert ttft[True] < 0.8 * ttft[False]


# ------------------------------------------------------------------------ conservation


@st.composite
def _runs(draw: st.DrawFn) -> tuple[Profile, dict[str, Any], int, bool]:
    block = draw(st.sampled_from([1, 8, 16]))
    profile = Profile(
        model="prop",
        prefill_base_s=draw(st.floats(0, 0.01)),
        prefill_per_token_s=draw(st.floats(1e-6, 1e-3)),
        decode_base_s=draw(st.floats(1e-3, 0.05)),
        decode_per_seq_s=draw(st.floats(0, 1e-3)),
        decode_per_context_token_s=draw(st.floats(0, 1e-5)),
        max_batch_size=draw(st.integers(1, 16)),
        max_batched_tokens=draw(st.integers(16, 1024)),
        chunked_prefill=draw(st.booleans()),
        kv_capacity_tokens=block * draw(st.integers(8, 400)),
        kv_block_tokens=block,
        preemption=draw(st.sampled_from(["recompute", "queue"])),
    )
    count = draw(st.integers(1, 60))
    gaps = draw(st.lists(st.floats(0, 2.0), min_size=count, max_size=count))
    workload = {
        "arrival_s": np.cumsum(gaps),
        "prompt_tokens": draw(st.lists(st.integers(1, 600), min_size=count, max_size=count)),
        "output_tokens": draw(st.lists(st.integers(1, 200), min_size=count, max_size=count)),
    }
    return profile, workload, draw(st.integers(1, 3)), draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(run=_runs())
def test_every_request_ends_once_in_order_and_within_bounds(
    run: tuple[Profile, dict[str, Any], int, bool],
) -> None:
    profile, workload, replicas, round_robin = run
    result = simulate(
        profile=profile,
        replicas=replicas,
        balancer=RoundRobinBalancer() if round_robin else LeastOutstandingBalancer(),
        **workload,
    )
    ok = result.outcome == Outcome.OK
    assert np.all(ok | (result.outcome == Outcome.TOO_LONG))
    arrival, first, end = result.arrival_s[ok], result.first_token_s[ok], result.end_s[ok]
    scheduled = arrival + result.wait_s[ok]
    assert np.all(arrival <= scheduled)
    assert np.all(scheduled <= first)
    assert np.all(first <= end)
    # The prompt must be prefilled before the first token; then one decode step per token.
    prompt, output = result.prompt_tokens[ok], result.output_tokens[ok]
    prefill_s = profile.prefill_base_s + profile.prefill_per_token_s * prompt
    assert np.all(first - arrival >= prefill_s * (1 - 1e-9))
    step_s = profile.decode_base_s + profile.decode_per_seq_s
    assert np.all(end - first >= (output - 1) * step_s * (1 - 1e-9))
    assert np.all(result.replica[ok] >= 0)
    assert sum(r.requests for r in result.replicas) == ok.sum()
    for report in result.replicas:
        assert report.busy_s <= report.lifetime_s * (1 + 1e-9)
        assert report.peak_kv_tokens <= profile.kv_capacity_tokens
    records = list(result.records())
    assert [r.request_id for r in records] == list(range(len(records)))
    assert sum(r.output_tokens for r in records) == output.sum()


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(2, 40),
    gaps=st.lists(st.floats(0, 0.5), min_size=40, max_size=40),
    chunked=st.booleans(),
)
def test_identical_requests_get_first_tokens_in_arrival_order(
    count: int, gaps: list[float], chunked: bool
) -> None:
    profile = Profile(
        model="fcfs",
        prefill_per_token_s=1e-3,
        decode_base_s=0.02,
        max_batch_size=4,
        max_batched_tokens=300,
        chunked_prefill=chunked,
        kv_capacity_tokens=2000,
        preemption="queue",
    )
    result = simulate(
        profile=profile,
        replicas=1,
        arrival_s=np.cumsum(gaps[:count]),
        prompt_tokens=np.full(count, 200),
        output_tokens=np.full(count, 30),
    )
    assert np.all(np.diff(result.first_token_s) >= 0)
    assert np.all(np.diff(result.end_s) >= 0)


# ------------------------------------------------------------------------ records and inputs


def test_records_carry_the_request_fields() -> None:
    result = simulate(
        profile=example_profile(),
        replicas=2,
        arrival_s=[0.0, 0.5, 1.0],
        prompt_tokens=[100, 200, 400_000],
        output_tokens=[10, 20, 5],
    )
    records = list(result.records())
    first = records[0]
    assert first.scheduled_s == first.sent_s == 0.0
    assert first.ttft_s == pytest.approx(example_profile().prefill_time_s(100))
    assert first.wait_s == 0.0
    assert first.replica in {"r0", "r1"}
    assert (first.prompt_tokens, first.output_tokens, first.ok) == (100, 10, True)
    assert first.chunk_times_s == ()
    assert records[1].replica != first.replica  # the idle replica gets the second request
    too_long = records[2]
    assert (too_long.error, too_long.status, too_long.first_token_s) == ("too_long", 400, None)
    assert result.summary()["too_long"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arrival_s": [1.0, 0.5]}, "sorted"),
        ({"arrival_s": [-1.0, 0.5]}, ">= 0"),
        ({"prompt_tokens": [1]}, "shape"),
        ({"output_tokens": [0, 1]}, "output_tokens"),
        ({"prefix_group": [1, 1]}, "both"),
        ({"replicas": 0}, "replicas"),
    ],
)
def test_invalid_inputs_are_config_errors(change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "profile": example_profile(),
        "replicas": 1,
        "arrival_s": [0.0, 1.0],
        "prompt_tokens": [10, 10],
        "output_tokens": [5, 5],
        **change,
    }
    with pytest.raises(ConfigError, match=message):
        simulate(**arguments)


def test_an_empty_workload_is_an_empty_run() -> None:
    result = simulate(
        profile=example_profile(), replicas=2, arrival_s=[], prompt_tokens=[], output_tokens=[]
    )
    assert result.completed == 0
    assert result.duration_s == 0.0
    assert result.cost == 0.0
