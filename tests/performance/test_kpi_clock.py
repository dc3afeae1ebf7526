"""The rollup's shop clock in SQL: the local day and time-of-day of a stored moment, as
the database computes them, equal the zone database's (Python's ``zoneinfo``): inside
the range a rollup gives the clock (fixed offsets on PostgreSQL), at a daylight-saving
change, and outside that range (the zone by name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import bindparam, text

from xiaoer.core.db import Database, UTCDateTime
from xiaoer.performance.kpi_rollup import Clock

NEW_YORK = ZoneInfo("America/New_York")  # UTC−5, then UTC−4 from 2026-03-08 07:00 UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
LOW = datetime(2026, 3, 6, tzinfo=UTC)
HIGH = datetime(2026, 3, 11, tzinfo=UTC)
MOMENTS = [
    datetime(2026, 3, 8, 4, 30, tzinfo=UTC),  # inside, before the change: 23:30 on the 7th
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # the last second before it
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # the change: 03:00 on the 8th
    datetime(2026, 3, 9, 4, 30, tzinfo=UTC),  # inside, after: 00:30 on the 9th
    datetime(2026, 1, 15, 4, 30, tzinfo=UTC),  # before the range: 23:30 on the 14th
    datetime(2026, 7, 1, 3, 59, tzinfo=UTC),  # after it, summer time: 23:59 on June 30th
    LOW,
    HIGH - timedelta(milliseconds=1),  # (SQLite reads times to the millisecond)
    HIGH,
]


async def _evaluate(db: Database, sql: str, moment: datetime) -> object:
    statement = text(sql).bindparams(bindparam("t", type_=UTCDateTime))
    async with db.session() as session:
        return await session.scalar(statement, {"t": moment})


@pytest.mark.parametrize("zone", [NEW_YORK, SHANGHAI], ids=["new-york", "shanghai"])
async def test_the_clock_gives_the_zones_local_day_in_and_outside_its_range(
    db: Database, zone: ZoneInfo
) -> None:
    clock = Clock(db.dialect == "postgresql", zone, LOW, HIGH)
    for moment in MOMENTS:
        local = moment.astimezone(zone)
        found = await _evaluate(db, f"SELECT {clock.day(':t')}", moment)
        assert str(found) == local.date().isoformat(), moment
        # Counted from 08:00 (response hours): the day before until 08:00 local time.
        back = 8 * 3600
        found = await _evaluate(db, f"SELECT {clock.day(':t', back=back)}", moment)
        assert str(found) == (local - timedelta(seconds=back)).date().isoformat(), moment


async def test_the_clock_tells_the_time_of_day_in_and_outside_its_range(db: Database) -> None:
    clock = Clock(db.dialect == "postgresql", NEW_YORK, LOW, HIGH)
    for moment in MOMENTS:
        local = moment.astimezone(NEW_YORK).replace(tzinfo=None)
        # Before 15:00 after 08:00 (the response hours 08:00–23:00, shifted to midnight).
        shifted = local - timedelta(hours=8)
        expected = shifted.time() < datetime(2000, 1, 1, 15).time()
        found = await _evaluate(db, f"SELECT {clock.before(':t', 8 * 3600, 15 * 3600)}", moment)
        assert bool(found) == expected, moment
