"""Balancers: least outstanding, round robin, prefix affinity with bounded load."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.policies import (
    LeastOutstandingBalancer,
    PrefixAffinityBalancer,
    PrefixAffinityConfig,
    RoundRobinBalancer,
    affinity_score,
)


@dataclass
class Endpoint:
    replica_id: str
    outstanding_requests: int = 0


def endpoints(*loads: int) -> list[Endpoint]:
    return [Endpoint(f"r{i}", load) for i, load in enumerate(loads)]


@given(loads=st.lists(st.integers(0, 50), min_size=1, max_size=12), calls=st.integers(1, 5))
def test_least_outstanding_always_picks_a_minimum(loads: list[int], calls: int) -> None:
    balancer = LeastOutstandingBalancer()
    for _ in range(calls):
        position = balancer.choose(endpoints(*loads), None, 0.0)
        assert loads[position] == min(loads)


def test_least_outstanding_rotates_ties() -> None:
    balancer = LeastOutstandingBalancer()
    picks = [balancer.choose(endpoints(0, 0, 0), None, 0.0) for _ in range(6)]
    assert Counter(picks) == {0: 2, 1: 2, 2: 2}


def test_round_robin_takes_turns() -> None:
    balancer = RoundRobinBalancer()
    assert [balancer.choose(endpoints(5, 0, 9), None, 0.0) for _ in range(4)] == [0, 1, 2, 0]


def test_affinity_sends_a_key_to_the_same_replica_while_loads_are_even() -> None:
    balancer = PrefixAffinityBalancer()
    replicas = endpoints(3, 3, 3, 3)
    picks = {key: balancer.choose(replicas, key, 0.0) for key in range(200)}
    again = {key: balancer.choose(replicas, key, 1.0) for key in range(200)}
    assert picks == again
    # Rendezvous hashing spreads keys over every replica.
    assert set(picks.values()) == {0, 1, 2, 3}
    expected = max(range(4), key=lambda p: affinity_score(7, replicas[p].replica_id))
    assert picks[7] == expected


def test_affinity_moves_only_the_keys_of_a_removed_replica() -> None:
    balancer = PrefixAffinityBalancer()
    four = endpoints(0, 0, 0, 0)
    before = {key: four[balancer.choose(four, key, 0.0)].replica_id for key in range(300)}
    three = [four[0], four[1], four[3]]
    after = {key: three[balancer.choose(three, key, 0.0)].replica_id for key in range(300)}
    for key, replica in before.items():
        if replica != "r2":
            assert after[key] == replica


@settings(max_examples=60)
@given(
    loads=st.lists(st.integers(0, 40), min_size=2, max_size=8),
    key=st.integers(0, 10_000),
    factor=st.floats(1.0, 3.0),
)
def test_affinity_never_exceeds_the_load_bound(loads: list[int], key: int, factor: float) -> None:
    balancer = PrefixAffinityBalancer(PrefixAffinityConfig(load_factor=factor))
    replicas = endpoints(*loads)
    position = balancer.choose(replicas, key, 0.0)
    bound = -(-factor * (sum(loads) + 1) // len(loads))
    # Either within the bound, or the least-loaded replica (the fallback).
    assert loads[position] + 1 <= bound or loads[position] == min(loads)


def test_affinity_falls_back_to_least_outstanding_when_the_preferred_is_hot() -> None:
    balancer = PrefixAffinityBalancer()
    replicas = endpoints(0, 0, 0)
    preferred = balancer.choose(replicas, "system-prompt-1", 0.0)
    replicas[preferred].outstanding_requests = 30
    moved = balancer.choose(replicas, "system-prompt-1", 0.0)
    assert moved != preferred
    assert replicas[moved].outstanding_requests == 0
    assert balancer.choose(replicas, None, 0.0) != preferred


def test_a_load_factor_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="load_factor"):
        PrefixAffinityConfig(load_factor=0.5)


@dataclass
class WeightedEndpoint:
    replica_id: str
    outstanding_requests: int
    weight: float


def test_least_outstanding_divides_the_load_by_a_replica_weight() -> None:
    replicas = [WeightedEndpoint("small", 2, 1.0), WeightedEndpoint("big", 3, 4.0)]
    balancer = LeastOutstandingBalancer()
    assert [balancer.choose(replicas, None, 0.0) for _ in range(4)] == [1, 1, 1, 1]
