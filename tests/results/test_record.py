import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import DataError
from slokit.results import RequestRecord


def make(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": 7,
        "scheduled_s": 1.0,
        "sent_s": 1.002,
        "end_s": 1.5,
        "first_token_s": 1.1,
        "chunk_times_s": (1.1, 1.2, 1.35, 1.5),
        "prompt_tokens": 30,
        "output_tokens": 4,
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def test_derived_metrics_follow_vllm_definitions() -> None:
    record = make()
    assert record.ttft_s == pytest.approx(0.098)
    assert record.e2e_s == pytest.approx(0.498)
    # (e2e - ttft) / (n - 1) = 0.4 / 3
    assert record.tpot_s == pytest.approx(0.4 / 3)
    assert record.itl_s == pytest.approx((0.1, 0.15, 0.15))
    assert record.schedule_lag_s == pytest.approx(0.002)
    assert record.ok


def test_tpot_undefined_below_two_tokens_and_ttft_without_tokens() -> None:
    assert make(output_tokens=1).tpot_s is None
    failed = make(first_token_s=None, chunk_times_s=(), output_tokens=0, error="http_5xx")
    assert failed.ttft_s is None
    assert failed.tpot_s is None
    assert not failed.ok
    assert failed.metric_values()["itl"] is None


def test_metric_values_use_the_largest_gap_for_itl() -> None:
    values = make().metric_values()
    assert values["itl"] == pytest.approx(0.15)
    assert values["e2e"] == pytest.approx(0.498)
    assert values["wait"] is None


@given(
    sent=st.floats(0, 1e4),
    gaps=st.lists(st.floats(1e-6, 10), min_size=0, max_size=20),
    tokens=st.integers(0, 10_000),
    counted=st.booleans(),
    wait=st.none() | st.floats(0, 100),
)
def test_json_round_trip(
    sent: float, gaps: list[float], tokens: int, counted: bool, wait: float | None
) -> None:
    chunks = []
    now = sent
    for gap in gaps:
        now += gap
        chunks.append(now)
    record = make(
        scheduled_s=sent,
        sent_s=sent,
        first_token_s=chunks[0] if chunks else None,
        chunk_times_s=tuple(chunks),
        end_s=now + 0.5,
        output_tokens=tokens,
        output_tokens_counted=counted,
        wait_s=wait,
    )
    back = RequestRecord.from_json(record.to_json())
    assert back.request_id == record.request_id
    assert back.output_tokens == tokens
    assert back.output_tokens_counted == counted
    assert len(back.chunk_times_s) == len(chunks)
    for a, b in zip(back.chunk_times_s, chunks, strict=True):
        assert math.isclose(a, b, abs_tol=2e-6)
    assert math.isclose(back.e2e_s, record.e2e_s, abs_tol=2e-6)
    assert (back.wait_s is None) == (wait is None)


@pytest.mark.parametrize(
    "data",
    [
        {"sent_s": 1.0, "end_s": 2.0},  # no id
        {"id": 1, "sent_s": "soon", "end_s": 2.0},
        {"id": 1, "sent_s": 1.0, "end_s": float("inf")},
    ],
)
def test_malformed_records_raise_data_error(data: dict[str, object]) -> None:
    with pytest.raises(DataError):
        RequestRecord.from_json(data)
