import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.bench.sweep import SweepConfig, SweepPoint, knee_rate, sweep
from slokit.errors import ConfigError


def server_with_capacity(capacity: float) -> tuple[list[float], object]:
    """A fake endpoint: every request is good below ``capacity``, goodput saturates above."""
    asked: list[float] = []

    def measure(rate: float) -> SweepPoint:
        asked.append(rate)
        attainment = 1.0 if rate <= capacity else capacity / rate * 0.9
        return SweepPoint(rate=rate, slo_attainment=attainment, goodput=min(rate, capacity))

    return asked, measure


@given(capacity=st.floats(0.3, 3000.0), start=st.floats(0.5, 10.0))
@settings(deadline=None, max_examples=60)
def test_finds_capacity_within_tolerance(capacity: float, start: float) -> None:
    asked, measure = server_with_capacity(capacity)
    config = SweepConfig(start_rate=start, max_rate=8192, max_points=40)
    result = sweep(measure, config)  # type: ignore[arg-type]
    assert result.max_rate is not None
    assert result.max_rate <= capacity
    assert result.max_rate >= capacity / (1 + config.relative_tolerance) * 0.999
    rates = [p.rate for p in result.points]
    assert rates == sorted(rates)
    assert len(rates) == len(asked)
    assert result.capacity_per_replica == result.max_rate


def test_ceiling_and_point_budget() -> None:
    _, measure = server_with_capacity(1e9)
    result = sweep(measure, SweepConfig(start_rate=1, max_rate=64))  # type: ignore[arg-type]
    assert result.hit_ceiling
    assert result.max_rate == 64
    asked, measure = server_with_capacity(1000)
    config = SweepConfig(start_rate=1, max_points=5)
    result = sweep(measure, config)  # type: ignore[arg-type]
    assert len(asked) == 5
    assert result.max_rate == 16


def test_capacity_per_replica_divides_by_replicas() -> None:
    _, measure = server_with_capacity(40)
    result = sweep(measure, SweepConfig(start_rate=5, replicas=4))  # type: ignore[arg-type]
    assert result.max_rate is not None
    assert result.capacity_per_replica == pytest.approx(result.max_rate / 4)


def test_knee_is_where_goodput_stops_growing() -> None:
    points = tuple(
        SweepPoint(rate=r, slo_attainment=1.0, goodput=min(r, 10.0)) for r in (2, 4, 8, 10, 16)
    )
    assert knee_rate(points, 0.95) == 10
    assert knee_rate(points, 0.5) == 8
    assert knee_rate((), 0.95) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_rate": 0},
        {"start_rate": 10, "max_rate": 5},
        {"target_attainment": 1.5},
        {"relative_tolerance": 0},
        {"replicas": 0},
    ],
)
def test_bad_config_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="sweep"):
        SweepConfig(**kwargs)  # type: ignore[arg-type]
