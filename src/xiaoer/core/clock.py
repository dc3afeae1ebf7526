"""Time: stored in UTC, shown in the shop's zone."""

from __future__ import annotations

from datetime import UTC, datetime
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
