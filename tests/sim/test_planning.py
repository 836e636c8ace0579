"""Planning by simulation: figures at a replica count and the fewest replicas for an SLO."""

from __future__ import annotations

import numpy as np
import pytest

from slokit.capacity import min_replicas, mm1
from slokit.errors import ConfigError
from slokit.sim import Profile
from slokit.sim.planning import PlanWorkload, min_replicas_by_simulation, simulated_state
from slokit.slo import parse_slo

# Batch 1, 1 ms steps: exponential service of mean 1 s, as in the M/M/1 check.
ONE_AT_A_TIME = Profile(
    model="mmc",
    prefill_per_token_s=0.0,
    decode_base_s=0.001,
    max_batch_size=1,
    max_batched_tokens=1,
    kv_capacity_tokens=10**9,
    kv_block_tokens=1,
)


def poisson(rate: float, count: int, seed: int = 3) -> PlanWorkload:
    rng = np.random.default_rng(seed)
    return PlanWorkload(
        arrival_s=np.cumsum(rng.exponential(1 / rate, count)),
        prompt_tokens=np.ones(count, dtype=np.int64),
        output_tokens=rng.geometric(1 / 1001, count).astype(np.int64),
    )


def test_simulated_state_agrees_with_m_m_1_on_one_request_at_a_time() -> None:
    state = simulated_state(ONE_AT_A_TIME, poisson(0.7, 40_000), 1)
    exact = mm1(0.7, 1.0)
    assert state.stable
    assert state.mean_wait_s == pytest.approx(exact.mean_wait_s, rel=0.1)
    assert state.p_wait == pytest.approx(exact.p_wait, abs=0.03)
    assert state.mean_in_system == pytest.approx(exact.mean_in_system, rel=0.1)
    assert state.utilization == pytest.approx(0.7, rel=0.05)


def test_the_search_returns_the_fewest_replicas_that_meet_the_slo() -> None:
    slo = parse_slo("wait_p99<=2s")
    workload = poisson(3.0, 20_000)
    state = min_replicas_by_simulation(ONE_AT_A_TIME, workload, slo, max_replicas=50)
    assert state.slo_met
    assert not simulated_state(ONE_AT_A_TIME, workload, state.replicas - 1, slo).slo_met
    # Each replica queues its own requests (join the shortest queue), which cannot beat the
    # one shared queue of M/M/c: at least the 5 replicas Erlang C needs (docs/plan.md).
    assert state.replicas >= min_replicas(3.0, 1.0, slo.objectives).replicas == 5


def test_overload_is_unstable_and_an_unreachable_slo_a_config_error() -> None:
    assert not simulated_state(ONE_AT_A_TIME, poisson(3.0, 5000), 2).stable
    with pytest.raises(ConfigError, match="max-replicas"):
        min_replicas_by_simulation(
            ONE_AT_A_TIME, poisson(3.0, 2000), parse_slo("e2e_p50<=10ms"), max_replicas=4
        )
