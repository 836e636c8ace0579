"""The sliding time window autoscalers average over."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.policies import ScalingSnapshot, TimeWindow


@given(values=st.lists(st.floats(0, 1000), min_size=1, max_size=60), window=st.integers(1, 20))
def test_mean_is_the_mean_of_the_samples_inside_the_window(
    values: list[float], window: int
) -> None:
    averaged = TimeWindow(float(window))
    for second, value in enumerate(values):
        averaged.record(float(second), value)
    inside = values[-window:]
    assert averaged.mean() == pytest.approx(sum(inside) / len(inside), rel=1e-9, abs=1e-9)
    oldest = averaged.oldest()
    assert oldest is not None
    assert oldest[0] == len(values) - len(inside)


def test_an_empty_window_reads_zero_and_a_bad_one_is_refused() -> None:
    assert TimeWindow(5.0).mean() == 0.0
    with pytest.raises(ConfigError):
        TimeWindow(0.0)


def test_snapshot_counts_starting_replicas_as_asked_for() -> None:
    assert ScalingSnapshot(ready_replicas=2, starting_replicas=3).replicas == 5
