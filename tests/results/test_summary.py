import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.results import RequestRecord
from slokit.results.summary import Columns, good_mask, summarize_run
from slokit.slo import parse_slo
from slokit.slo.verdict import judge_request

SLO = parse_slo("ttft<=200ms, tpot<=50ms, e2e_p99<=2s")


def streamed(
    i: int, *, ttft: float, itl: float, tokens: int, error: str | None = None
) -> RequestRecord:
    sent = float(i)
    chunks = tuple(sent + ttft + k * itl for k in range(tokens)) if error is None else ()
    return RequestRecord(
        request_id=i,
        scheduled_s=sent,
        sent_s=sent,
        first_token_s=chunks[0] if chunks else None,
        chunk_times_s=chunks,
        end_s=chunks[-1] if chunks else sent + 0.01,
        prompt_tokens=10,
        output_tokens=tokens if error is None else 0,
        error=error,
        status=200 if error is None else 500,
    )


def test_summary_counts_goodput_and_percentiles() -> None:
    records = [
        streamed(0, ttft=0.1, itl=0.02, tokens=11),  # good
        streamed(1, ttft=0.3, itl=0.02, tokens=11),  # ttft too slow
        streamed(2, ttft=0.1, itl=0.08, tokens=11),  # tpot too slow
        streamed(3, ttft=0.1, itl=0.02, tokens=1),  # one token: tpot undefined, still good
        streamed(4, ttft=0.1, itl=0.02, tokens=5, error="http_5xx"),
    ]
    summary = summarize_run(records, duration_s=10.0, slo=SLO)
    assert summary["requests"] == {
        "total": 5,
        "completed": 4,
        "failed": 1,
        "good": 2,
        "errors": {"http_5xx": 1},
    }
    assert summary["goodput"] == pytest.approx(0.2)
    assert summary["goodput_tokens"] == pytest.approx((11 + 1) / 10)
    assert summary["request_throughput"] == pytest.approx(0.4)
    assert summary["output_token_throughput"] == pytest.approx((11 * 3 + 1) / 10)
    assert summary["slo_attainment"] == pytest.approx(2 / 5)
    low, high = summary["slo_attainment_interval"]
    assert low < 0.4 < high
    ttft = summary["ttft_s"]
    assert ttft["count"] == 4  # the failed request has no TTFT and is excluded
    assert ttft["p50"] == pytest.approx(0.1)
    assert ttft["max"] == pytest.approx(0.3)
    # ITL pools the gaps of successful requests: 10 + 10 + 10 + 0.
    assert summary["itl_s"]["count"] == 30
    (objective,) = summary["objectives"]
    assert objective["objective"] == "e2e_p99<=2s"
    assert objective["met"] is True
    assert objective["observed_s"] == pytest.approx(np.percentile([0.3, 0.5, 0.9, 0.1], 99))


def test_no_slo_means_every_success_is_good() -> None:
    records = [streamed(i, ttft=5.0, itl=1.0, tokens=3) for i in range(3)]
    summary = summarize_run(records, duration_s=3.0, slo=None)
    assert summary["goodput"] == pytest.approx(1.0)
    assert summary["objectives"] == []


def test_empty_run_is_a_result_not_an_error() -> None:
    summary = summarize_run([], duration_s=1.0, slo=SLO)
    assert summary["requests"]["total"] == 0
    assert summary["goodput"] == 0
    assert math.isnan(summary["slo_attainment"])
    assert summary["ttft_s"]["count"] == 0


@given(
    rows=st.lists(
        st.tuples(
            st.floats(0.0, 0.5),
            st.floats(0.0, 0.1),
            st.integers(1, 20),
            st.booleans(),
        ),
        max_size=30,
    ),
    strict=st.booleans(),
)
@settings(deadline=None)
def test_vectorised_verdict_agrees_with_judge_request(
    rows: list[tuple[float, float, int, bool]], strict: bool
) -> None:
    op = "<" if strict else "<="
    spec = parse_slo(f"ttft{op}200ms, tpot{op}50ms, itl{op}60ms, e2e{op}1s")
    records = [
        streamed(i, ttft=ttft, itl=itl, tokens=tokens, error=None if ok else "connect")
        for i, (ttft, itl, tokens, ok) in enumerate(rows)
    ]
    mask = good_mask(Columns.of(records), spec)
    expected = [judge_request(spec, r.metric_values(), ok=r.ok).good for r in records]
    assert mask.tolist() == expected
