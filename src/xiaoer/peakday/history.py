"""The shop's own history as the staffing plan reads it (D1, C11): sessions per
quarter-hour of each day and team, the average handling time of each team, and how
long buyers wait before they give up.

A session is a conversation, counted in the quarter-hour it opened on the shop's
clock. The handling time of a conversation is from the moment an agent took it until
it closed, at most an hour (a conversation left open overnight is not an hour's work).
Patience is estimated as exponential: every queued buyer's wait (until an agent took
them, or until they left) divided by the number who left without an answer — the
estimate that counts the buyers who were answered before they would have left. It is
given only when at least ``MIN_ABANDONED`` buyers left; otherwise the plan uses Erlang
C, which assumes nobody leaves.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.reception.models import Conversation, ConversationStatus

SLOTS = 96  # quarter-hours of a day
SLOT_MINUTES = 15
MAX_HANDLING_S = 3600.0
MIN_HANDLING_S = 10.0
MIN_ABANDONED = 20


@dataclass(frozen=True)
class TeamMeasures:
    """What a team's history says about its work."""

    aht_s: float | None  # average handling time; None without a handled conversation
    handled: int
    patience_s: float | None  # mean patience; None with too few buyers who left
    abandoned: int

    def as_data(self) -> dict[str, Any]:
        return {
            "aht_s": self.aht_s,
            "handled": self.handled,
            "patience_s": self.patience_s,
            "abandoned": self.abandoned,
        }

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> TeamMeasures:
        data = data or {}

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        return cls(
            aht_s=number("aht_s"),
            handled=int(data.get("handled") or 0),
            patience_s=number("patience_s"),
            abandoned=int(data.get("abandoned") or 0),
        )


def utc_bounds(first: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC moments of the shop's midnight starting ``first`` and ``end``."""
    start = datetime.combine(first, time(0), zone).astimezone(ZoneInfo("UTC"))
    stop = datetime.combine(end, time(0), zone).astimezone(ZoneInfo("UTC"))
    return start, stop


def slot_start(day: date, slot: int, zone: ZoneInfo) -> datetime:
    """The UTC moment a quarter-hour of the shop's day begins."""
    local = datetime.combine(day, time(0), zone) + timedelta(minutes=slot * SLOT_MINUTES)
    return local.astimezone(ZoneInfo("UTC"))


def _day_and_slot(moment: Any, dialect: str, zone: ZoneInfo) -> tuple[Any, Any]:
    """SQL: the shop's day (as text, YYYY-MM-DD) and quarter-hour of a UTC moment."""
    if dialect == "postgresql":
        there = func.timezone(zone.key, moment)
        day = func.to_char(there, "YYYY-MM-DD")
        slot = cast(func.extract("hour", there), Integer) * 4 + cast(
            func.floor(func.extract("minute", there) / SLOT_MINUTES), Integer
        )
        return day, slot
    # SQLite keeps no zone rules: the zone's offset now (China keeps no summer time).
    offset = utcnow().astimezone(zone).utcoffset()
    shift = f"{int(offset.total_seconds() // 60) if offset else 0:+d} minutes"
    day = func.strftime("%Y-%m-%d", moment, shift)
    slot = (
        cast(func.strftime("%H", moment, shift), Integer) * 4
        + cast(func.strftime("%M", moment, shift), Integer) / SLOT_MINUTES
    )
    return day, slot


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """SQL: seconds from one moment to another."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


async def session_counts(
    session: AsyncSession, shop_id: int, zone: ZoneInfo, first: date, end: date
) -> dict[str, dict[date, list[int]]]:
    """Sessions opened per team, day and quarter-hour from ``first`` to before ``end``;
    a day without any session is absent."""
    dialect = session.get_bind().dialect.name
    start, stop = utc_bounds(first, end, zone)
    day, slot = _day_and_slot(Conversation.opened_at, dialect, zone)
    rows = await session.execute(
        select(Conversation.team, day, slot, func.count())
        .where(
            Conversation.shop_id == shop_id,
            Conversation.opened_at >= start,
            Conversation.opened_at < stop,
        )
        .group_by(Conversation.team, day, slot)
    )
    counts: dict[str, dict[date, list[int]]] = defaultdict(dict)
    for team, day_text, quarter, count in rows.all():
        on = date.fromisoformat(str(day_text))
        index = int(quarter)
        if not first <= on < end or not 0 <= index < SLOTS:
            continue
        counts[str(team)].setdefault(on, [0] * SLOTS)[index] += int(count)
    return dict(counts)


async def team_measures(
    session: AsyncSession, shop_id: int, since: datetime, until: datetime
) -> dict[str, TeamMeasures]:
    """Each team's handling time and patience over conversations opened in the window."""
    dialect = session.get_bind().dialect.name
    in_window = (
        Conversation.shop_id == shop_id,
        Conversation.opened_at >= since,
        Conversation.opened_at < until,
    )
    handling = _seconds(Conversation.closed_at, Conversation.assigned_at, dialect)
    clipped = case(
        (handling > MAX_HANDLING_S, MAX_HANDLING_S),
        (handling < MIN_HANDLING_S, MIN_HANDLING_S),
        else_=handling,
    )
    handled = {
        str(team): (float(avg) if avg is not None else None, int(n))
        for team, avg, n in (
            await session.execute(
                select(Conversation.team, func.avg(cast(clipped, Float)), func.count())
                .where(
                    *in_window,
                    Conversation.status == ConversationStatus.closed.value,
                    Conversation.assigned_at.is_not(None),
                    Conversation.closed_at.is_not(None),
                )
                .group_by(Conversation.team)
            )
        ).all()
    }
    # Every queued buyer's wait: until an agent took them, or until they left.
    left = (Conversation.assigned_at.is_(None)) & (Conversation.closed_at.is_not(None))
    until_taken = _seconds(Conversation.assigned_at, Conversation.queued_at, dialect)
    until_left = _seconds(Conversation.closed_at, Conversation.queued_at, dialect)
    wait = case(
        (Conversation.assigned_at.is_not(None), until_taken),
        (Conversation.closed_at.is_not(None), until_left),
        else_=None,
    )
    waited = {
        str(team): (float(total or 0.0), int(gone or 0))
        for team, total, gone in (
            await session.execute(
                select(
                    Conversation.team,
                    func.sum(cast(case((wait > 0, wait), else_=0.0), Float)),
                    func.sum(case((left, 1), else_=0)),
                )
                .where(*in_window)
                .group_by(Conversation.team)
            )
        ).all()
    }
    measures: dict[str, TeamMeasures] = {}
    for team in sorted(set(handled) | set(waited)):
        aht, n = handled.get(team, (None, 0))
        total, gone = waited.get(team, (0.0, 0))
        patience = total / gone if gone >= MIN_ABANDONED and total > 0 else None
        measures[team] = TeamMeasures(
            aht_s=round(aht, 1) if aht is not None else None,  # SQLite's clock is a float
            handled=n,
            patience_s=round(patience, 1) if patience is not None else None,
            abandoned=gone,
        )
    return measures
