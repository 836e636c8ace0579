"""Records read into columns: per-request values and pooled inter-token gaps."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from slokit.report import columns as columns_module
from slokit.report.columns import read_columns
from slokit.results import RequestRecord

MakeRecords = Callable[..., list[RequestRecord]]


def pooled_gaps(records: list[RequestRecord]) -> list[float]:
    return [gap for r in records if r.ok for gap in r.itl_s]


@pytest.mark.parametrize("batch", [1, 7, 1 << 20])
def test_gaps_pool_every_successful_request(
    make_records: MakeRecords, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    # A batch flushes after whole requests; small ones flush after every request or few.
    monkeypatch.setattr(columns_module, "_CHUNK_BATCH", batch)
    records = make_records(300, chunks=5)
    read = read_columns(records, itl_limit=10_000, rng=np.random.default_rng(0))
    assert read.itl_exact
    assert read.itl_seen == read.itl_s.size
    assert np.allclose(read.itl_s, pooled_gaps(records))


def test_per_request_values(make_records: MakeRecords) -> None:
    records = make_records(200)
    read = read_columns(records, itl_limit=10, rng=np.random.default_rng(0))
    assert read.count == 200
    assert read.ok.tolist() == [r.ok for r in records]
    for name in ("ttft", "tpot", "e2e"):
        sent_s, values = read.successful(name)
        expected = [
            (r.sent_s, getattr(r, f"{name}_s"))
            for r in records
            if r.ok and getattr(r, f"{name}_s") is not None
        ]
        assert sent_s.tolist() == [s for s, _ in expected]
        assert np.allclose(values, [v for _, v in expected])
    failed = [r for r in records if not r.ok]
    assert sum(read.errors.values()) == len(failed)
    assert list(read.errors.values()) == sorted(read.errors.values(), reverse=True)
    assert math.isnan(read.ttft_s[records.index(failed[0])])


def test_gaps_beyond_the_limit_are_sampled(make_records: MakeRecords) -> None:
    records = make_records(2_000, chunks=11)
    read = read_columns(records, itl_limit=1_000, rng=np.random.default_rng(0))
    assert read.itl_seen == len(pooled_gaps(records))
    assert not read.itl_exact
    assert read.itl_s.size <= 2_000


def test_one_token_and_unstreamed_requests_have_no_gaps() -> None:
    records = [
        RequestRecord(request_id=0, scheduled_s=0, sent_s=0, first_token_s=0.2, end_s=1.0),
        RequestRecord(
            request_id=1,
            scheduled_s=0,
            sent_s=0,
            first_token_s=0.2,
            end_s=0.2,
            chunk_times_s=(0.2,),
            output_tokens=1,
        ),
    ]
    read = read_columns(records, itl_limit=10, rng=np.random.default_rng(0))
    assert read.itl_seen == 0
    assert read.itl_s.size == 0
    assert np.isnan(read.tpot_s).all()
