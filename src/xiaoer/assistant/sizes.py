"""Size advice from a buyer's height and weight and the product's size chart (A1).

Buyers write their measurements every way: 身高170, 170cm, 1米7, 一米七二, 1.72m;
120斤 (half-kilos, the usual unit), 60kg, 60公斤. A size chart row gives the size
and the ranges it fits, e.g. ``{"size": "M", "height": [160, 170], "weight": [50,
60]}`` (cm and kg, ends included). The advice is the first row both figures fit,
else the row nearest to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_METRE = re.compile(r"([1一])\s*(?:米|m)\s*([0-9一二三四五六七八九]{1,2})?(?![0-9])")
_METRE_DECIMAL = re.compile(r"(1\.\d{1,2})\s*(?:米|m)(?![a-z])")
_CM = re.compile(r"(1\d{2})\s*(?:cm|厘米|公分)")
_TALL = re.compile(r"(?:身高|高)\s*(1\d{2})")
_JIN = re.compile(r"(\d{2,3})\s*斤")
_KG = re.compile(r"(\d{2,3}(?:\.\d)?)\s*(?:kg|公斤|千克)")
_WEIGHT = re.compile(r"(?:体重|重)\s*(\d{2,3})(?!\s*(?:斤|kg|公斤|千克))")


@dataclass(frozen=True)
class Body:
    height_cm: int | None
    weight_kg: float | None


def _chinese_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    return int("".join(str(_DIGITS[c]) for c in text))


def parse_body(text: str) -> Body:
    """Height (cm) and weight (kg) a message gives, each ``None`` when not given."""
    lowered = text.lower()
    height: int | None = None
    if m := _CM.search(lowered) or _TALL.search(lowered):
        height = int(m.group(1))
    elif m := _METRE_DECIMAL.search(lowered):
        height = round(float(m.group(1)) * 100)
    elif m := _METRE.search(lowered):
        rest = m.group(2)
        if rest:
            value = _chinese_number(rest)
            height = 100 + (value * 10 if len(rest) == 1 else value)
    weight: float | None = None
    if m := _JIN.search(lowered):
        weight = int(m.group(1)) / 2
    elif m := _KG.search(lowered):
        weight = float(m.group(1))
    elif m := _WEIGHT.search(lowered):
        figure = int(m.group(1))
        weight = figure / 2 if figure > 100 else float(figure)  # 120 is jin, 60 is kg
    return Body(height, weight)


def _distance(value: float | None, span: Any) -> float:
    if value is None or not (isinstance(span, list | tuple) and len(span) == 2):
        return 0.0
    low, high = float(span[0]), float(span[1])
    return max(0.0, low - value, value - high)


def advise(chart: Sequence[dict[str, Any]], body: Body) -> str | None:
    """The size to suggest, or ``None`` without a chart or any measurement."""
    rows = [r for r in chart if isinstance(r, dict) and r.get("size")]
    if not rows or (body.height_cm is None and body.weight_kg is None):
        return None
    scored = [
        (
            _distance(body.height_cm, r.get("height")) + _distance(body.weight_kg, r.get("weight")),
            index,
            str(r["size"]),
        )
        for index, r in enumerate(rows)
    ]
    return min(scored)[2]
