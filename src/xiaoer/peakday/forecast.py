"""Forecasts (D1): the sessions a team should expect in each quarter-hour of a day.

**From history.** The ordinary day is the average of the same weekday over the last
``weeks`` weeks before the day forecast — before today, for a day further ahead (a day
the shop had no session at all counts as closed and is left out). The event multiplies
it by the manager's ``multiplier``; at midnight it reaches ``spike`` times the day's
busiest ordinary quarter-hour, whatever the hour's own level, falling in a straight line
over ``spike_minutes`` and never below the multiplied ordinary day (a spike of 0: none).
The band is the ordinary day's spread between those weeks (its standard deviation, times
the multiplier) together with the chance variation of a count (a Poisson count's is its
square root), at ``BAND_Z`` standard deviations each side: about 80 % of days should
fall inside. The same day a year before, when the history holds it, is kept beside each
interval, and its ratio to its own ordinary day is offered as the multiplier.

**From a workbook.** Columns ``start`` (HH:MM or a time of that day), ``sessions``,
and optionally ``team``, read by :mod:`xiaoer.peakday.forecast_file`; the band is then
a count's chance variation alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.policy_store import policy_on, shop_day
from xiaoer.core.texts import say
from xiaoer.peakday.forecast_file import ForecastRow
from xiaoer.peakday.history import (
    SLOT_MINUTES,
    SLOTS,
    TeamMeasures,
    session_counts,
    slot_start,
    team_measures,
)
from xiaoer.peakday.models import Forecast, ForecastInterval, ForecastSource
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount, Team, is_leader

BAND_Z = 1.28  # an 80 % band
TEAMS = tuple(team.value for team in Team)
MAX_SESSIONS = 1_000_000.0  # in one quarter-hour of one team: beyond is a typing slip


class ForecastError(ValueError):
    """A forecast that cannot be made as asked, for the manager to read."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Expectation:
    """The manager's expectation for the event."""

    multiplier: float
    spike: float
    spike_minutes: int

    def rise(self, slot: int) -> float:
        """How much of the midnight spike is left in a quarter-hour: 1 at midnight,
        falling in a straight line to 0 after ``spike_minutes``."""
        return max(0.0, 1.0 - slot * SLOT_MINUTES / self.spike_minutes)

    def sessions(self, ordinary: Sequence[float], slot: int) -> float:
        """The event's sessions in a quarter-hour: the ordinary day's times the
        multiplier — and at midnight ``spike`` times its busiest quarter-hour, whatever
        the hour's own level (a shop quiet at night is not at the event's midnight),
        falling to that level over ``spike_minutes``. A spike of 0 means none."""
        level = ordinary[slot]
        rush = self.spike * max(ordinary, default=0.0) * self.rise(slot)
        return self.multiplier * max(level, rush)


@dataclass(frozen=True)
class Ordinary:
    """An ordinary day of one weekday for one team: mean and spread per quarter-hour."""

    mean: list[float]
    spread: list[float]
    days: int


@dataclass(frozen=True)
class Planned:
    """One quarter-hour of one team as forecast."""

    team: str
    slot: int
    sessions: float
    low: float
    high: float
    last_year: float | None = None


def ordinary_day(days: dict[date, list[int]], weekday: int, before: date, weeks: int) -> Ordinary:
    """The mean and spread of ``weekday`` over the ``weeks`` weeks before ``before``."""
    latest = before - timedelta(days=(before.weekday() - weekday - 1) % 7 + 1)
    seen = [
        days[on] for back in range(weeks) if (on := latest - timedelta(days=7 * back)) in days
    ]
    if not seen:
        return Ordinary([0.0] * SLOTS, [0.0] * SLOTS, 0)
    mean = [sum(day[s] for day in seen) / len(seen) for s in range(SLOTS)]
    if len(seen) < 2:
        return Ordinary(mean, [0.0] * SLOTS, 1)
    spread = [
        math.sqrt(sum((day[s] - mean[s]) ** 2 for day in seen) / (len(seen) - 1))
        for s in range(SLOTS)
    ]
    return Ordinary(mean, spread, len(seen))


def event_day(team: str, ordinary: Ordinary, expectation: Expectation) -> list[Planned]:
    """The event's quarter-hours from an ordinary day and the expectation."""
    planned = []
    for slot in range(SLOTS):
        sessions = expectation.sessions(ordinary.mean, slot)
        spread = ordinary.spread[slot] * expectation.multiplier
        sd = math.sqrt(spread**2 + sessions)
        planned.append(
            Planned(
                team=team,
                slot=slot,
                sessions=round(sessions, 2),
                low=round(max(0.0, sessions - BAND_Z * sd), 2),
                high=round(sessions + BAND_Z * sd, 2),
            )
        )
    return planned


def recent_end(day: date, today: date) -> date:
    """The day the ordinary weeks are read back from: the event's own day, or today for
    an event further ahead (the weeks before it have not happened yet)."""
    return min(day, today)


def year_before(day: date) -> date:
    """The same date a year before (28 February for a 29th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True)
class Suggestion:
    """What the history suggests for an event day."""

    last_year_day: date | None
    last_year_sessions: int
    multiplier: float | None  # last year's event against its own ordinary day
    ordinary_sessions: float  # this year's ordinary day of that weekday, all teams


async def suggest(
    session: AsyncSession, shop: Shop, day: date, weeks: int, now: datetime | None = None
) -> tuple[Suggestion, dict[str, dict[date, list[int]]]]:
    """Last year's same day beside this year's ordinary day, and the counts read."""
    zone = ZoneInfo(shop.timezone)
    before = year_before(day)
    first = before - timedelta(days=7 * weeks)
    counts_then = await session_counts(session, shop.id, zone, first, before + timedelta(days=1))
    recent = recent_end(day, await shop_day(session, shop.id, now))
    counts_now = await session_counts(
        session, shop.id, zone, recent - timedelta(days=7 * weeks), recent
    )
    last_total = sum(sum(days.get(before, [])) for days in counts_then.values())
    ordinary_then = sum(
        sum(ordinary_day(days, before.weekday(), before, weeks).mean)
        for days in counts_then.values()
    )
    ordinary_now = sum(
        sum(ordinary_day(days, day.weekday(), recent, weeks).mean)
        for days in counts_now.values()
    )
    multiplier = round(last_total / ordinary_then, 2) if last_total and ordinary_then else None
    merged: dict[str, dict[date, list[int]]] = {}
    for source in (counts_then, counts_now):
        for team, days in source.items():
            merged.setdefault(team, {}).update(days)
    return (
        Suggestion(
            last_year_day=before if last_total else None,
            last_year_sessions=last_total,
            multiplier=multiplier,
            ordinary_sessions=round(ordinary_now, 1),
        ),
        merged,
    )


# --- who may ----------------------------------------------------------------------


def check_may_plan(staff: StaffAccount) -> None:
    """Forecasts and staffing plans are the supervisor's and the manager's."""
    if not is_leader(staff):
        raise NotPermitted(say("only a supervisor or a manager plans the peak day"))


async def forecast_of(session: AsyncSession, staff: StaffAccount, forecast_id: int) -> Forecast:
    """A forecast of the reader's own shop (another shop's is as unknown as none)."""
    check_may_plan(staff)
    forecast = await session.get(Forecast, forecast_id)
    if forecast is None or forecast.shop_id != staff.shop_id:
        raise NotFound(say("no such forecast"))
    return forecast


async def forecasts_of(session: AsyncSession, staff: StaffAccount) -> list[Forecast]:
    check_may_plan(staff)
    return list(
        await session.scalars(
            select(Forecast)
            .where(Forecast.shop_id == staff.shop_id)
            .order_by(Forecast.day.desc(), Forecast.id.desc())
        )
    )


async def intervals_of(session: AsyncSession, forecast: Forecast) -> list[ForecastInterval]:
    return list(
        await session.scalars(
            select(ForecastInterval)
            .where(ForecastInterval.forecast_id == forecast.id)
            .order_by(ForecastInterval.team, ForecastInterval.slot)
        )
    )


# --- making one -------------------------------------------------------------------


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ForecastError(say("give the forecast a name"), "name")
    if len(name) > 128:
        raise ForecastError(say("a forecast's name is at most 128 characters"), "name")
    return name


def check_expectation(multiplier: float, spike: float, spike_minutes: int) -> Expectation:
    if not (math.isfinite(multiplier) and 0 < multiplier <= 100):
        raise ForecastError(say("the multiplier must be above 0 and at most 100"), "multiplier")
    if not (math.isfinite(spike) and 0 <= spike <= 50):
        raise ForecastError(say("the midnight spike must be from 0 to 50 times"), "spike")
    if not 1 <= spike_minutes <= 720:
        raise ForecastError(say("the spike falls back over 1 to 720 minutes"), "spike_minutes")
    return Expectation(multiplier, spike, spike_minutes)


async def _store(
    session: AsyncSession,
    staff: StaffAccount,
    forecast: Forecast,
    planned: Sequence[Planned],
    zone: ZoneInfo,
) -> Forecast:
    session.add(forecast)
    await session.flush()
    session.add_all(
        ForecastInterval(
            forecast_id=forecast.id,
            team=p.team,
            slot=p.slot,
            starts_at=slot_start(forecast.day, p.slot, zone),
            sessions=p.sessions,
            low=p.low,
            high=p.high,
            last_year=p.last_year,
        )
        for p in planned
    )
    await record_audit(
        session,
        shop_id=staff.shop_id,
        actor=staff.username,
        entity="peak_forecast",
        entity_id=str(forecast.id),
        action="create",
        after={
            "name": forecast.name,
            "day": forecast.day.isoformat(),
            "source": forecast.source,
            "multiplier": forecast.multiplier,
            "spike": forecast.spike,
            "spike_minutes": forecast.spike_minutes,
            "sessions": round(sum(p.sessions for p in planned), 1),
        },
    )
    return forecast


async def do_forecast_from_history(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    name: str,
    day: date,
    multiplier: float,
    spike: float,
    spike_minutes: int,
    weeks: int | None = None,
    now: datetime | None = None,
) -> Forecast:
    """A forecast of ``day`` from the shop's history and the expectation."""
    check_may_plan(staff)
    name = _check_name(name)
    expectation = check_expectation(multiplier, spike, spike_minutes)
    policy = await policy_on(session, staff.shop_id)
    weeks = weeks or policy.peakday.history_weeks
    if not 1 <= weeks <= 52:
        raise ForecastError(say("the history is read over 1 to 52 weeks"), "weeks")
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    _, counts = await suggest(session, shop, day, weeks, now)
    before = year_before(day)
    recent = recent_end(day, await shop_day(session, shop.id, now))
    teams = [team for team in TEAMS if team in counts] or [Team.presale.value]
    planned: list[Planned] = []
    for team in teams:
        days = counts.get(team, {})
        then = days.get(before)
        ordinary = ordinary_day(days, day.weekday(), recent, weeks)
        for p in event_day(team, ordinary, expectation):
            last = float(then[p.slot]) if then is not None else None
            planned.append(Planned(p.team, p.slot, p.sessions, p.low, p.high, last))
    measures = await _measured(session, shop, recent, weeks)
    forecast = Forecast(
        shop_id=staff.shop_id,
        name=name,
        day=day,
        source=ForecastSource.history.value,
        multiplier=expectation.multiplier,
        spike=expectation.spike,
        spike_minutes=expectation.spike_minutes,
        weeks=weeks,
        measured={team: m.as_data() for team, m in measures.items()},
        created_by=staff.id,
        created_at=now or utcnow(),
    )
    return await _store(session, staff, forecast, planned, zone)


async def _measured(
    session: AsyncSession, shop: Shop, recent: date, weeks: int
) -> dict[str, TeamMeasures]:
    """Each team's handling time and patience over the ``weeks`` weeks before ``recent``."""
    zone = ZoneInfo(shop.timezone)
    end = datetime.combine(recent, datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))
    return await team_measures(session, shop.id, end - timedelta(days=7 * weeks), end)


def _slot_of(start: str) -> int:
    """The quarter-hour of the day a forecast line's start falls in."""
    try:
        moment = time.fromisoformat(start)
    except ValueError:
        moment = datetime.fromisoformat(start).time()
    return (moment.hour * 60 + moment.minute) // SLOT_MINUTES


async def do_forecast_from_rows(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    name: str,
    day: date,
    rows: Sequence[ForecastRow],
    team: str = Team.presale.value,
) -> Forecast:
    """A forecast of ``day`` from a workbook's lines (read by ``forecast_file``): each
    line's team, or ``team`` for lines without one; a quarter-hour not in the file
    expects no session. The band is a count's chance variation alone."""
    check_may_plan(staff)
    name = _check_name(name)
    if team not in TEAMS:
        raise ForecastError(say("no team {team!r}", team=team), "team")
    seen: dict[tuple[str, int], int] = {}
    sessions: dict[str, list[float]] = {}
    for row in rows:
        key = (row.team or team, _slot_of(row.start))
        if key in seen:
            raise ForecastError(
                say("line {line} repeats the quarter-hour of line {first}", line=row.line,
                    first=seen[key]),
                "file",
            )  # fmt: skip
        if row.sessions > MAX_SESSIONS:
            raise ForecastError(
                say("line {line}: more sessions than one quarter-hour can hold", line=row.line),
                "file",
            )
        seen[key] = row.line
        sessions.setdefault(key[0], [0.0] * SLOTS)[key[1]] = row.sessions
    planned = [
        Planned(t, slot, round(value, 2), round(max(0.0, value - BAND_Z * math.sqrt(value)), 2),
                round(value + BAND_Z * math.sqrt(value), 2))
        for t in TEAMS if t in sessions
        for slot, value in enumerate(sessions[t])
    ]  # fmt: skip
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    policy = await policy_on(session, staff.shop_id)
    recent = recent_end(day, await shop_day(session, shop.id))
    weeks = policy.peakday.history_weeks
    measures = await _measured(session, shop, recent, weeks)
    forecast = Forecast(
        shop_id=staff.shop_id, name=name, day=day, source=ForecastSource.workbook.value,
        multiplier=1.0, spike=1.0, spike_minutes=60, weeks=weeks,
        measured={t: m.as_data() for t, m in measures.items()}, created_by=staff.id,
        created_at=utcnow(),
    )  # fmt: skip
    return await _store(session, staff, forecast, planned, zone)


async def do_delete_forecast(session: AsyncSession, staff: StaffAccount, forecast_id: int) -> None:
    forecast = await forecast_of(session, staff, forecast_id)
    await session.execute(
        delete(ForecastInterval).where(ForecastInterval.forecast_id == forecast.id)
    )
    await record_audit(
        session,
        shop_id=staff.shop_id,
        actor=staff.username,
        entity="peak_forecast",
        entity_id=str(forecast.id),
        action="delete",
        before={"name": forecast.name, "day": forecast.day.isoformat()},
    )
    await session.delete(forecast)


def measures_of(forecast: Forecast) -> dict[str, TeamMeasures]:
    return {team: TeamMeasures.of(data) for team, data in (forecast.measured or {}).items()}
