"""Forecasts from the shop's own history (D1): the ordinary day, the event's
multiplier and midnight spike, the band, last year's same day, the measured handling
time and patience, and who may make them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.peakday.history_world import EVENT, at, buyer, chats
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.peakday.forecast import (
    BAND_Z,
    Expectation,
    ForecastError,
    Ordinary,
    do_delete_forecast,
    do_forecast_from_history,
    event_day,
    forecast_of,
    intervals_of,
    measures_of,
    ordinary_day,
)
from xiaoer.peakday.history import MIN_ABANDONED, SLOTS
from xiaoer.peakday.models import ForecastInterval
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

TEN = 40  # the quarter-hour 10:00–10:15


def test_the_ordinary_day_averages_the_same_weekday_and_measures_its_spread() -> None:
    wednesdays = {EVENT - timedelta(days=7 * k): [0] * SLOTS for k in range(1, 5)}
    for n, day in enumerate(sorted(wednesdays)):
        wednesdays[day][TEN] = 4 if n % 2 else 6  # 6, 4, 6, 4
    wednesdays[EVENT - timedelta(days=1)] = [100] * SLOTS  # a Tuesday: not counted
    ordinary = ordinary_day(wednesdays, EVENT.weekday(), EVENT, weeks=8)
    assert ordinary.days == 4
    assert ordinary.mean[TEN] == 5.0
    assert ordinary.spread[TEN] == pytest.approx((4 / 3) ** 0.5)  # sample deviation
    assert ordinary.mean[TEN + 1] == 0.0
    # only the weeks asked for
    assert ordinary_day(wednesdays, EVENT.weekday(), EVENT, weeks=2).days == 2
    # read back from a day of another weekday (today, for an event further ahead)
    saturday = EVENT + timedelta(days=3)
    assert ordinary_day(wednesdays, EVENT.weekday(), saturday, weeks=8).days == 4
    assert ordinary_day(wednesdays, EVENT.weekday(), saturday, weeks=8).mean[TEN] == 5.0


def test_the_event_multiplies_the_day_and_spikes_at_midnight() -> None:
    ordinary = Ordinary(mean=[10.0] * SLOTS, spread=[0.0] * SLOTS, days=8)
    planned = event_day("presale", ordinary, Expectation(multiplier=4, spike=3, spike_minutes=60))
    assert planned[0].sessions == 120.0  # 10 × 4 × 3 at midnight
    assert planned[2].sessions == pytest.approx(4 * 3 * 10 * 0.5)  # half way down at 00:30
    assert planned[4].sessions == 40.0  # back to the day's level after an hour
    assert planned[95].sessions == 40.0
    # the band: chance variation of a count of 40 when the weeks agreed exactly
    assert planned[4].high == pytest.approx(40 + BAND_Z * 40**0.5, abs=0.01)
    assert planned[4].low == pytest.approx(40 - BAND_Z * 40**0.5, abs=0.01)
    assert all(p.low >= 0 for p in planned)


def test_the_midnight_spike_rises_from_the_busiest_quarter_hour_not_the_night() -> None:
    mean = [0.0] * SLOTS
    mean[TEN] = 8.0  # quiet all night, 8 sessions at 10:00
    ordinary = Ordinary(mean=mean, spread=[0.0] * SLOTS, days=8)
    planned = event_day("presale", ordinary, Expectation(multiplier=2, spike=3, spike_minutes=60))
    assert planned[0].sessions == 48.0  # 2 × 3 × the busiest 8
    assert planned[2].sessions == 24.0  # half of it left at 00:30
    assert planned[4].sessions == 0.0  # the night's own level after an hour
    assert planned[TEN].sessions == 16.0


async def _history(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        who = await buyer(session, shop.id)
        for k in range(1, 9):  # eight ordinary Wednesdays before the event: 5 chats at 10:00
            await chats(session, shop.id, who, at(EVENT - timedelta(days=7 * k), 10), 5,
                        handled_s=300, waited_s=20, left=3 if k <= 8 else 0)  # fmt: skip
        await chats(session, shop.id, who, at(EVENT - timedelta(days=14), 21), 2,
                    team="aftersale", handled_s=600)  # fmt: skip
        last_year = EVENT.replace(year=2025)  # a Tuesday: its ordinary Tuesdays had 2 chats
        for k in range(1, 9):
            await chats(session, shop.id, who, at(last_year - timedelta(days=7 * k), 10), 2)
        await chats(session, shop.id, who, at(last_year, 0), 30)
        await chats(session, shop.id, who, at(last_year, 10), 10)
        await session.commit()


async def test_a_forecast_from_history_keeps_every_quarter_hour_and_the_measures(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    await _history(db, shop)
    async with db.session() as session:
        made = await do_forecast_from_history(
            session, boss, name="双十一", day=EVENT, multiplier=4, spike=3, spike_minutes=60
        )
        await session.commit()
        rows = await intervals_of(session, made)
    presale = {r.slot: r for r in rows if r.team == "presale"}
    assert len(presale) == SLOTS and {r.team for r in rows} == {"presale", "aftersale"}
    assert presale[TEN].sessions == 32.0  # 5 answered and 3 who left, each Wednesday, × 4
    assert presale[TEN].last_year == 10.0 and presale[0].last_year == 30.0
    assert presale[0].sessions == 4 * 3 * 8.0  # the midnight spike: 3 × the busiest
    assert presale[1].sessions == 4 * 3 * 8.0 * 0.75 and presale[5].sessions == 0.0
    assert presale[TEN].starts_at == at(EVENT, 10)
    measures = measures_of(made)
    assert measures["presale"].aht_s == 300.0
    assert measures["aftersale"].aht_s == 600.0
    # 24 buyers left after 20 s; 40 + 24 waited 20 s each: patience 64 × 20 / 24
    assert MIN_ABANDONED <= measures["presale"].abandoned == 24
    assert measures["presale"].patience_s == round(64 * 20 / 24, 1)
    assert measures["aftersale"].patience_s is None  # nobody left
    async with db.session() as session:
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "peak_forecast"))
        assert audit is not None and audit.actor == "boss" and audit.action == "create"


async def test_bad_expectations_are_refused_with_their_field(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    cases = [
        ({"multiplier": 0}, "multiplier"), ({"multiplier": float("nan")}, "multiplier"),
        ({"spike": -0.5}, "spike"), ({"spike_minutes": 0}, "spike_minutes"),
        ({"name": "  "}, "name"), ({"weeks": 60}, "weeks"),
    ]  # fmt: skip
    for change, field in cases:
        asked = {"name": "双十一", "day": EVENT, "multiplier": 4.0, "spike": 3.0,
                 "spike_minutes": 60, **change}  # fmt: skip
        async with db.session() as session:
            with pytest.raises(ForecastError) as refused:
                await do_forecast_from_history(session, boss, **asked)  # type: ignore[arg-type]
            assert refused.value.field == field
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ForecastInterval)) == 0


async def test_only_leaders_of_the_shop_see_and_delete_a_forecast(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    agent = await make_staff("xiaomei", "agent")
    async with db.session() as session:
        made = await do_forecast_from_history(
            session, boss, name="双十一", day=EVENT, multiplier=2, spike=1, spike_minutes=60
        )
        other = await do_create_shop(session, code="rugs", name="地毯铺")
        await session.commit()
    outsider = await make_staff("outsider", "manager")
    async with db.session() as session:
        outsider = await session.merge(outsider)
        outsider.shop_id = other.id
        await session.commit()
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await forecast_of(session, agent, made.id)
        with pytest.raises(NotPermitted):
            await do_forecast_from_history(
                session, agent, name="x", day=EVENT, multiplier=2, spike=1, spike_minutes=60
            )
        with pytest.raises(NotFound):
            await do_delete_forecast(session, outsider, made.id)
        await do_delete_forecast(session, boss, made.id)
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(ForecastInterval)) == 0
