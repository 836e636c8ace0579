"""Charts as inline SVG text: scales with readable ticks, lines, steps, dots and markers.

Strokes and colours are SVG presentation attributes rather than stylesheet rules: a viewer
whose Content Security Policy blocks inline styles (as CI artefact viewers often do) still
draws every chart as intended. Classes stay on the elements for the page's own checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import numpy as np

from slokit.report.downsample import FloatArray

WIDTH_PX = 640.0
HEIGHT_PX = 300.0
_LEFT_PX, _RIGHT_PX, _TOP_PX, _BOTTOM_PX = 64.0, 16.0, 12.0, 44.0
#: Okabe-Ito colours, told apart with the common forms of colour blindness; series ``i``
#: takes colour ``i``.
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
_GRID_ATTRIBUTES = 'fill="none" stroke="#e8e8e8" stroke-width="1"'
_AXIS_ATTRIBUTES = 'fill="none" stroke="#777" stroke-width="1"'
_MARKER_ATTRIBUTES = 'fill="none" stroke="#555" stroke-width="1" stroke-dasharray="4 3"'
#: Text attributes set once on the chart and inherited by every label.
_FONT_ATTRIBUTES = 'font-family="system-ui, sans-serif" font-size="11"'
_LABEL_ATTRIBUTES = 'font-size="12"'
#: Vertical distance between the labels of successive markers, so they do not overlap.
_MARKER_LABEL_STEP_PX = 14.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    """Maps values in ``[low, high]`` onto ``[start_px, end_px]``, linearly or by ``log10``.

    Values outside the domain are clamped to its edge, so an outlier cannot draw outside the
    plot area.
    """

    low: float
    high: float
    start_px: float
    end_px: float
    log: bool = False

    def px(self, values: FloatArray) -> FloatArray:
        """Pixel positions of ``values``."""
        clamped = np.clip(values, self.low, self.high)
        if self.log:
            position, low, high = np.log10(clamped), math.log10(self.low), math.log10(self.high)
        else:
            position, low, high = clamped, self.low, self.high
        return self.start_px + (position - low) / (high - low) * (self.end_px - self.start_px)

    def at(self, value: float) -> float:
        """Pixel position of one value."""
        return float(self.px(np.array([value], dtype=np.float64))[0])

    def ticks(self) -> list[float]:
        """Tick values: round numbers (1, 2 or 5 times a power of ten) inside the domain."""
        if self.log:
            return _log_ticks(self.low, self.high)
        step = _nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step - 1e-9)
        last = math.floor(self.high / step + 1e-9)
        return [_tidy(k * step) for k in range(first, last + 1)]


def domain(low: float, high: float, *, log: bool = False) -> tuple[float, float]:
    """A domain covering ``[low, high]`` that ends on round numbers.

    Linear: the nearest multiples of a 1-2-5 step; log: the enclosing powers of ten (``low``
    must then be positive). An empty or non-finite range widens to something drawable.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        high = max(high, low)
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        # log10 rounds: just below a power of ten it can land on the power itself.
        first -= 10.0**first > low
        last += 10.0**last < high
        return 10.0**first, 10.0 ** max(last, first + 1)
    # A span this small (subnormal floats) has no representable round step: widen it too.
    if high - low < 1e-300:
        padding = abs(low) * 0.1 or 1.0
        low, high = low - padding, high + padding
    step = _nice_step((high - low) / 5)
    start, end = _tidy(math.floor(low / step) * step), _tidy(math.ceil(high / step) * step)
    # low / step can underflow to -0.0 (a subnormal low): step out once more to cover it.
    return (start - step if start > low else start), (end + step if end < high else end)


def tick_text(value: float) -> str:
    """A tick label: short and without float noise (``0.3``, not ``0.30000000000000004``)."""
    return f"{value:.6g}"


@dataclass(slots=True, kw_only=True)
class Chart:
    """One plot: a frame with axes, and the layers drawn on it in order."""

    x_domain: tuple[float, float]
    y_domain: tuple[float, float]
    x_label: str
    y_label: str
    x_log: bool = False
    y_log: bool = False
    _layers: list[str] = field(default_factory=list)
    _markers: int = 0

    @property
    def x(self) -> Scale:
        low, high = self.x_domain
        return Scale(
            low=low, high=high, start_px=_LEFT_PX, end_px=WIDTH_PX - _RIGHT_PX, log=self.x_log
        )

    @property
    def y(self) -> Scale:
        low, high = self.y_domain
        return Scale(
            low=low, high=high, start_px=HEIGHT_PX - _BOTTOM_PX, end_px=_TOP_PX, log=self.y_log
        )

    def line(self, xs: FloatArray, ys: FloatArray, *, series: int, step: bool = False) -> None:
        """A polyline through the points; ``step``: each value holds until the next point."""
        if xs.size == 0:
            return
        px, py = self.x.px(xs), self.y.px(ys)
        start = f"M{px[0]:.1f} {py[0]:.1f}"
        if step:
            rest = [f"H{x:.1f}V{y:.1f}" for x, y in zip(px[1:], py[1:], strict=True)]
        else:
            rest = [f"L{x:.1f} {y:.1f}" for x, y in zip(px[1:], py[1:], strict=True)]
        self._layers.append(
            f'<path class="series line" d="{start}{"".join(rest)}" fill="none" '
            f'stroke="{colour(series)}" stroke-width="1.8" stroke-linejoin="round"/>'
        )

    def dots(
        self,
        xs: FloatArray,
        ys: FloatArray,
        *,
        series: int,
        diameter_px: float = 3.2,
        opacity: float = 0.45,
    ) -> None:
        """One dot per point, as zero-length round-capped segments of a single path.

        One path of ``M x y h0`` items costs about 14 bytes a point, a third of one
        ``<circle>`` element each, and the browser draws it in one go. The default dots are
        small and translucent so that thousands of them show where they crowd.
        """
        if xs.size == 0:
            return
        px, py = self.x.px(xs), self.y.px(ys)
        data = "".join(f"M{x:.1f} {y:.1f}h0" for x, y in zip(px, py, strict=True))
        self._layers.append(
            f'<path class="series dots" d="{data}" fill="none" stroke="{colour(series)}" '
            f'stroke-width="{diameter_px:g}" stroke-linecap="round" stroke-opacity="{opacity:g}"/>'
        )

    def vline(self, x: float, *, label: str) -> None:
        """A labelled vertical marker at ``x``."""
        px = self.x.at(x)
        label_py = _TOP_PX + 12 + self._markers * _MARKER_LABEL_STEP_PX
        self._markers += 1
        self._layers.append(
            f'<path class="marker" d="M{px:.1f} {_TOP_PX:.1f}V{HEIGHT_PX - _BOTTOM_PX:.1f}" '
            f"{_MARKER_ATTRIBUTES}/>"
            f'<text class="marker-label" x="{px + 4:.1f}" y="{label_py:.1f}">'
            f"{escape(label)}</text>"
        )

    def hline(self, y: float, *, label: str) -> None:
        """A labelled horizontal marker at ``y``."""
        py = self.y.at(y)
        self._layers.append(
            f'<path class="marker" d="M{_LEFT_PX:.1f} {py:.1f}H{WIDTH_PX - _RIGHT_PX:.1f}" '
            f"{_MARKER_ATTRIBUTES}/>"
            f'<text class="marker-label" x="{_LEFT_PX + 4:.1f}" y="{py - 4:.1f}">'
            f"{escape(label)}</text>"
        )

    def svg(self, *, title: str) -> str:
        """The SVG element: grid, axes, tick labels, axis titles, then the layers."""
        return (
            f'<svg class="chart" viewBox="0 0 {WIDTH_PX:.0f} {HEIGHT_PX:.0f}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" {_FONT_ATTRIBUTES}>'
            f"{self._frame()}{''.join(self._layers)}</svg>"
        )

    def _frame(self) -> str:
        x, y = self.x, self.y
        bottom_px, left_px = HEIGHT_PX - _BOTTOM_PX, _LEFT_PX
        right_px = WIDTH_PX - _RIGHT_PX
        grid, labels = [], []
        for value in x.ticks():
            px = x.at(value)
            grid.append(f"M{px:.1f} {_TOP_PX:.1f}V{bottom_px:.1f}")
            labels.append(
                f'<text class="tick" x="{px:.1f}" y="{bottom_px + 16:.1f}" '
                f'text-anchor="middle">{tick_text(value)}</text>'
            )
        for value in y.ticks():
            py = y.at(value)
            grid.append(f"M{left_px:.1f} {py:.1f}H{right_px:.1f}")
            labels.append(
                f'<text class="tick" x="{left_px - 6:.1f}" y="{py + 4:.1f}" '
                f'text-anchor="end">{tick_text(value)}</text>'
            )
        axes = f"M{left_px:.1f} {_TOP_PX:.1f}V{bottom_px:.1f}H{right_px:.1f}"
        middle_x = (left_px + right_px) / 2
        middle_y = (_TOP_PX + bottom_px) / 2
        return (
            f'<path class="grid" d="{"".join(grid)}" {_GRID_ATTRIBUTES}/>'
            f'<path class="axis" d="{axes}" {_AXIS_ATTRIBUTES}/>'
            f"{''.join(labels)}"
            f'<text class="axis-label" x="{middle_x:.1f}" y="{HEIGHT_PX - 6:.1f}" '
            f'text-anchor="middle" {_LABEL_ATTRIBUTES}>{escape(self.x_label)}</text>'
            f'<text class="axis-label" transform="translate(14 {middle_y:.1f}) rotate(-90)" '
            f'text-anchor="middle" {_LABEL_ATTRIBUTES}>{escape(self.y_label)}</text>'
        )


def colour(series: int) -> str:
    """The colour of series ``series`` (the palette repeats past its end)."""
    return SERIES_COLOURS[series % len(SERIES_COLOURS)]


def swatch(series: int) -> str:
    """A small square of a series' colour, for a legend outside the chart."""
    return (
        '<svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
        f'<rect width="12" height="12" rx="2" fill="{colour(series)}"/></svg>'
    )


def bar(share: float, *, width_px: int = 240) -> str:
    """A horizontal bar filling ``share`` of ``width_px``, for a table cell."""
    filled_px = max(2.0, share * width_px)
    return (
        f'<svg class="bar" width="{width_px}" height="10" viewBox="0 0 {width_px} 10" '
        f'aria-hidden="true"><rect width="{filled_px:.1f}" height="10" '
        f'fill="{SERIES_COLOURS[1]}"/></svg>'
    )


def _nice_step(rough: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``rough``."""
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= rough * (1 - 1e-9))


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten in the domain; with fewer than three of them, also 2x and 5x."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    decades = [10.0**k for k in range(first, last + 1)]
    multiples = (1.0,) if len(decades) >= 3 else (1.0, 2.0, 5.0)
    values = sorted({_tidy(d * m) for d in decades for m in multiples})
    return [v for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]


def _tidy(value: float) -> float:
    """``value`` rounded to 12 significant digits, dropping the float noise of ``k * step``."""
    return float(f"{value:.12g}")
