"""Charts drawn as SVG on the server and brought to life by one small script.

Every chart has its axes with round ticks and gridlines, the labels along its category
axis and its values in the markup: each point or bar carries its label and value, which
``/static/charts.js`` shows on hover (a ``<title>`` says the same to a screen reader or a
browser without the script). A chart of several series has a legend whose entries hide
and show their series. A chart without data is a sentence saying so, not an empty frame.

Server-rendered rather than a chart library: the pages are rendered on the server
already, nothing has to be shipped or kept up to date, the figures are in the page for a
test to read, and the Content-Security-Policy stays strict (no inline style or script:
colours are SVG attributes, sizes are classes in ``app.css``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

# How values read: ``count`` whole numbers, ``decimal`` one decimal (seconds, ratios),
# ``percent`` a fraction shown as a percentage, ``fen`` money stored in fen shown in yuan.
Kind = Literal["count", "decimal", "percent", "fen"]

# Distinct in grey scale too: each series also has its own dash pattern.
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0e7490", "#bf3989")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4")
BAR = "#c2410c"
FONT = 12
# The most category labels an axis writes; the others are on hover.
MOST_LABELS = 10

_Position = Callable[[int], float]  # a label's index → its x
_Span = Callable[[int], tuple[float, float]]  # a label's index → its column's left and width


@dataclass(frozen=True)
class _Plot:
    """The drawing area inside the frame, in viewBox units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def x0(self) -> int:
        return self.left

    @property
    def x1(self) -> int:
        return self.width - self.right

    @property
    def y0(self) -> int:
        return self.height - self.bottom

    @property
    def y1(self) -> int:
        return self.top


def value_text(value: float | None, kind: Kind) -> str:
    """A value as the chart's reader sees it on hover."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if kind == "fen":
        return f"¥{value / 100:,.2f}"
    if kind == "decimal":
        return f"{value:,.1f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def tick_text(value: float, kind: Kind, step: float) -> str:
    """A tick's label: as few decimals as the ticks' step needs."""
    if kind == "percent":
        value, step = value * 100, step * 100
        return f"{value:.{_decimals(step)}f}%"
    if kind == "fen":
        value, step = value / 100, step / 100
    return f"{value:,.{_decimals(step)}f}"


def _decimals(step: float) -> int:
    if step <= 0 or float(step).is_integer():
        return 0
    return min(3, max(0, -math.floor(math.log10(step)) + (0 if (step * 10).is_integer() else 1)))


def nice_ticks(top: float, kind: Kind, count: int = 5) -> list[float]:
    """Round ticks from 0 to at least ``top``: steps of 1, 2, 2.5 or 5 times a power of ten
    (whole steps for counts), about ``count`` of them."""
    if top <= 0:
        top = 1.0 if kind != "percent" else 0.01
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = 10 * magnitude
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = factor * magnitude
        if kind == "count" and not float(candidate).is_integer():
            continue
        if kind == "fen" and candidate >= 100 and not float(candidate / 100).is_integer():
            continue
        if candidate * count >= top:
            step = candidate
            break
    if kind == "count":
        step = max(step, 1.0)
    n = max(1, math.ceil(round(top / step, 9)))
    return [round(step * i, 10) for i in range(n + 1)]


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    empty: str,
    kind: Kind = "count",
    width: int = 960,
    height: int = 280,
) -> Markup:
    """One line per series over the same labels; a missing value (``None``) breaks the
    line. Hovering anywhere above a label shows every shown series' value there."""
    values = [v for _, points in series for v in points if v is not None]
    if not labels or not values:
        return _empty(title, empty)
    ticks = nice_ticks(max(values), kind)
    plot = _Plot(width, height, left=_left_margin(ticks, kind), right=16, top=12, bottom=30)
    step = (plot.x1 - plot.x0) / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return plot.x0 + i * step if len(labels) > 1 else (plot.x0 + plot.x1) / 2

    parts = [_y_axis(plot, ticks, kind)]
    parts.append(_x_labels(plot, labels, x))
    for k, (name, points) in enumerate(series):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        group = [f'<g class="series" data-series="{k}" data-name="{escape(name)}">']
        runs: list[list[str]] = [[]]
        for i, v in enumerate(points):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{_y(plot, ticks, v):.1f}")
        for run in runs:
            if len(run) > 1:
                group.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'stroke-dasharray="{dash}" stroke-linejoin="round" points="{" ".join(run)}"/>'
                )
        for i, v in enumerate(points):
            if v is not None and i < len(labels):
                group.append(
                    f'<circle class="point" cx="{x(i):.1f}" cy="{_y(plot, ticks, v):.1f}" r="3" '
                    f'fill="#fff" stroke="{colour}" stroke-width="2" data-index="{i}" '
                    f'data-value="{escape(value_text(v, kind))}">'
                    f"<title>{escape(labels[i])} · {escape(name)}: "
                    f"{escape(value_text(v, kind))}</title></circle>"
                )
        group.append("</g>")
        parts.append("".join(group))
    parts.append(f'<line class="guide" x1="0" x2="0" y1="{plot.y1}" y2="{plot.y0}"/>')
    parts.append(_columns(plot, labels, series, kind, lambda i: (x(i) - step / 2, step)))
    legend = _legend(series) if len(series) > 1 else ""
    return _figure(title, parts, width, height, legend)


def column_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    empty: str,
    kind: Kind = "count",
    width: int = 960,
    height: int = 240,
) -> Markup:
    """Upright bars over labels such as days, with the y axis of their values."""
    if not bars:
        return _empty(title, empty)
    ticks = nice_ticks(max(v for _, v in bars), kind)
    plot = _Plot(width, height, left=_left_margin(ticks, kind), right=16, top=12, bottom=30)
    slot = (plot.x1 - plot.x0) / len(bars)
    labels = [label for label, _ in bars]

    def x(i: int) -> float:
        return plot.x0 + (i + 0.5) * slot

    parts = [_y_axis(plot, ticks, kind), _x_labels(plot, labels, x)]
    group = ['<g class="series" data-series="0" data-name="">']
    for i, (label, value) in enumerate(bars):
        top = _y(plot, ticks, value)
        group.append(
            f'<rect class="bar" x="{x(i) - slot * 0.35:.1f}" y="{top:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{plot.y0 - top:.1f}" fill="{BAR}" '
            f'data-index="{i}" data-value="{escape(value_text(value, kind))}">'
            f"<title>{escape(label)}: {escape(value_text(value, kind))}</title></rect>"
        )
    group.append("</g>")
    parts.append("".join(group))
    series = [("", [v for _, v in bars])]
    parts.append(_columns(plot, labels, series, kind, lambda i: (x(i) - slot / 2, slot)))
    return _figure(title, parts, width, height, "")


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    empty: str,
    kind: Kind = "count",
    marks: Sequence[float] = (),
    width: int = 480,
) -> Markup:
    """Bars lying along a value axis, one per label, each with its value written at its
    end; ``marks`` draws target lines across them."""
    if not bars:
        return _empty(title, empty)
    ticks = nice_ticks(max([v for _, v in bars] + list(marks)), kind)
    row = 30
    label_width = min(160, 24 + int(FONT * max(_text_width(label) for label, _ in bars)))
    top = 22 if marks else 8
    height = top + row * len(bars) + 26
    plot = _Plot(width, height, left=label_width, right=56, top=top, bottom=26)
    span = plot.x1 - plot.x0

    def x(v: float) -> float:
        return plot.x0 + span * v / ticks[-1]

    parts = []
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{plot.y1}" '
            f'y2="{plot.y0}"/>'
            + _text(x(tick), plot.y0 + 16, tick_text(tick, kind, ticks[1]), "middle", "tick")
        )
    parts.append(_upright(plot))
    group = ['<g class="series" data-series="0" data-name="">']
    for i, (label, value) in enumerate(bars):
        y = plot.y1 + i * row
        shown = escape(value_text(value, kind))
        group.append(
            _text(plot.x0 - 8, y + row / 2 + 4, label, "end", "label")
            + f'<rect class="bar" x="{plot.x0}" y="{y + 5}" width="{x(value) - plot.x0:.1f}" '
            f'height="{row - 10}" fill="{BAR}" data-index="{i}" data-value="{shown}">'
            f"<title>{escape(label)}: {shown}</title></rect>"
            + _text(x(value) + 6, y + row / 2 + 4, value_text(value, kind), "start", "value")
        )
    group.append("</g>")
    parts.append("".join(group))
    for mark in marks:
        parts.append(
            f'<line class="mark" x1="{x(mark):.1f}" x2="{x(mark):.1f}" y1="{plot.y1 - 4}" '
            f'y2="{plot.y0}" stroke="{COLOURS[1]}" stroke-dasharray="4 3"/>'
            + _text(x(mark), plot.y1 - 8, value_text(mark, kind), "middle", "mark-label")
        )
    cols = []
    for i, (label, _) in enumerate(bars):
        y = plot.y1 + i * row
        cols.append(
            f'<rect class="col" x="0" y="{y}" width="{width}" height="{row}" fill="transparent" '
            f'data-index="{i}" data-label="{escape(label)}"/>'
        )
    parts.append("".join(cols))
    return _figure(title, parts, width, height, "")


# --- the pieces --------------------------------------------------------------------


def _y(plot: _Plot, ticks: Sequence[float], value: float) -> float:
    return plot.y0 - (plot.y0 - plot.y1) * (value / ticks[-1])


def _left_margin(ticks: Sequence[float], kind: Kind) -> int:
    widest = max(len(tick_text(t, kind, ticks[1])) for t in ticks)
    return 14 + int(widest * FONT * 0.62)


def _upright(plot: _Plot) -> str:
    return f'<line class="axis" x1="{plot.x0}" x2="{plot.x0}" y1="{plot.y1}" y2="{plot.y0}"/>'


def _text_width(text: str) -> float:
    """A text's width in font sizes: a Chinese character is one, a Latin one about half."""
    return sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in text)


def _y_axis(plot: _Plot, ticks: Sequence[float], kind: Kind) -> str:
    parts = []
    for tick in ticks:
        y = _y(plot, ticks, tick)
        css = "axis" if tick == 0 else "grid"
        parts.append(
            f'<line class="{css}" x1="{plot.x0}" x2="{plot.x1}" y1="{y:.1f}" y2="{y:.1f}"/>'
            + _text(plot.x0 - 6, y + 4, tick_text(tick, kind, ticks[1]), "end", "tick")
        )
    parts.append(_upright(plot))
    return "".join(parts)


def _x_labels(plot: _Plot, labels: Sequence[str], x: _Position) -> str:
    every = max(1, math.ceil(len(labels) / MOST_LABELS))
    parts = []
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<line class="axis" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{plot.y0}" '
                f'y2="{plot.y0 + 4}"/>' + _text(x(i), plot.y0 + 18, label, "middle", "tick")
            )
    return "".join(parts)


def _columns(
    plot: _Plot,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    kind: Kind,
    span: _Span,
) -> str:
    """An invisible column per label to hover: its label, and all values there as its
    title for whoever reads without the script."""
    parts = ['<g class="cols">']
    for i, label in enumerate(labels):
        left, width = span(i)
        said = "; ".join(
            (f"{name}: " if name else "") + value_text(points[i] if i < len(points) else None, kind)
            for name, points in series
        )
        parts.append(
            f'<rect class="col" x="{left:.1f}" y="{plot.y1}" width="{width:.1f}" '
            f'height="{plot.y0 - plot.y1}" fill="transparent" data-index="{i}" '
            f'data-label="{escape(label)}"><title>{escape(label)} — {escape(said)}</title></rect>'
        )
    parts.append("</g>")
    return "".join(parts)


def _legend(series: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    items = []
    for k, (name, _) in enumerate(series):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        items.append(
            f'<button type="button" class="legend-item" data-series="{k}" aria-pressed="true">'
            f'<svg class="swatch" viewBox="0 0 24 10" width="24" height="10" aria-hidden="true">'
            f'<line x1="0" y1="5" x2="24" y2="5" stroke="{colour}" stroke-width="3" '
            f'stroke-dasharray="{dash}"/></svg>{escape(name)}</button>'
        )
    return f'<div class="chart-legend">{"".join(items)}</div>'


def _text(x: float, y: float, text: str, anchor: str, css: str) -> str:
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _figure(title: str, parts: Sequence[str], width: int, height: int, legend: str) -> Markup:
    # The size on the page is set by class in app.css: the pages' Content-Security-Policy
    # allows no style attribute.
    body = "".join(parts)
    return Markup(  # noqa: S704 (every text above went through escape())
        f'<div class="chart" data-chart=""><p class="chart-title">{escape(title)}</p>{legend}'
        f'<svg role="img" tabindex="0" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'class="chart-svg w{width}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
        '<div class="chart-tip" role="status" hidden=""></div></div>'
    )


def _empty(title: str, empty: str) -> Markup:
    return Markup(  # noqa: S704 (both texts escaped)
        f'<div class="chart empty"><p class="chart-title">{escape(title)}</p>'
        f'<p class="chart-empty">{escape(empty)}</p></div>'
    )
