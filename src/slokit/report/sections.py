"""The report's text and tables as HTML: header, summary, percentiles, objectives, errors, sweep.

Every value taken from the results is escaped here, at the one place it becomes HTML.
Numbers use fixed formats so a reader (or a test) can find a figure: latencies in milliseconds
with two decimals, rates with two decimals, shares as percentages with two decimals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import orjson

from slokit.report.svg import bar
from slokit.report.view import SweepView, mapping, number, text

#: Distributions of the summary, in the order the percentile table lists them.
LATENCY_KEYS: tuple[tuple[str, str], ...] = (
    ("ttft_s", "TTFT"),
    ("tpot_s", "TPOT"),
    ("itl_s", "ITL"),
    ("e2e_s", "E2E"),
    ("wait_s", "Queue wait"),
    ("schedule_lag_s", "Schedule lag"),
)
_STATISTICS: tuple[tuple[str, str], ...] = (
    ("mean", "mean"),
    ("std", "std"),
    ("min", "min"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99_9", "p99.9"),
    ("max", "max"),
)
_MISSING = "\u2013"


def ms(value_s: float | None) -> str:
    """Seconds as milliseconds with two decimals (``0.4123`` -> ``412.30``)."""
    return _MISSING if value_s is None else f"{value_s * 1000:,.2f}"


def fixed(value: float | None, unit: str = "") -> str:
    """A rate or amount with two decimals and its unit."""
    return _MISSING if value is None else f"{value:,.2f}{' ' + unit if unit else ''}"


def percent(share: float | None) -> str:
    """A share in ``[0, 1]`` as a percentage with two decimals (``0.9512`` -> ``95.12 %``)."""
    return _MISSING if share is None else f"{share * 100:.2f} %"


def count(value: float | None) -> str:
    return _MISSING if value is None else f"{round(value):,}"


def header(results: Mapping[str, Any], *, source: str) -> str:
    """The run's identity: kind, model, creation time, SLO, tool, source, configuration."""
    config = mapping(results.get("config"))
    tool = mapping(results.get("tool"))
    tool_text = " ".join(t for t in (text(tool.get("name")), text(tool.get("version"))) if t)
    facts = (
        ("kind", text(results.get("kind"))),
        ("model", text(config.get("model"))),
        ("created", text(results.get("created_at"))),
        ("SLO", text(results.get("slo"))),
        ("made by", tool_text or None),
        ("source", source),
    )
    kind = text(results.get("kind")) or "run"
    config_rows = [(key, _config_text(value)) for key, value in _flatten(config)]
    config_html = (
        "<details open><summary>Run configuration</summary>"
        f"{_table(('setting', 'value'), config_rows)}</details>"
        if config_rows
        else ""
    )
    fact_items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v or _MISSING)}</dd>" for k, v in facts)
    return (
        f"<header><h1>slokit report: {escape(kind)} run</h1>"
        f'<dl class="facts">{fact_items}</dl>{config_html}</header>'
    )


def summary(summary: Mapping[str, Any]) -> str:
    """Key figures, SLO objectives and the latency percentile table."""
    requests = mapping(summary.get("requests"))
    request_parts = [
        f"{count(number(requests.get(key)))} {key}"
        for key in ("total", "completed", "failed", "good")
        if number(requests.get(key)) is not None
    ]
    interval = summary.get("slo_attainment_interval")
    bounds = [number(b) for b in interval] if isinstance(interval, list) else []
    attainment = percent(number(summary.get("slo_attainment")))
    if len(bounds) == 2 and None not in bounds:
        attainment += f" (95% interval {percent(bounds[0])} to {percent(bounds[1])})"
    goodput = " \u00b7 ".join(
        part
        for part in (
            fixed(number(summary.get("goodput")), "req/s"),
            fixed(number(summary.get("goodput_tokens")), "tok/s"),
        )
        if part != _MISSING
    )
    rows = [
        ("Duration", fixed(number(summary.get("duration_s")), "s")),
        ("Requests", " \u00b7 ".join(request_parts) or _MISSING),
        ("Request throughput", fixed(number(summary.get("request_throughput")), "req/s")),
        ("Output token throughput", fixed(number(summary.get("output_token_throughput")), "tok/s")),
        ("Total token throughput", fixed(number(summary.get("total_token_throughput")), "tok/s")),
        ("Goodput", goodput or _MISSING),
        ("SLO attainment", attainment),
    ]
    return (
        '<section id="summary"><h2>Summary</h2>'
        f"{_table(('figure', 'value'), rows, row_headers=True)}"
        f"{_objectives(summary.get('objectives'))}{_percentiles(summary)}</section>"
    )


def errors(by_class: Mapping[str, int], *, total: int | None) -> str:
    """Failed requests by error class, largest first, with their share of all requests."""
    body = '<p class="empty">No failed requests.</p>'
    if by_class:
        largest = max(by_class.values())
        rows = [
            (
                escape(name),
                f"{amount:,}",
                percent(amount / total) if total else _MISSING,
                bar(amount / largest),
            )
            for name, amount in sorted(by_class.items(), key=lambda item: (-item[1], item[0]))
        ]
        body = _table(("error class", "requests", "share", ""), rows, escaped=True)
    return f'<section id="errors"><h2>Errors by class</h2>{body}</section>'


def sweep_table(sweep: SweepView) -> str:
    """One row per measured load level of a sweep."""
    rows = [
        (
            fixed(float(rate)),
            fixed(_present(goodput)),
            percent(_present(share)),
            fixed(_present(throughput)),
            ms(_present(ttft)),
            ms(_present(e2e)),
        )
        for rate, goodput, share, throughput, ttft, e2e in zip(
            sweep.rates,
            sweep.goodput,
            sweep.attainment,
            sweep.throughput,
            sweep.ttft_p99_s,
            sweep.e2e_p99_s,
            strict=True,
        )
    ]
    headings = ("rate (req/s)", "goodput (req/s)", "attainment", "throughput (req/s)")
    return _table((*headings, "TTFT p99 (ms)", "E2E p99 (ms)"), rows)


def notes(lines: Sequence[str]) -> str:
    """How the data behind the plots was reduced or what could not be shown."""
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<section id="notes"><h2>About this report</h2><ul>{items}</ul></section>'


def _objectives(raw: object) -> str:
    objectives = [mapping(o) for o in raw if isinstance(o, dict)] if isinstance(raw, list) else []
    if not objectives:
        return ""
    rows = []
    for objective in objectives:
        observed = number(objective.get("observed_s", objective.get("observed")))
        met = objective.get("met")
        verdict = "met" if met is True else "missed" if met is False else _MISSING
        rows.append(
            (
                escape(text(objective.get("objective")) or _MISSING),
                ms(observed),
                f'<span class="{verdict}">{verdict}</span>' if met is not None else verdict,
            )
        )
    return "<h3>Objectives</h3>" + _table(
        ("objective", "observed (ms)", "verdict"), rows, escaped=True
    )


def _percentiles(summary: Mapping[str, Any]) -> str:
    rows = []
    for key, name in LATENCY_KEYS:
        stats = mapping(summary.get(key))
        if not number(stats.get("count")):
            continue  # absent, or no request measured it (e.g. queue wait in a bench run)
        values = [ms(number(stats.get(stat))) for stat, _ in _STATISTICS]
        rows.append((name, count(number(stats.get("count"))), *values))
    if not rows:
        return ""
    headings = ("metric", "count", *(label for _, label in _STATISTICS))
    return "<h3>Latency percentiles (ms)</h3>" + _table(headings, rows, row_headers=True)


def _table(
    headings: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    row_headers: bool = False,
    escaped: bool = False,
) -> str:
    """An HTML table; cells are escaped unless ``escaped`` says the caller already did."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = []
    for row in rows:
        cells = [cell if escaped else escape(cell) for cell in row]
        first = f"<th>{cells[0]}</th>" if row_headers else f"<td>{cells[0]}</td>"
        body.append(f"<tr>{first}{''.join(f'<td>{c}</td>' for c in cells[1:])}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ``("workload.rate", 5)`` pairs, in the producer's order."""
    pairs: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs.extend(_flatten(value, f"{name}."))
        else:
            pairs.append((name, value))
    return pairs


def _config_text(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _present(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
