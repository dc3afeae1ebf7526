"""Charts drawn as SVG on the server: nothing to load in the browser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape


def bar_chart(
    bars: Sequence[tuple[str, float]], *, width: int = 640, height: int = 180, title: str = ""
) -> str:
    """A plain bar chart; labels are escaped, the largest bar fills the height."""
    if not bars:
        return ""
    top = max(value for _, value in bars) or 1.0
    gap = 2
    slot = width / len(bars)
    plot = height - 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, value) in enumerate(bars):
        h = plot * (value / top)
        x = i * slot + gap / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{plot - h:.1f}" width="{slot - gap:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {value:,.2f}</title></rect>"
        )
        if i % max(1, len(bars) // 6) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 4}" font-size="11">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


# Distinct strokes for up to six lines; more repeat them.
STROKES = ("#c4320a", "#2e90fa", "#12b76a", "#7a5af8", "#f79009", "#667085")


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 640,
    height: int = 200,
    title: str = "",
) -> str:
    """A line per series over the same labels, with a legend; names are escaped."""
    if not labels or not series:
        return ""
    top = max((max(values, default=0) for values in series.values()), default=0) or 1.0
    plot, left = height - 40, 8
    step = (width - 2 * left) / max(1, len(labels) - 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    for index, (name, values) in enumerate(series.items()):
        colour = STROKES[index % len(STROKES)]
        points = " ".join(
            f"{left + i * step:.1f},{plot - plot * (v / top) + 4:.1f}" for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        parts.append(
            f'<text x="{left + index * (width // max(1, len(series)))}" y="{height - 4}" '
            f'font-size="11" fill="{colour}">{escape(name)}</text>'
        )
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{plot + 18}" font-size="10">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
