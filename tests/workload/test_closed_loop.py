from __future__ import annotations

import numpy as np
import pytest

from slokit.errors import ConfigError
from slokit.workload import ClosedLoop, ThinkTime


def test_a_fixed_think_time_is_exact() -> None:
    assert ThinkTime(mean_s=2).sample(0, 3).tolist() == [2.0, 2.0, 2.0]
    assert ThinkTime().sample(0, 2).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0])
def test_a_random_think_time_has_the_requested_mean_and_cv(cv: float) -> None:
    think_s = ThinkTime(mean_s=3, cv=cv).sample(1, 200_000)
    assert think_s.mean() == pytest.approx(3, rel=0.02)
    assert think_s.std() / think_s.mean() == pytest.approx(cv, rel=0.03)


def test_each_user_has_a_reproducible_sequence_whatever_the_reply_order() -> None:
    loop = ClosedLoop(users=3, think_time=ThinkTime(mean_s=1, cv=1))
    in_order = loop.think_sampler(seed=5)
    user_0 = [in_order.next_s(0) for _ in range(4)]
    interleaved = loop.think_sampler(seed=5)
    mixed = []
    for _ in range(4):
        interleaved.next_s(2)
        mixed.append(interleaved.next_s(0))
    assert mixed == user_0
    assert loop.think_sampler(seed=6).next_s(0) != user_0[0]
    with pytest.raises(ConfigError, match="user must be in"):
        in_order.next_s(3)


def test_users_start_spread_evenly_over_the_ramp_up() -> None:
    assert ClosedLoop(users=4, ramp_up_s=8).start_offsets_s().tolist() == [0, 2, 4, 6]
    assert np.all(ClosedLoop(users=2).start_offsets_s() == 0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ClosedLoop(users=0), "users"),
        (lambda: ClosedLoop(users=1, ramp_up_s=-1), "ramp"),
        (lambda: ThinkTime(mean_s=-1), "mean"),
        (lambda: ThinkTime(mean_s=1, cv=float("nan")), "cv"),
        (lambda: ClosedLoop(users=1).think_sampler(seed=-1), "seed"),
    ],
)
def test_invalid_closed_loops_raise_config_errors(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]
