"""Charts drawn as SVG on the server: nothing to load in the browser."""

from __future__ import annotations

from collections.abc import Sequence
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
