"""The report page built from run files on disk, checked against figures computed in the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from slokit.errors import ConfigError, DataError
from slokit.report import REPORT_FILE, ReportOptions, render_report, write_report
from slokit.results import RequestRecord

MakeRun = Callable[..., Path]
MakeRecords = Callable[..., list[RequestRecord]]
SummaryOf = Callable[[list[RequestRecord]], dict[str, Any]]

STAT_ORDER = ("mean", "std", "min", "p50", "p90", "p95", "p99", "p99_9", "max")


def report_html(results: Path) -> str:
    return write_report(results).read_text(encoding="utf-8")


def row_cells(html: str, name: str) -> list[str]:
    """The cells after the row header ``name`` of the first table row that has it."""
    match = re.search(rf"<tr><th>{re.escape(name)}</th>(.*?)</tr>", html)
    assert match is not None, f"no table row {name!r}"
    return re.findall(r"<td>(.*?)</td>", match.group(1))


def test_summary_figures_match_the_records(
    make_run: MakeRun, make_records: MakeRecords, summary_of: SummaryOf
) -> None:
    records = make_records(2_000)
    html = report_html(make_run(records))
    summary = summary_of(records)
    for key, name in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "ITL"), ("e2e_s", "E2E")):
        stats = summary[key]
        expected = [f"{stats['count']:,.0f}"] + [f"{stats[s] * 1000:,.2f}" for s in STAT_ORDER]
        assert row_cells(html, name) == expected
    completed = summary["requests"]["completed"]
    failed = summary["requests"]["failed"]
    good = summary["requests"]["good"]
    parts = ["2,000 total", f"{completed:,} completed", f"{failed:,} failed", f"{good:,} good"]
    assert row_cells(html, "Requests") == [" \u00b7 ".join(parts)]
    assert row_cells(html, "Request throughput") == [f"{completed / 60:,.2f} req/s"]
    goodput = summary["goodput"]
    assert row_cells(html, "Goodput") == [
        f"{goodput:,.2f} req/s \u00b7 {summary['goodput_tokens']:,.2f} tok/s"
    ]
    share = summary["slo_attainment"]
    assert row_cells(html, "SLO attainment") == [
        f"{share * 100:.2f} % (95% interval {(share - 0.01) * 100:.2f} % to {share * 100:.2f} %)"
    ]
    observed_ms = summary["objectives"][0]["observed_s"] * 1000
    assert f"<td>ttft_p99&lt;=500ms</td><td>{observed_ms:,.2f}</td>" in html


def test_plots_are_drawn_from_every_record(make_run: MakeRun, make_records: MakeRecords) -> None:
    records = make_records(120)
    ok = [r for r in records if r.ok]
    gaps = sum(len(r.chunk_times_s) - 1 for r in ok)
    assert gaps < 1_000
    html = report_html(make_run(records))
    for slug in ("ttft-cdf", "tpot-cdf", "e2e-cdf", "itl-cdf", "ttft-time", "tpot-time"):
        assert f'id="plot-{slug}"' in html
    # Few values: the CDF is the exact step function through each of them.
    assert f"Drawn through every one of the {len(ok):,} values." in html
    assert f"Drawn through every one of the {gaps:,} values." in html
    assert f"Dots show all {len(ok):,} requests" in html


def test_errors_by_class(
    make_run: MakeRun, make_records: MakeRecords, summary_of: SummaryOf
) -> None:
    records = make_records(1_000)
    html = report_html(make_run(records))
    errors = summary_of(records)["requests"]["errors"]
    assert errors, "the synthetic run has failures"
    for name, amount in errors.items():
        assert f"<td>{name}</td><td>{amount:,}</td><td>{amount / 10:.2f} %</td>" in html


def test_no_failures_says_so(make_run: MakeRun) -> None:
    record = RequestRecord(
        request_id=0, scheduled_s=0, sent_s=0, first_token_s=0.1, end_s=0.5, output_tokens=5
    )
    html = report_html(make_run([record]))
    assert "No failed requests." in html


def test_strings_from_the_results_are_escaped(make_run: MakeRun, make_records: MakeRecords) -> None:
    payload = "<script>alert(1)</script>"
    attribute = '"><img src=x onerror=alert(2)>'
    records = [
        RequestRecord(request_id=0, scheduled_s=0, sent_s=0, end_s=1, error=payload),
        *make_records(50),
    ]
    results = make_run(
        records, model=payload, kind=attribute, slo=payload, config={"<b>key</b>": attribute}
    )
    html = report_html(results)
    assert payload not in html
    assert attribute not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert html.count("<script") == 1, "only the page's own script"
    assert html.count("<img") == 0


def test_page_is_self_contained(make_run: MakeRun, make_records: MakeRecords) -> None:
    html = report_html(make_run(make_records(100)))
    assert not re.search(r"\s(src|href|srcset|action)\s*=", html, re.IGNORECASE)
    assert "@import" not in html
    assert "url(" not in html
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html


def test_sweep_and_timeline_appear_only_when_present(
    make_run: MakeRun,
    make_records: MakeRecords,
    sweep: dict[str, Any],
    timeline: dict[str, Any],
) -> None:
    records = make_records(100)
    plain = report_html(make_run(records, name="plain"))
    assert 'id="sweep"' not in plain
    assert 'id="timeline"' not in plain
    both = report_html(make_run(records, name="both", sweep=sweep, timeline=timeline))
    assert 'id="plot-sweep-goodput"' in both
    assert 'id="plot-sweep-attainment"' in both
    assert 'id="plot-replicas"' in both
    assert "max rate 12 req/s" in both
    assert "knee 8 req/s" in both
    assert "target 99%" in both
    # The table lists the points by rate, whatever order they were measured in.
    rates = re.findall(r"<tr><td>(\d+\.00)</td><td>", both.split('id="sweep"')[1])
    assert rates == ["2.00", "4.00", "8.00", "12.00", "16.00"]
    only_timeline = report_html(make_run(records, name="timeline", timeline=timeline))
    assert 'id="timeline"' in only_timeline
    assert 'id="sweep"' not in only_timeline


@pytest.mark.parametrize(
    ("key", "value", "note"),
    [
        ("sweep", {"points": [{"rate": "fast"}]}, "sweep without any point"),
        ("sweep", {"points": 3}, "sweep without any point"),
        ("timeline", {"t_s": [0, 1], "replicas": [1]}, "not two equal number lists"),
        ("timeline", {"t_s": [0, "x"], "replicas": [1, 2]}, "not two equal number lists"),
    ],
)
def test_malformed_optional_parts_are_noted_not_fatal(
    make_run: MakeRun, make_records: MakeRecords, key: str, value: object, note: str
) -> None:
    html = report_html(make_run(make_records(20), **{key: value}))
    assert note in html
    assert f'id="{key}"' not in html


def test_size_stays_bounded_for_100k_records(make_run: MakeRun, make_records: MakeRecords) -> None:
    records = make_records(100_000, chunks=3)
    completed = sum(r.ok for r in records)
    html = report_html(make_run(records))
    assert len(html.encode()) < 400_000
    assert f"Drawn through 1,000 exact quantiles of {completed:,} values" in html
    assert f"a seeded uniform sample of 4,000 of {completed:,} requests" in html


def test_report_is_reproducible(make_run: MakeRun, make_records: MakeRecords) -> None:
    results = make_run(make_records(6_000))
    assert report_html(results) == report_html(results)


def test_without_records_the_summary_still_renders(
    make_run: MakeRun, make_records: MakeRecords
) -> None:
    html = report_html(make_run(make_records(100), write_records=False))
    assert "per-request plots" in html
    assert 'id="distributions"' not in html
    assert row_cells(html, "Duration") == ["60.00 s"]


def test_a_bare_summary_renders(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_bytes(orjson.dumps({"schema_version": 1, "summary": {}}))
    html = report_html(results)
    assert "<h1>slokit report: run run</h1>" in html
    assert row_cells(html, "Goodput") == ["\u2013"]


def test_records_that_disagree_with_the_summary_are_noted(
    make_run: MakeRun, make_records: MakeRecords
) -> None:
    results = make_run(make_records(100))
    document = orjson.loads(results.read_bytes())
    document["summary"]["requests"]["total"] = 99
    results.write_bytes(orjson.dumps(document))
    assert "The summary counts 99 requests but the records file holds 100" in report_html(results)


def test_output_defaults_beside_results_and_accepts_the_directory(
    make_run: MakeRun, make_records: MakeRecords, tmp_path: Path
) -> None:
    results = make_run(make_records(10))
    assert write_report(results.parent) == results.parent / REPORT_FILE
    chosen = tmp_path / "out" / "nested" / "r.html"
    assert write_report(results, chosen) == chosen
    assert chosen.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_unreadable_inputs_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        write_report(tmp_path / "missing.json")
    with pytest.raises(DataError, match="cannot read"):
        write_report(tmp_path)  # a directory without results.json
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        write_report(broken)
    no_summary = tmp_path / "no_summary.json"
    no_summary.write_bytes(orjson.dumps({"schema_version": 1, "summary": [1]}))
    with pytest.raises(DataError, match="no 'summary' object"):
        write_report(no_summary)


def test_malformed_records_raise_data_errors(make_run: MakeRun, make_records: MakeRecords) -> None:
    results = make_run(make_records(5))
    (results.parent / "requests.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    with pytest.raises(DataError, match="malformed request record"):
        write_report(results)


def test_unwritable_output_is_a_config_error(make_run: MakeRun, make_records: MakeRecords) -> None:
    results = make_run(make_records(5))
    blocker = results.parent / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write report"):
        write_report(results, blocker / "report.html")


def test_render_report_works_on_documents_in_memory(make_records: MakeRecords) -> None:
    records = make_records(30)
    html = render_report({"schema_version": 1, "kind": "gateway", "summary": {}}, records)
    assert "<h1>slokit report: gateway run</h1>" in html
    assert 'id="plot-ttft-cdf"' in html


@pytest.mark.parametrize(
    "options",
    [
        {"cdf_points": 2},
        {"scatter_points": 10, "scatter_keep_largest": 11},
        {"scatter_keep_largest": -1},
        {"median_points": 0},
        {"median_windows": 0},
        {"itl_sample_limit": 0},
    ],
)
def test_options_are_validated(options: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="report:"):
        ReportOptions(**options)
