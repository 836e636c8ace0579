import math

import numpy as np
import pytest

from slokit.errors import ConfigError
from slokit.gate import DEFAULT_METRICS, MetricSpec, RunSamples, parse_metric, parse_metrics
from slokit.results import RequestRecord


def test_metric_names_parse() -> None:
    assert parse_metric("e2e_s.p99") == MetricSpec(metric="e2e_s", statistic="p99")
    assert parse_metric(" ttft_s.p99.9 ").name == "ttft_s.p99_9"
    assert parse_metric("error_rate").quantile is None
    assert parse_metric("tpot_s.mean").quantile is None
    assert parse_metric("itl_s.p95").quantile == 0.95
    assert [spec.name for spec in parse_metrics(DEFAULT_METRICS)] == list(DEFAULT_METRICS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency.p99", "unknown metric 'latency'"),
        ("e2e_s.p42", "unknown statistic 'p42'"),
        ("e2e_s", "needs a statistic"),
        ("error_rate.p99", "takes no statistic"),
        ("e2e.p99", "use one of ttft_s, tpot_s, itl_s, e2e_s"),
    ],
)
def test_bad_metric_names_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_metric(text)


def test_metric_lists_split_commas_and_drop_repeats() -> None:
    names = [s.name for s in parse_metrics(["e2e_s.p99,ttft_s.p50", "e2e_s.p99", " "])]
    assert names == ["e2e_s.p99", "ttft_s.p50"]
    with pytest.raises(ConfigError, match="no metric"):
        parse_metrics([","])


@pytest.mark.parametrize(
    ("name", "minimum", "recommended"),
    [
        ("e2e_s.p99", 100, 5_000),
        ("e2e_s.p99_9", 1_000, 50_000),
        ("e2e_s.p50", 2, 100),
        ("e2e_s.p90", 10, 500),
        ("e2e_s.mean", 2, 100),
    ],
)
def test_sample_sizes_follow_the_tail_of_the_quantile(
    name: str, minimum: int, recommended: int
) -> None:
    spec = parse_metric(name)
    assert (spec.min_samples, spec.recommended_samples) == (minimum, recommended)


def test_samples_of_records_keep_successful_requests_and_largest_gaps() -> None:
    def record(i: int, *, tokens: int, gap_s: float, error: str | None = None) -> RequestRecord:
        chunks = tuple(0.1 + k * gap_s for k in range(tokens))
        return RequestRecord(
            request_id=i,
            scheduled_s=0.0,
            sent_s=0.0,
            first_token_s=chunks[0] if tokens else None,
            chunk_times_s=chunks,
            end_s=chunks[-1] if tokens else 0.5,
            output_tokens=tokens,
            error=error,
        )

    samples = RunSamples.of_records(
        [
            record(0, tokens=3, gap_s=0.02),
            record(1, tokens=1, gap_s=0.02),  # one token: no tpot, no gap
            record(2, tokens=0, gap_s=0.0, error="timeout"),
        ]
    )
    assert (samples.failed, samples.total) == (1, 3)
    assert samples.ttft_s.tolist() == pytest.approx([0.1, 0.1])
    assert samples.tpot_s.tolist() == pytest.approx([0.02])
    assert samples.itl_s.tolist() == pytest.approx([0.02])
    assert samples.e2e_s.tolist() == pytest.approx([0.14, 0.1])


def test_samples_reject_bad_values() -> None:
    fine = np.array([0.1, 0.2])

    def samples(e2e_s: np.ndarray, *, failed: int = 0) -> RunSamples:
        return RunSamples(ttft_s=fine, tpot_s=fine, itl_s=fine, e2e_s=e2e_s, failed=failed, total=2)

    with pytest.raises(ConfigError, match="finite"):
        samples(np.array([0.1, math.inf]))
    with pytest.raises(ConfigError, match="negative latency"):
        samples(np.array([0.1, -0.2]))
    with pytest.raises(ConfigError, match="failed"):
        samples(fine, failed=3)
    with pytest.raises(ConfigError, match="not a latency metric"):
        samples(fine).values("error_rate")
