"""Build a run's report: read results.json and its records, draw, write one HTML file.

Plotting choice: charts are SVG written here, not plotly. A plotly report inlines a JS bundle
of about 3.5 MB into every file and draws only if that script runs; reports are read as CI
artefacts and from viewers whose Content Security Policy blocks scripts (Jenkins' HTML
publisher, for one). Plain SVG draws with scripts off, keeps a report of a million requests
well under 1 MB, and adds no dependency. What it gives up, hover and zoom, the tables make up
for: every figure drawn is also printed as a number.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slokit import __version__
from slokit.errors import ConfigError, DataError
from slokit.report import figures, page, sections
from slokit.report.columns import RecordColumns, read_columns
from slokit.report.view import mapping, number, read_sweep, read_timeline
from slokit.results import REQUESTS_FILE, RESULTS_FILE, RequestRecord, iter_records, load_results

#: Where ``slokit report`` writes when no output is named: beside results.json.
REPORT_FILE = "report.html"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOptions:
    """How much of a large run the plots draw; the defaults keep any report under about 1 MB.

    ``cdf_points``: quantiles drawn per CDF. ``scatter_points``: requests drawn per latency
    over time plot, of which ``scatter_keep_largest`` are the slowest. ``median_points`` and
    ``median_windows``: where the rolling median is drawn, and its window as a share of the run
    (``duration / median_windows``). ``itl_sample_limit``: the ITL CDF uses every inter-token
    gap up to twice this many, a uniform sample of that size beyond (8 bytes a gap kept).
    ``seed``: the seed of every sample, so a report is reproducible.
    """

    cdf_points: int = 1000
    scatter_points: int = 4000
    scatter_keep_largest: int = 40
    median_points: int = 200
    median_windows: int = 40
    itl_sample_limit: int = 2_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.cdf_points < 3:
            raise ConfigError(f"report: cdf_points must be at least 3, got {self.cdf_points}")
        if not 0 <= self.scatter_keep_largest <= self.scatter_points:
            raise ConfigError("report: need 0 <= scatter_keep_largest <= scatter_points")
        if min(self.median_points, self.median_windows, self.itl_sample_limit) < 1:
            raise ConfigError(
                "report: median_points, median_windows and itl_sample_limit must be positive"
            )


def write_report(
    path: Path, output: Path | None = None, *, options: ReportOptions | None = None
) -> Path:
    """Render the run at ``path`` (results.json or its directory) to ``output``; return it.

    ``output`` defaults to ``report.html`` beside results.json. The records file named by the
    results is optional: without it the report has no per-request plots and says so. Raises
    :class:`DataError` for a missing or malformed input, :class:`ConfigError` when the output
    cannot be written.
    """
    results_file = path / RESULTS_FILE if path.is_dir() else path
    results = load_results(results_file)
    if not isinstance(results.get("summary"), dict):
        raise DataError(f"'{results_file}' has no 'summary' object")
    records_file = results_file.parent / str(results.get("requests_file") or REQUESTS_FILE)
    records = iter_records(records_file) if records_file.is_file() else None
    html = render_report(
        results, records, source=str(results_file), options=options or ReportOptions()
    )
    target = output if output is not None else results_file.parent / REPORT_FILE
    _write_text_atomic(target, html)
    return target


def render_report(
    results: Mapping[str, Any],
    records: Iterable[RequestRecord] | None,
    *,
    source: str = "",
    options: ReportOptions | None = None,
) -> str:
    """The report page of a results document and its records (``None``: no records)."""
    options = options or ReportOptions()
    summary = mapping(results.get("summary"))
    # Independent streams, so drawing more gaps never changes which requests the scatter shows.
    seeds = np.random.SeedSequence(options.seed).spawn(2)
    sampling, scatter = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    notes: list[str] = []
    body = [sections.header(results, source=source), sections.summary(summary)]
    columns: RecordColumns | None = None
    if records is None:
        notes.append(
            "No request records were found beside the results, so the per-request plots "
            "(latency distributions and latency over time) are left out."
        )
    else:
        columns = read_columns(records, itl_limit=options.itl_sample_limit, rng=sampling)
        body.append(_record_plots(columns, options, notes, scatter))
        notes.extend(_consistency(summary, columns))
    listed_total = number(mapping(summary.get("requests")).get("total"))
    if listed_total is not None:
        total: int | None = int(listed_total)
    else:
        total = columns.count if columns is not None else None
    body.append(sections.errors(_error_counts(summary, columns), total=total))
    body.append(_sweep(results, notes))
    body.append(_timeline(results, notes))
    body.append(sections.notes(notes))
    kind = str(results.get("kind") or "run")
    return page.document(
        title=f"slokit report: {kind} run",
        body="".join(body),
        footer=f"Generated by slokit {__version__}. Self-contained: works offline.",
    )


def _record_plots(
    columns: RecordColumns,
    options: ReportOptions,
    notes: list[str],
    rng: np.random.Generator,
) -> str:
    cdfs = []
    for metric, title in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E")):
        _, values_s = columns.successful(metric)
        cdfs.append(
            figures.latency_cdf(
                slug=f"{metric}-cdf",
                title=title,
                values_s=values_s,
                max_points=options.cdf_points,
                unit_name="requests",
            )
        )
    cdfs.append(
        figures.latency_cdf(
            slug="itl-cdf",
            title="ITL",
            values_s=columns.itl_s,
            max_points=options.cdf_points,
            unit_name="gaps",
        )
    )
    over_time = []
    for metric, title in (("ttft", "TTFT"), ("tpot", "TPOT")):
        sent_s, values_s = columns.successful(metric)
        over_time.append(
            figures.latency_over_time(
                slug=f"{metric}-time",
                title=title,
                sent_s=sent_s,
                values_s=values_s,
                max_points=options.scatter_points,
                keep_largest=options.scatter_keep_largest,
                median_points=options.median_points,
                median_windows=options.median_windows,
                rng=rng,
            )
        )
    if columns.itl_seen == 0:
        notes.append("No request carries chunk times, so there is no ITL distribution to draw.")
    elif not columns.itl_exact:
        notes.append(
            f"The ITL CDF is drawn from a seeded uniform sample of {columns.itl_s.size:,} of "
            f"the {columns.itl_seen:,} inter-token gaps."
        )
    notes.append(
        f"Per-request plots are drawn from the {columns.count:,} request records; latency "
        "distributions cover successful requests only, as the summary's do."
    )
    return (
        '<section id="distributions"><h2>Latency distributions</h2>'
        f'<div class="plots">{_figures_html(cdfs)}</div></section>'
        '<section id="over-time"><h2>Latency over time</h2>'
        f'<div class="plots">{_figures_html(over_time)}</div></section>'
    )


def _sweep(results: Mapping[str, Any], notes: list[str]) -> str:
    sweep = read_sweep(results)
    if sweep is None:
        if "sweep" in results and results["sweep"] is not None:
            notes.append("The results hold a sweep without any point with a rate and a goodput.")
        return ""
    drawn = [
        figures.sweep_goodput(
            rates=sweep.rates,
            goodput=sweep.goodput,
            throughput=sweep.throughput,
            max_rate=sweep.max_rate,
            knee_rate=sweep.knee_rate,
        ),
        figures.sweep_attainment(
            rates=sweep.rates, attainment=sweep.attainment, target=sweep.target_attainment
        ),
    ]
    marks = [
        f"{name} {sections.fixed(value, 'req/s')}"
        for name, value in (("Max rate", sweep.max_rate), ("knee", sweep.knee_rate))
        if value is not None
    ]
    lead = f"<p>{'; '.join(marks)}.</p>" if marks else ""
    return (
        f'<section id="sweep"><h2>Sweep: goodput vs offered rate</h2>{lead}'
        f'<div class="plots">{_figures_html(drawn)}</div>{sections.sweep_table(sweep)}</section>'
    )


def _timeline(results: Mapping[str, Any], notes: list[str]) -> str:
    timeline = read_timeline(results)
    if timeline is None:
        if "timeline" in results and results["timeline"] is not None:
            notes.append("The results hold a replica timeline that is not two equal number lists.")
        return ""
    figure = figures.replica_timeline(times_s=timeline.times_s, replicas=timeline.replicas)
    return (
        '<section id="timeline"><h2>Replicas over time</h2>'
        f'<div class="plots">{figure.html()}</div></section>'
    )


def _error_counts(summary: Mapping[str, Any], columns: RecordColumns | None) -> dict[str, int]:
    """Errors by class from the summary, or counted from the records when it has none."""
    listed = mapping(mapping(summary.get("requests")).get("errors"))
    counted = {str(name): number(amount) for name, amount in listed.items()}
    if counted:
        return {name: int(amount) for name, amount in counted.items() if amount}
    return dict(columns.errors) if columns is not None else {}


def _consistency(summary: Mapping[str, Any], columns: RecordColumns) -> list[str]:
    total = number(mapping(summary.get("requests")).get("total"))
    if total is None or int(total) == columns.count:
        return []
    return [
        (
            f"The summary counts {int(total):,} requests but the records file holds "
            f"{columns.count:,}: the plots and the summary describe different sets."
        )
    ]


def _figures_html(drawn: Iterable[figures.Figure | None]) -> str:
    return "".join(figure.html() for figure in drawn if figure is not None)


def _write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a torn report."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):  # nothing to clean up where nothing could be made
            temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write report '{path}': {error.strerror or error}") from error
