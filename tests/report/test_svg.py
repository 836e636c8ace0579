"""Scales, ticks and the SVG text of a chart."""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from slokit.report.svg import SERIES_COLOURS, Chart, Scale, bar, domain, swatch, tick_text

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def is_round(value: float) -> bool:
    """1, 2 or 5 times a power of ten (or zero)."""
    if value == 0:
        return True
    mantissa = abs(value) / 10 ** math.floor(math.log10(abs(value)) + 1e-12)
    return any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1.0, 2.0, 5.0, 10.0))


@given(low=finite, high=finite)
def test_linear_domain_covers_the_range_with_round_ends(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    start, end = domain(low, high)
    assert start <= low
    assert end >= high
    assert start < end
    scale = Scale(low=start, high=end, start_px=0.0, end_px=100.0)
    ticks = scale.ticks()
    assert 2 <= len(ticks) <= 11
    assert all(start <= t <= end for t in ticks)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    assert is_round(float(steps[0]))


@given(low=st.floats(1e-6, 1e6), factor=st.floats(1.0, 1e6))
def test_log_domain_is_whole_decades(low: float, factor: float) -> None:
    high = low * factor
    start, end = domain(low, high, log=True)
    assert start <= low
    assert end >= high
    assert math.log10(end) - math.log10(start) >= 1
    ticks = Scale(low=start, high=end, start_px=0, end_px=1, log=True).ticks()
    assert ticks[0] == start
    assert ticks[-1] == end
    assert all(is_round(t) for t in ticks)


def test_degenerate_ranges_still_draw() -> None:
    assert domain(5.0, 5.0)[0] < 5.0 < domain(5.0, 5.0)[1]
    assert domain(0.0, 0.0) == (-1.0, 1.0)
    assert domain(math.nan, 1.0) == (0.0, 1.0)
    assert domain(math.inf, 1.0, log=True) == (1.0, 10.0)


def test_scale_maps_ends_and_clamps() -> None:
    scale = Scale(low=0.0, high=10.0, start_px=100.0, end_px=0.0)
    assert scale.px(np.array([0.0, 5.0, 10.0, -3.0, 99.0])).tolist() == [
        100.0,
        50.0,
        0.0,
        100.0,
        0.0,
    ]
    log = Scale(low=1.0, high=1000.0, start_px=0.0, end_px=300.0, log=True)
    assert np.allclose(log.px(np.array([1.0, 10.0, 100.0, 1000.0])), [0, 100, 200, 300])


def test_tick_text_has_no_float_noise() -> None:
    assert tick_text(0.1 + 0.2) == "0.3"
    assert tick_text(1500.0) == "1500"
    assert tick_text(0.001) == "0.001"


def test_chart_svg_holds_each_layer_and_escapes_labels() -> None:
    chart = Chart(x_domain=(0.0, 10.0), y_domain=(0.0, 1.0), x_label="x <ms>", y_label="y & z")
    chart.line(np.array([0.0, 5.0, 10.0]), np.array([0.0, 0.5, 1.0]), series=0)
    chart.line(np.array([0.0, 5.0]), np.array([0.2, 0.4]), series=1, step=True)
    chart.dots(np.array([1.0, 2.0]), np.array([0.1, 0.2]), series=2)
    chart.line(np.empty(0), np.empty(0), series=3)
    chart.vline(5.0, label="knee <5>")
    chart.hline(0.5, label="target")
    svg = chart.svg(title='a "title"')
    assert svg.startswith("<svg ")
    assert svg.endswith("</svg>")
    assert svg.count('class="series') == 3
    assert "M64.0 256.0L344.0 134.0L624.0 12.0" in svg  # plot area x 64..624, y 256..12
    assert "M64.0 207.2H344.0V158.4" in svg
    assert "M120.0 231.6h0M176.0 207.2h0" in svg
    assert svg.count('class="marker"') == 2
    assert "x &lt;ms&gt;" in svg
    assert "y &amp; z" in svg
    assert "knee &lt;5&gt;" in svg
    assert 'aria-label="a &quot;title&quot;"' in svg
    for series in range(3):
        assert f'stroke="{SERIES_COLOURS[series]}"' in svg


def test_chart_draws_without_a_stylesheet() -> None:
    chart = Chart(x_domain=(0.0, 1.0), y_domain=(0.0, 1.0), x_label="x", y_label="y")
    chart.line(np.array([0.0, 1.0]), np.array([0.0, 1.0]), series=0)
    chart.dots(np.array([0.5]), np.array([0.5]), series=1)
    svg = chart.svg(title="t")
    for path in re.findall(r"<path [^>]*>", svg):
        assert 'fill="none"' in path
        assert "stroke=" in path


def test_legend_swatch_and_bar_are_inline_svg() -> None:
    assert SERIES_COLOURS[1] in swatch(1)
    assert SERIES_COLOURS[0] in swatch(len(SERIES_COLOURS))
    assert 'width="120.0"' in bar(0.5)
    assert 'width="2.0"' in bar(0.0), "a tiny share still shows"
