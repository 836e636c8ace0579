"""The report's plots: latency CDFs, latency over time, the sweep's curves, the replica count."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from slokit.report.downsample import FloatArray, cdf_points, rolling_median, sample_indices
from slokit.report.svg import Chart, domain, swatch

#: A latency axis turns logarithmic when its largest value is this many times its 1st
#: percentile: a linear axis would squeeze the body of the distribution into a few pixels.
_LOG_AXIS_SPREAD = 100.0
_MS_PER_S = 1000.0
#: Measured points of a sweep are few, each a whole run, so they are drawn large and opaque.
_POINT_DIAMETER_PX = 7.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """A drawn plot with its title, legend (series index and name) and caption."""

    slug: str
    title: str
    svg: str
    legend: tuple[tuple[int, str], ...] = ()
    caption: str = ""

    def html(self) -> str:
        legend = "".join(f"<li>{swatch(series)}{escape(name)}</li>" for series, name in self.legend)
        caption = f'<p class="caption">{escape(self.caption)}</p>' if self.caption else ""
        return (
            f'<figure class="plot" id="plot-{escape(self.slug)}">'
            f"<figcaption>{escape(self.title)}</figcaption>{self.svg}"
            f'<ul class="legend">{legend}</ul>{caption}</figure>'
        )


def latency_cdf(
    *, slug: str, title: str, values_s: FloatArray, max_points: int, unit_name: str
) -> Figure | None:
    """The CDF of a latency in milliseconds; ``None`` when there is no value to draw."""
    values_ms = values_s[~np.isnan(values_s)] * _MS_PER_S
    if values_ms.size == 0:
        return None
    xs_ms, shares = cdf_points(values_ms, max_points=max_points)
    exact = values_ms.size <= max_points
    x_domain, log = _latency_axis(values_ms)
    chart = Chart(
        x_domain=x_domain,
        y_domain=(0.0, 1.0),
        x_label=f"{title} (ms{', log scale' if log else ''})",
        y_label=f"share of {unit_name} <= x",
        x_log=log,
    )
    if exact:
        # The empirical CDF is 0 left of the smallest value, then steps up at every value.
        chart.line(np.insert(xs_ms, 0, xs_ms[0]), np.insert(shares, 0, 0.0), series=0, step=True)
    else:
        chart.line(xs_ms, shares, series=0)
    how = (
        f"every one of the {values_ms.size:,} values"
        if exact
        else f"{xs_ms.size:,} exact quantiles of {values_ms.size:,} values, denser above p99"
    )
    return Figure(
        slug=slug,
        title=f"{title} CDF",
        svg=chart.svg(title=f"{title} CDF"),
        caption=f"Drawn through {how}.",
    )


def latency_over_time(
    *,
    slug: str,
    title: str,
    sent_s: FloatArray,
    values_s: FloatArray,
    max_points: int,
    keep_largest: int,
    median_points: int,
    median_windows: int,
    rng: np.random.Generator,
) -> Figure | None:
    """A latency (ms) against send time (s): a sample of the requests and a rolling median."""
    if values_s.size == 0:
        return None
    values_ms = values_s * _MS_PER_S
    chosen = sample_indices(values_ms, max_points=max_points, keep_largest=keep_largest, rng=rng)
    span_s = float(sent_s.max() - sent_s.min())
    window_s = span_s / median_windows if span_s > 0 else 1.0
    median_t_s, median_ms = rolling_median(
        sent_s, values_ms, window_s=window_s, points=median_points
    )
    y_domain, log = _latency_axis(values_ms)
    chart = Chart(
        x_domain=domain(float(sent_s.min()), float(sent_s.max())),
        y_domain=y_domain,
        x_label="send time (s from run start)",
        y_label=f"{title} (ms{', log' if log else ''})",
        y_log=log,
    )
    chart.dots(sent_s[chosen], values_ms[chosen], series=0)
    chart.line(median_t_s, median_ms, series=1)
    shown = (
        f"all {values_ms.size:,} requests"
        if chosen.size == values_ms.size
        else f"a seeded uniform sample of {chosen.size:,} of {values_ms.size:,} requests "
        f"(the {min(keep_largest, chosen.size):,} slowest always included)"
    )
    return Figure(
        slug=slug,
        title=f"{title} over time",
        svg=chart.svg(title=f"{title} over time"),
        legend=((0, "request"), (1, f"rolling median ({window_s:.3g} s window)")),
        caption=f"Dots show {shown}; the median is taken over every request.",
    )


def sweep_goodput(
    *,
    rates: FloatArray,
    goodput: FloatArray,
    throughput: FloatArray,
    max_rate: float | None,
    knee_rate: float | None,
) -> Figure:
    """Goodput (and throughput, where known) against offered rate, with the max and knee."""
    order = np.argsort(rates, kind="stable")
    rates, goodput, throughput = rates[order], goodput[order], throughput[order]
    highest = float(np.nanmax(np.concatenate([goodput, throughput, rates])))
    chart = Chart(
        x_domain=domain(0.0, float(rates.max())),
        y_domain=domain(0.0, highest),
        x_label="offered rate (req/s)",
        y_label="req/s",
    )
    legend = [(0, "goodput")]
    measured = ~np.isnan(throughput)
    if measured.any():
        chart.line(rates[measured], throughput[measured], series=1)
        chart.dots(
            rates[measured],
            throughput[measured],
            series=1,
            diameter_px=_POINT_DIAMETER_PX,
            opacity=1.0,
        )
        legend.append((1, "request throughput"))
    chart.line(rates, goodput, series=0)
    chart.dots(rates, goodput, series=0, diameter_px=_POINT_DIAMETER_PX, opacity=1.0)
    if max_rate is not None:
        chart.vline(max_rate, label=f"max rate {max_rate:.4g} req/s")
    if knee_rate is not None:
        chart.vline(knee_rate, label=f"knee {knee_rate:.4g} req/s")
    return Figure(
        slug="sweep-goodput",
        title="Goodput vs offered rate",
        svg=chart.svg(title="Goodput vs offered rate"),
        legend=tuple(legend),
    )


def sweep_attainment(
    *, rates: FloatArray, attainment: FloatArray, target: float | None
) -> Figure | None:
    """SLO attainment (%) against offered rate, with the target line."""
    present = ~np.isnan(attainment)
    if not present.any():
        return None
    order = np.argsort(rates[present], kind="stable")
    rates, percent = rates[present][order], attainment[present][order] * 100
    low = min(float(percent.min()), (target or 1.0) * 100)
    chart = Chart(
        x_domain=domain(0.0, float(rates.max())),
        y_domain=domain(low, 100.0),
        x_label="offered rate (req/s)",
        y_label="SLO attainment (%)",
    )
    chart.line(rates, percent, series=0)
    chart.dots(rates, percent, series=0, diameter_px=_POINT_DIAMETER_PX, opacity=1.0)
    if target is not None:
        chart.hline(target * 100, label=f"target {target * 100:.4g}%")
    return Figure(
        slug="sweep-attainment",
        title="SLO attainment vs offered rate",
        svg=chart.svg(title="SLO attainment vs offered rate"),
        legend=((0, "attainment"),),
    )


def replica_timeline(*, times_s: FloatArray, replicas: FloatArray) -> Figure:
    """The replica count over time, as steps: a count holds until the next change."""
    order = np.argsort(times_s, kind="stable")
    times_s, replicas = times_s[order], replicas[order]
    chart = Chart(
        x_domain=domain(float(times_s.min()), float(times_s.max())),
        y_domain=domain(0.0, float(replicas.max())),
        x_label="time (s from run start)",
        y_label="replicas",
    )
    chart.line(times_s, replicas, series=0, step=True)
    return Figure(
        slug="replicas",
        title="Replicas over time",
        svg=chart.svg(title="Replicas over time"),
        legend=((0, "replicas"),),
    )


def _latency_axis(values_ms: FloatArray) -> tuple[tuple[float, float], bool]:
    """The domain of a latency axis, and whether it is logarithmic.

    Linear from 0, unless the largest value is ``_LOG_AXIS_SPREAD`` times the 1st percentile:
    then logarithmic from the smallest positive value (a zero is drawn at the axis' edge).
    """
    low, high = float(np.quantile(values_ms, 0.01)), float(values_ms.max())
    if low > 0 and high / low >= _LOG_AXIS_SPREAD:
        smallest = float(values_ms[values_ms > 0].min())
        return domain(smallest, high, log=True), True
    return domain(min(0.0, float(values_ms.min())), high), False
