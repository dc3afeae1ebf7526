"""The dispatch day (F6): paid before the shop's cut-off, a parcel leaves that day.

One rule for every place that speaks of it — the welcome, the assistant's answers and
fulfilment's promised dates — so a buyer is never told "today" by one and shipped
"tomorrow" by another. The cut-off is read on the shop's wall clock; a payment at the
cut-off minute itself is after it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def cutoff_of(text: str) -> time:
    """``"16:00"`` as a time of day."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def dispatch_day(cutoff: str, zone: ZoneInfo, moment: datetime) -> date:
    """The shop's day a payment at ``moment`` ships on: its own day before the cut-off,
    the next one from the cut-off on."""
    wall = moment.astimezone(zone)
    if wall.time() < cutoff_of(cutoff):
        return wall.date()
    return wall.date() + timedelta(days=1)


def ships_today(cutoff: str, zone: ZoneInfo, moment: datetime) -> bool:
    return dispatch_day(cutoff, zone, moment) == moment.astimezone(zone).date()
