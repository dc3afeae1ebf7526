"""Small SVG charts drawn on the server: no script, no download, readable without colour."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 220, 36
# Distinguishable in grey scale too: each series also gets its own dash pattern.
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0969da", "#bf3989")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4")


def line_chart(
    title: str,
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    percent: bool = False,
) -> Markup:
    """One line per series over the days; a missing value breaks the line."""
    values = [v for _, points in series for v in points if v is not None]
    top = max(values, default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(days) - 1, 1)

    def x(i: int) -> float:
        return PAD + i * step

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v / top)

    parts = [_frame(title), _axis_label(top, percent)]
    for k, (name, points) in enumerate(series):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(points):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'stroke-dasharray="{dash}" points="{" ".join(run)}"/>'
                )
            elif run:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{WIDTH - PAD + 4}" y="{PAD + 14 * k}" font-size="11" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    if days:
        parts.append(_text(PAD, HEIGHT - 10, days[0]))
        parts.append(_text(WIDTH - PAD, HEIGHT - 10, days[-1], anchor="end"))
    return _svg(title, parts, width=WIDTH + 120, wide=True)


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, marks: Sequence[float] = ()
) -> Markup:
    """Horizontal bars with their values; ``marks`` draws target lines."""
    top = max([v for _, v in bars] + list(marks) + [1.0])
    row = 26
    height = PAD + row * len(bars) + 10
    label_width = 150
    span = WIDTH - label_width - PAD - 60
    parts = [f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, (name, value) in enumerate(bars):
        top_y = PAD + i * row
        width = span * value / top
        parts.append(_text(label_width - 6, top_y + 15, name, anchor="end"))
        parts.append(
            f'<rect x="{label_width}" y="{top_y + 3}" width="{width:.1f}" height="{row - 8}" '
            f'fill="{COLOURS[0]}"/>'
        )
        parts.append(_text(label_width + width + 4, top_y + 15, _number(value)))
    for mark in marks:
        mx = label_width + span * mark / top
        parts.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{PAD - 6}" y2="{height - 6}" '
            f'stroke="{COLOURS[1]}" stroke-dasharray="4 3"/>'
        )
        parts.append(_text(mx, PAD - 10, _number(mark), anchor="middle"))
    return _svg(title, parts, height=height)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _frame(title: str) -> str:
    return (
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
    )


def _axis_label(top: float, percent: bool) -> str:
    label = f"{top * 100:.0f}%" if percent else _number(top)
    return _text(PAD - 4, PAD + 4, label, anchor="end")


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _svg(
    title: str,
    parts: Sequence[str],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    wide: bool = False,
) -> Markup:
    # The largest size is set by class in app.css: the pages' Content-Security-Policy
    # allows no style attribute.
    body = "".join(parts)
    css = "kpi-chart wide" if wide else "kpi-chart"
    return Markup(  # noqa: S704 (every text above went through escape())
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" class="{css}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )
