"""Money is integer fen (分); yuan appear only at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from xiaoer.core.texts import say

MAX_AMOUNT_FEN = 2**31 - 1  # what an amount column holds: over ¥21 million


class MoneyError(ValueError):
    pass


def typed_yuan(text: str) -> Decimal:
    """An amount in yuan as someone typed it (``128``, ``128.5``, ``¥1,200``): a
    finite number with at most two decimals, within what an amount column holds.

    Raises :class:`MoneyError` saying what is wrong with it; ``inf``, ``NaN`` and
    ``1e99`` are no amounts."""
    raw = text.strip().replace(",", "").replace("，", "")
    for mark in ("元", "￥", "¥"):
        raw = raw.replace(mark, "")
    raw = raw.strip()
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise MoneyError(say("{text!r} is not an amount in yuan", text=text)) from exc
    if not value.is_finite():
        raise MoneyError(say("{text!r} is not an amount in yuan", text=text))
    if abs(value) * 100 > MAX_AMOUNT_FEN:
        raise MoneyError(say("{text!r} is too large an amount", text=text))
    if value != value.quantize(Decimal("0.01")):
        raise MoneyError(say("{text!r} has more than two decimals", text=text))
    return value


def yuan_to_fen(text: str | Decimal | int | float) -> int:
    """Parse ``"12.5"``, ``"12.50元"``, ``"￥1,200"`` into fen."""
    raw = str(text).strip().replace(",", "").replace("，", "")
    for mark in ("元", "￥", "¥"):
        raw = raw.replace(mark, "")
    raw = raw.strip()
    if not raw:
        raise MoneyError("empty amount")
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount: {text!r}") from exc
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def typed_fen(text: str) -> int | None:
    """:func:`typed_yuan` in fen; an empty field is None (nothing typed)."""
    return int(typed_yuan(text) * 100) if text.strip() else None


def fen_to_yuan(fen: int) -> str:
    """``12345`` → ``"123.45"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def fen_to_decimal(fen: int) -> Decimal:
    """``-5000`` → ``Decimal("-50.00")``: yuan as a number, for a spreadsheet's cell."""
    return Decimal(fen).scaleb(-2)


def percent_of(fen: int, rate: Decimal) -> int:
    """A rate applied to an amount, rounded half up to whole fen."""
    return int((Decimal(fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
