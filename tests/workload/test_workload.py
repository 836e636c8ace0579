from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.workload import (
    ClosedLoop,
    FixedTokens,
    GammaArrivals,
    LognormalTokens,
    PoissonArrivals,
    ReplayTokens,
    RequestKind,
    RequestPlan,
    Sessions,
    SharedPrefix,
    TraceArrivals,
    UniformTokens,
    Workload,
    load_trace,
)


def _workload(**overrides: object) -> Workload:
    settings: dict[str, object] = {
        "arrivals": PoissonArrivals(rate_per_s=10),
        "prompt_tokens": LognormalTokens(mean_tokens=200, cv=1, max_tokens=2000),
        "output_tokens": UniformTokens(low_tokens=10, high_tokens=100),
        "count": 1000,
        "seed": 1,
    }
    settings.update(overrides)
    return Workload(**settings)  # type: ignore[arg-type]


def _same(first: RequestPlan, second: RequestPlan) -> bool:
    return all(
        np.array_equal(a, b)
        for a, b in zip(first.columns().values(), second.columns().values(), strict=True)
    )


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    workload = _workload(
        shared_prefix=SharedPrefix(groups=3, prefix_tokens=50, fraction=0.5),
        repeat_fraction=0.2,
        paraphrase_fraction=0.1,
    )
    assert _same(workload.plan(), workload.plan())
    assert not _same(workload.plan(), _workload(seed=2).plan())


def test_changing_one_concern_leaves_the_others_draws_alone() -> None:
    base = _workload().plan()
    other_outputs = _workload(output_tokens=FixedTokens(tokens=7)).plan()
    assert np.array_equal(base.arrival_s, other_outputs.arrival_s)
    assert np.array_equal(base.prompt_tokens, other_outputs.prompt_tokens)


def test_a_million_numeric_requests_take_well_under_two_seconds() -> None:
    workload = _workload(
        arrivals=GammaArrivals(rate_per_s=100, cv=2),
        count=1_000_000,
        shared_prefix=SharedPrefix(groups=16, prefix_tokens=256, fraction=0.5),
        repeat_fraction=0.1,
        paraphrase_fraction=0.1,
    )
    started = time.perf_counter()
    plan = workload.plan()
    assert time.perf_counter() - started < 1.5
    assert len(plan) == 1_000_000


def test_a_duration_sets_the_plan_length() -> None:
    plan = _workload(count=None, duration_s=100).plan()
    assert len(plan) == pytest.approx(1000, rel=0.1)
    assert plan.arrival_s.max() <= 100


def test_repeat_and_paraphrase_fractions_and_originals() -> None:
    plan = _workload(count=100_000, repeat_fraction=0.2, paraphrase_fraction=0.1).plan()
    counts = plan.kind_counts()
    assert counts["repeat"] / len(plan) == pytest.approx(0.2, abs=0.01)
    assert counts["paraphrase"] / len(plan) == pytest.approx(0.1, abs=0.01)
    assert sum(counts.values()) == len(plan)
    assert plan.kind[0] == RequestKind.FRESH
    copies = np.flatnonzero(plan.kind != RequestKind.FRESH)
    originals = plan.original_id[copies]
    assert (originals < copies).all()
    assert (plan.kind[originals] == RequestKind.FRESH).all()
    assert (plan.original_id[plan.kind == RequestKind.FRESH] == -1).all()
    for column in (plan.prompt_tokens, plan.output_tokens, plan.group_id):
        assert np.array_equal(column[copies], column[originals])
    # Originals are drawn uniformly from the earlier fresh requests, not only the latest ones.
    assert np.median(copies - originals) > 10_000


def test_shared_prefix_groups_add_their_prefix_to_the_prompt() -> None:
    plan = _workload(
        count=20_000,
        prompt_tokens=FixedTokens(tokens=30),
        shared_prefix=SharedPrefix(groups=4, prefix_tokens=100, fraction=0.75),
    ).plan()
    grouped = plan.group_id >= 0
    assert grouped.mean() == pytest.approx(0.75, abs=0.02)
    assert set(plan.group_id[grouped].tolist()) == {0, 1, 2, 3}
    assert (plan.prefix_tokens[grouped] == 100).all()
    assert (plan.prefix_tokens[~grouped] == 0).all()
    assert np.array_equal(plan.prompt_tokens, plan.prefix_tokens + 30)


def test_sessions_deal_turns_in_waves_and_carry_history() -> None:
    plan = _workload(
        count=14,
        prompt_tokens=FixedTokens(tokens=10),
        output_tokens=FixedTokens(tokens=5),
        sessions=Sessions(sessions=2, turns=3),
    ).plan()
    assert plan.session_id.tolist() == [0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 4, 5]
    assert plan.turn.tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 0, 0]
    assert plan.previous_id.tolist() == [-1, -1, 0, 1, 2, 3, -1, -1, 6, 7, 8, 9, -1, -1]
    assert plan.history_tokens.tolist()[:6] == [0, 0, 15, 15, 30, 30]
    assert plan.prompt_tokens.tolist()[:6] == [10, 10, 25, 25, 40, 40]


def test_a_session_keeps_its_prefix_group() -> None:
    plan = _workload(
        count=3000,
        sessions=Sessions(sessions=10, turns=4),
        shared_prefix=SharedPrefix(groups=5, prefix_tokens=20),
    ).plan()
    turns = plan.turn > 0
    assert np.array_equal(plan.group_id[turns], plan.group_id[plan.previous_id[turns]])


def test_a_closed_loop_plan_has_every_request_ready_at_zero() -> None:
    loop = ClosedLoop(users=4)
    plan = _workload(arrivals=loop, count=50).plan()
    assert plan.closed_loop == loop
    assert (plan.arrival_s == 0).all()
    with pytest.raises(ConfigError, match="closed-loop workload needs a request count"):
        _workload(arrivals=loop, count=None, duration_s=10)


def test_replay_keeps_token_counts_paired_with_their_rows(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    arrivals = TraceArrivals(trace=trace, start_s=1.0, max_requests=4)
    plan = _workload(
        arrivals=arrivals,
        prompt_tokens=ReplayTokens(),
        output_tokens=ReplayTokens(max_tokens=100),
        count=100,
    ).plan()
    assert plan.arrival_s.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert plan.prompt_tokens.tolist() == trace.token_column("prompt_tokens")[2:6].tolist()
    expected_outputs = np.minimum(trace.token_column("output_tokens")[2:6], 100)
    assert plan.output_tokens.tolist() == expected_outputs.tolist()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"prompt_tokens": ReplayTokens()}, "replay needs trace arrivals"),
        ({"repeat_fraction": 1.5}, "repeat_fraction"),
        ({"repeat_fraction": 0.6, "paraphrase_fraction": 0.6}, "<= 1"),
        ({"sessions": Sessions(sessions=1, turns=2), "repeat_fraction": 0.1}, "single-turn"),
        ({"seed": -3}, "seed"),
        ({"count": None}, "count"),
    ],
)
def test_invalid_workloads_raise_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _workload(**overrides)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SharedPrefix(groups=0, prefix_tokens=5), "groups"),
        (lambda: SharedPrefix(groups=1, prefix_tokens=0), "prefix_tokens"),
        (lambda: SharedPrefix(groups=1, prefix_tokens=1, fraction=2), "fraction"),
        (lambda: Sessions(sessions=0, turns=1), "sessions"),
    ],
)
def test_invalid_parts_raise_config_errors(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


class _ZeroTokens:
    """A sampler that breaks the contract: every count is 0."""

    def sample(self, rng: object, count: int) -> np.ndarray:
        del rng
        return np.zeros(count, dtype=np.int64)

    @property
    def spec(self) -> str:
        return "zero"


def test_a_custom_sampler_that_returns_zero_tokens_is_refused() -> None:
    with pytest.raises(ConfigError, match="each >= 1"):
        _workload(output_tokens=_ZeroTokens()).plan()


def test_a_replay_column_must_exist_in_the_trace(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("arrived_at,num_prefill_tokens\n0,5\n1,6\n")
    with pytest.raises(ConfigError, match="no token column"):
        _workload(arrivals=TraceArrivals(trace=load_trace(path)), output_tokens=ReplayTokens())


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 300),
    seed=st.integers(0, 2**31),
    repeat=st.floats(0, 0.5),
    paraphrase=st.floats(0, 0.5),
    groups=st.none() | st.integers(1, 5),
)
def test_single_turn_plans_conserve_counts_and_token_sums(
    count: int, seed: int, repeat: float, paraphrase: float, groups: int | None
) -> None:
    plan = _workload(
        count=count,
        seed=seed,
        repeat_fraction=repeat,
        paraphrase_fraction=paraphrase,
        shared_prefix=None if groups is None else SharedPrefix(groups=groups, prefix_tokens=7),
    ).plan()
    assert all(len(column) == count for column in plan.columns().values())
    assert sum(plan.kind_counts().values()) == count
    assert (np.diff(plan.arrival_s) >= 0).all()
    assert (plan.new_tokens >= 1).all()
    assert (plan.output_tokens >= 1).all()
    assert np.array_equal(
        plan.prompt_tokens, plan.prefix_tokens + plan.history_tokens + plan.new_tokens
    )


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 300),
    sessions=st.integers(1, 6),
    turns=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_session_plans_keep_turn_order_and_growing_history(
    count: int, sessions: int, turns: int, seed: int
) -> None:
    plan = _workload(
        count=count, seed=seed, sessions=Sessions(sessions=sessions, turns=turns)
    ).plan()
    later = np.flatnonzero(plan.turn > 0)
    previous = plan.previous_id[later]
    assert (previous < later).all()
    assert np.array_equal(plan.session_id[previous], plan.session_id[later])
    assert np.array_equal(plan.turn[previous] + 1, plan.turn[later])
    assert np.array_equal(
        plan.history_tokens[later],
        plan.history_tokens[previous] + plan.new_tokens[previous] + plan.output_tokens[previous],
    )
    assert (plan.turn < turns).all()
    assert (plan.prompt_tokens >= 1).all()
    first_turns = plan.session_id[plan.turn == 0]
    assert len(np.unique(first_turns)) == len(first_turns)
