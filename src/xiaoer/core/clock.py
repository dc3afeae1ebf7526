"""Time: stored in UTC, shown in the shop's zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive value read back from SQLite; convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    return as_utc(value).astimezone(ZoneInfo(zone))


def from_local(value: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    """A naive shop-local wall time (as in platform exports) to aware UTC."""
    return value.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_days(month: str) -> tuple[date, date] | None:
    """``YYYY-MM`` → its first and last day; None when it is not such a month."""
    found = _MONTH.fullmatch(month.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1:
        return None
    first = date(int(found.group(1)), int(found.group(2)), 1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)
