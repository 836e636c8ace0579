"""Synthetic runs for the report tests: records from a seeded generator, summaries from numpy."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slokit.results import RecordWriter, RequestRecord, write_json_atomic

ERROR_CLASSES = ("timeout", "http_5xx", "connect")
DURATION_S = 60.0

MakeRun = Callable[..., Path]


def synthetic_records(count: int, *, chunks: int = 8, seed: int = 7) -> list[RequestRecord]:
    """``count`` requests spread over a minute; about 3% fail, the others stream ``chunks``."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        sent_s = index * DURATION_S / count
        if rng.random() < 0.03:
            records.append(
                RequestRecord(
                    request_id=index,
                    scheduled_s=sent_s,
                    sent_s=sent_s,
                    end_s=sent_s + rng.uniform(0.1, 2.0),
                    status=0,
                    error=rng.choice(ERROR_CLASSES),
                )
            )
            continue
        times_s = [sent_s + rng.lognormvariate(-2.0, 0.4)]
        for _ in range(chunks - 1):
            times_s.append(times_s[-1] + rng.expovariate(50.0))
        records.append(
            RequestRecord(
                request_id=index,
                scheduled_s=sent_s,
                sent_s=sent_s,
                first_token_s=times_s[0],
                end_s=times_s[-1],
                chunk_times_s=tuple(times_s),
                prompt_tokens=100,
                output_tokens=chunks,
            )
        )
    return records


def distribution(values: list[float]) -> dict[str, float]:
    """The summary statistics of ``values``, as results.json holds them (seconds)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"count": 0.0}  # no statistics: results.json writes them as null
    percentiles = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p99_9": 99.9}
    return {
        "count": float(array.size),
        "mean": float(array.mean()),
        "std": float(array.std()),
        "min": float(array.min()),
        "max": float(array.max()),
        **{key: float(np.percentile(array, q)) for key, q in percentiles.items()},
    }


def independent_summary(records: list[RequestRecord]) -> dict[str, Any]:
    """A summary computed here from the records' raw times, not by slokit's own code."""
    ok = [r for r in records if r.error is None]
    assert all(r.first_token_s is not None for r in ok)
    ttft = [r.first_token_s - r.sent_s for r in ok]  # type: ignore[operator]
    e2e = [r.end_s - r.sent_s for r in ok]
    tpot = [(e - t) / (r.output_tokens - 1) for r, t, e in zip(ok, ttft, e2e, strict=True)]
    itl = [b - a for r in ok for a, b in zip(r.chunk_times_s, r.chunk_times_s[1:], strict=False)]
    good = [r for r, t in zip(ok, ttft, strict=True) if t <= 0.2]
    errors: dict[str, int] = {}
    for record in records:
        if record.error is not None:
            errors[record.error] = errors.get(record.error, 0) + 1
    return {
        "duration_s": DURATION_S,
        "requests": {
            "total": len(records),
            "completed": len(ok),
            "failed": len(records) - len(ok),
            "good": len(good),
            "errors": errors,
        },
        "request_throughput": len(ok) / DURATION_S,
        "output_token_throughput": sum(r.output_tokens for r in ok) / DURATION_S,
        "goodput": len(good) / DURATION_S,
        "goodput_tokens": sum(r.output_tokens for r in good) / DURATION_S,
        "slo_attainment": len(good) / len(records),
        "slo_attainment_interval": [len(good) / len(records) - 0.01, len(good) / len(records)],
        "ttft_s": distribution(ttft),
        "tpot_s": distribution(tpot),
        "itl_s": distribution(itl),
        "e2e_s": distribution(e2e),
        "objectives": [
            {
                "objective": "ttft_p99<=500ms",
                "observed_s": float(np.percentile(ttft, 99)),
                "met": True,
            }
        ],
    }


def results_document(summary: dict[str, Any], *, model: str, **extra: Any) -> dict[str, Any]:
    """A results.json document around ``summary``; ``extra`` adds or replaces top-level keys."""
    return {
        "schema_version": 1,
        "kind": "bench",
        "created_at": "2025-03-01T12:00:00+00:00",
        "tool": {"name": "slokit", "version": "0.1.0"},
        "config": {"base_url": "http://localhost:8000", "model": model, "rate": 20.0},
        "slo": "ttft<=200ms",
        "requests_file": "requests.jsonl",
        "summary": summary,
        **extra,
    }


@pytest.fixture
def make_records() -> Callable[..., list[RequestRecord]]:
    """``make_records(count, chunks=8, seed=7)``: see :func:`synthetic_records`."""
    return synthetic_records


@pytest.fixture
def summary_of() -> Callable[[list[RequestRecord]], dict[str, Any]]:
    """The independently computed summary of a list of records."""
    return independent_summary


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """``make_run(records, name=, model=, write_records=, **top_level_keys)``: a run directory.

    Returns the path of its results.json; the summary is :func:`independent_summary`.
    """

    def make(
        records: list[RequestRecord],
        *,
        name: str = "run",
        model: str = "test-model",
        write_records: bool = True,
        **extra: Any,
    ) -> Path:
        directory = tmp_path / name
        if write_records:
            with RecordWriter(directory / "requests.jsonl") as writer:
                writer.write_all(records)
        results = directory / "results.json"
        summary = independent_summary(records)
        write_json_atomic(results, results_document(summary, model=model, **extra))
        return results

    return make


@pytest.fixture
def sweep() -> dict[str, Any]:
    """A sweep whose goodput saturates at 12 req/s; points in measuring order."""
    points = [
        {
            "rate": rate,
            "goodput": min(rate, 12.0),
            "slo_attainment": 1.0 if rate <= 12 else 12.0 / rate,
            "request_throughput": min(rate, 14.0),
            "ttft_s": {"p99": 0.05 * rate},
            "e2e_s": {"p99": 0.2 * rate},
        }
        for rate in (2.0, 4.0, 8.0, 16.0, 12.0)
    ]
    return {"points": points, "max_rate": 12.0, "knee_rate": 8.0, "target_attainment": 0.99}


@pytest.fixture
def timeline() -> dict[str, Any]:
    """A replica timeline that scales 1 -> 3 -> 2."""
    return {"t_s": [0.0, 15.0, 30.0, 45.0], "replicas": [1, 2, 3, 2]}
