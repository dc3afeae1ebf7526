"""Shop targets (D3): set by the manager with clear errors, audited, and their progress
counted as the KPIs count (``performance.kpi``) over the afternoon of ``test_kpi``:

- mei (pre-sales) flags K-1 (99.00, paid 14:15); K-9 (50.00, paid 15:00) is nobody's;
- four buyers asked that day, one of them paid: conversion 25 %;
- here, 30.00 of K-1 is refunded at 16:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.performance.test_kpi import DAY, _the_afternoon, at
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.peakday.target_models import Measure, ShopTarget, TargetGoal
from xiaoer.peakday.target_progress import progress, roll_up_for, targets_for
from xiaoer.peakday.targets import (
    TargetError,
    TargetForm,
    do_add_target,
    do_change_target,
    do_remove_target,
    shown_measures,
)
from xiaoer.performance.kpi import report, rollup_day
from xiaoer.performance.models import KpiScope
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai: 3/4 of the day gone


async def _add(db: Database, staff: StaffAccount, form: TargetForm) -> ShopTarget:
    async with db.session() as session:
        target = await do_add_target(session, staff, form, now=NOW)
        await session.commit()
        return target


async def _count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _audited(db: Database) -> list[AuditEntry]:
    async with db.session() as session:
        query = select(AuditEntry).where(AuditEntry.entity == "target").order_by(AuditEntry.id)
        return list(await session.scalars(query))


async def test_the_manager_sets_a_month_target_with_milestones_and_it_is_audited(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given
    man = await make_staff("man", "manager")
    # when
    target = await _add(db, man, TargetForm(period="month", month="2026-11",
                                            trades="600, 50/400", sales="¥120,000",
                                            conversion="35%"))  # fmt: skip
    # then
    async with db.session() as session:
        stored = await session.get(ShopTarget, target.id)
        of_target = select(TargetGoal).where(TargetGoal.target_id == target.id)
        goals = {g.measure: (g.goal, g.milestones) for g in await session.scalars(of_target)}
        (audit,) = await _audited(db)
        kinds = list(await session.scalars(select(Event.kind).where(Event.shop_id == shop.id)))
    assert stored is not None and stored.period == "month" and stored.team == ""
    # the month is its midnights on the shop's clock (Asia/Shanghai, UTC+8)
    assert stored.starts_at == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert stored.ends_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert goals == {
        "trades": (600, [50, 400, 600]),
        "sales": (12_000_000, [12_000_000]),
        "conversion": (3500, [3500]),
    }
    assert audit.action == "add" and audit.actor == man.number
    assert audit.after is not None and audit.after["goals"]["trades"] == [50, 400, 600]
    assert "target.changed" in kinds


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (TargetForm(period="event", name="双十一", starts="2026-11-12T00:00",
                    ends="2026-11-11T00:00", trades="100"),
         "the event ends (2026-11-11T00:00) before it starts (2026-11-12T00:00)"),
        (TargetForm(period="day", day="2026-11-11", trades="-5"),
         "paid trades: '-5' must be above zero"),
        (TargetForm(period="day", day="2026-11-11", sales="0"),
         "sales in yuan: '0' must be above zero"),
        (TargetForm(period="day", day="2026-11-11", trades="50/400/50"),
         "paid trades: a milestone is repeated in '50/400/50'"),
        (TargetForm(period="day", day="2026-11-11", trades="12.5"),
         "paid trades: '12.5' is not a whole number"),
        (TargetForm(period="day", day="2026-11-11", conversion="120"),
         "conversion: '120' is over 100%"),
        (TargetForm(period="day", day="2026-11-11", sales="十万"),
         "sales in yuan: '十万' is not a number"),
        (TargetForm(period="day", day="2026-11-11"),
         "give at least one goal: trades, sales or conversion"),
        (TargetForm(period="month", month="2026-13", trades="50"),
         "month '2026-13': expected YYYY-MM, e.g. 2026-11"),
        (TargetForm(period="day", day="11/11", trades="50"),
         "day '11/11': expected a day like 2026-11-11"),
        (TargetForm(period="event", starts="2026-11-11T00:00", ends="2026-11-12T00:00",
                    trades="50"),
         "an event needs a name, e.g. 双十一 2026"),
        (TargetForm(period="event", name="整季", starts="2026-10-01T00:00",
                    ends="2026-12-01T00:00", trades="50"),
         "an event lasts at most 31 days; set a month's target for longer"),
        (TargetForm(period="week", trades="50"),
         "period 'week': expected day, month or event"),
        (TargetForm(period="day", day="2026-11-11", team="vip", trades="50"),
         "team 'vip': expected presale, aftersale or assist"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_clear_error_and_stores_nothing(
    db: Database, shop: Shop, make_staff: MakeStaff, form: TargetForm, message: str
) -> None:
    man = await make_staff("man", "manager")
    with pytest.raises(TargetError) as raised:
        await _add(db, man, form)
    assert str(raised.value) == message
    assert await _count(db, ShopTarget) == 0
    assert await _audited(db) == []


async def test_a_second_target_for_the_same_period_and_team_is_a_duplicate(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    await _add(db, man, TargetForm(period="day", day="2026-11-11", trades="300"))
    with pytest.raises(TargetError) as raised:
        await _add(db, man, TargetForm(period="day", day="2026-11-11", sales="5000"))
    assert "already has a target for the whole shop" in str(raised.value)
    # the same day for one team is another target
    await _add(db, man, TargetForm(period="day", day="2026-11-11", team="presale", trades="200"))
    with pytest.raises(TargetError) as raised:
        await _add(db, man, TargetForm(period="day", day="2026-11-11", team="presale",
                                       trades="100"))  # fmt: skip
    assert "already has a target for the pre-sales team" in str(raised.value)
    assert await _count(db, ShopTarget) == 2


async def test_only_the_manager_sets_targets(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    sup = await make_staff("sup", "supervisor")
    target = await _add(db, man, TargetForm(period="day", day="2026-11-11", trades="300"))
    form = TargetForm(period="day", day="2026-11-11", trades="900")
    with pytest.raises(NotPermitted):
        await _add(db, sup, form)
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_change_target(session, sup, target.id, form)
        with pytest.raises(NotPermitted):
            await do_remove_target(session, sup, target.id)
    async with db.session() as session:
        goal = await session.scalar(select(TargetGoal.goal))
    assert goal == 300
    assert len(await _audited(db)) == 1


async def test_a_change_and_a_removal_keep_what_was_before_in_the_audit_log(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    target = await _add(db, man, TargetForm(period="day", day="2026-11-11", trades="300"))
    async with db.session() as session:
        form = TargetForm(period="day", day="2026-11-11", trades="200/400")
        await do_change_target(session, man, target.id, form)
        await session.commit()
    async with db.session() as session:
        await do_remove_target(session, man, target.id)
        await session.commit()
    entries = await _audited(db)
    async with db.session() as session:
        with pytest.raises(NotFound):
            await do_remove_target(session, man, target.id)
    assert [e.action for e in entries] == ["add", "change", "remove"]
    assert entries[1].before is not None and entries[1].before["goals"] == {"trades": [300]}
    assert entries[1].after is not None and entries[1].after["goals"] == {"trades": [200, 400]}
    assert entries[2].before == entries[1].after
    assert await _count(db, TargetGoal) == 0


async def _afternoon_with_a_refund(db: Database, shop: Shop, mei: StaffAccount) -> None:
    await _the_afternoon(db, shop, mei)
    async with db.session() as session:
        k1 = (await session.scalars(select(Order).where(Order.platform_order_id == "K-1"))).one()
        session.add(Refund(shop_id=shop.id, order_id=k1.id, kind="refund_only",
                           status=RefundStatus.SUCCESS.value, amount_fen=3000,
                           finished_at=at(120)))  # fmt: skip
        await session.commit()


async def test_progress_counts_trades_sales_and_conversion_as_the_kpis_do(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given: the afternoon, and targets for its day (shop and pre-sales) and one hour
    mei = await make_staff("mei")
    man = await make_staff("man", "manager")
    await _afternoon_with_a_refund(db, shop, mei)
    day = await _add(db, man, TargetForm(period="day", day=DAY.isoformat(), trades="1/4",
                                         sales="200", conversion="20"))  # fmt: skip
    team = await _add(db, man, TargetForm(period="day", day=DAY.isoformat(), team="presale",
                                          trades="1"))  # fmt: skip
    hour = await _add(db, man, TargetForm(period="event", name="午后秒杀",
                                          starts=f"{DAY}T14:00", ends=f"{DAY}T15:00",
                                          trades="5"))  # fmt: skip
    # when
    async with db.session() as session:
        targets = [await session.get(ShopTarget, t.id) for t in (day, team, hour)]
        found = [t for t in targets if t is not None]
        await roll_up_for(session, shop.id, found, NOW)
        await session.commit()
        rows = await progress(session, shop.id, found, NOW)
        kpi = (await report(session, shop.id, DAY, DAY, KpiScope.shop)).subjects[""]
    # then: the whole shop's day
    shop_day = {g.measure: g for g in rows[0].goals}
    assert rows[0].status == "running" and rows[0].elapsed == 0.75
    assert shop_day["trades"].actual == 2 == kpi.counts["paid_orders"]
    assert shop_day["trades"].pace == 3  # three quarters of 4
    assert shop_day["trades"].reached == [1]
    assert shop_day["trades"].standing == "behind"
    assert shop_day["sales"].detail == {"paid_fen": kpi.counts["paid_fen"], "refunded_fen": 3000}
    assert shop_day["sales"].actual == 9900 + 5000 - 3000
    assert shop_day["sales"].standing == "behind"  # 119.00 of a pace of 150.00
    assert shop_day["conversion"].actual == 2500  # 1 paying of 4 inquiring
    assert shop_day["conversion"].detail == {"inquiring_buyers": 4, "paying_buyers": 1}
    assert shop_day["conversion"].pace is None
    assert shop_day["conversion"].standing == "reached"
    # the pre-sales team counts the orders its agents own: K-1 only
    assert [(g.measure, g.actual, g.standing) for g in rows[1].goals] == [("trades", 1, "reached")]
    # the hour 14:00-15:00 ended; K-9, paid at 15:00, is past it
    assert rows[2].status == "ended"
    assert [(g.measure, g.actual, g.pace) for g in rows[2].goals] == [("trades", 1, 5)]


async def test_a_target_to_come_counts_nothing_yet(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    man = await make_staff("man", "manager")
    await _the_afternoon(db, shop, mei)
    later = DAY + timedelta(days=1)
    target = await _add(db, man, TargetForm(period="day", day=later.isoformat(), trades="10",
                                            conversion="30"))  # fmt: skip
    async with db.session() as session:
        found = await session.get(ShopTarget, target.id)
        assert found is not None
        await roll_up_for(session, shop.id, [found], NOW)
        (row,) = await progress(session, shop.id, [found], NOW)
    assert row.status == "upcoming" and row.elapsed == 0.0
    assert [(g.measure, g.actual, g.standing) for g in row.goals] == [
        ("trades", 0, "waiting"),
        ("conversion", None, "waiting"),
    ]


async def test_an_agent_reads_the_shops_and_own_teams_targets_without_sales(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    sup = await make_staff("sup", "supervisor")
    man = await make_staff("man", "manager")
    for team in ("", "presale", "aftersale"):
        await _add(db, man, TargetForm(period="day", day="2026-11-11", team=team, trades="9",
                                       sales="900"))  # fmt: skip
    async with db.session() as session:
        hers = await targets_for(session, mei, now=NOW)
        leaders = await targets_for(session, sup, now=NOW)
        rows = await progress(session, shop.id, hers, NOW, shown_measures(mei))
    assert sorted(t.team for t in hers) == ["", "presale"]
    assert len(leaders) == 3
    assert {g.measure for row in rows for g in row.goals} == {Measure.trades.value}
    assert shown_measures(sup) == tuple(Measure)


async def test_a_rollup_the_page_asked_for_agrees_with_the_nightly_one(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """The conversion a target reads is the KPI rows' own: rolling the day up again
    (as the nightly timer does) changes nothing."""
    mei = await make_staff("mei")
    man = await make_staff("man", "manager")
    await _the_afternoon(db, shop, mei)
    target = await _add(db, man, TargetForm(period="day", day=DAY.isoformat(), conversion="20"))
    async with db.session() as session:
        found = await session.get(ShopTarget, target.id)
        assert found is not None
        await roll_up_for(session, shop.id, [found], NOW)
        await session.commit()
        (before,) = await progress(session, shop.id, [found], NOW)
        await rollup_day(session, shop.id, DAY, now=NOW)
        await session.commit()
        (after,) = await progress(session, shop.id, [found], NOW)
    assert before.goals[0].actual == after.goals[0].actual == 2500


async def test_the_pace_follows_the_hours_the_shop_sold_in_before(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """Sixty orders paid at 14:30 over the weeks before: the hour 14:00 weighs 61, each
    other hour 1 (84 in all), so at noon 12/84 of the day's trade should be done, and at
    16:00 (14 + 61 + 1)/84."""
    man = await make_staff("man", "manager")
    async with db.session() as session:
        for n in range(60):
            paid_at = at(30) - timedelta(days=1 + n // 3)  # 14:30 on the 20 days before
            order = await do_create_order(
                session, shop_id=shop.id,
                new=NewOrder(f"H-{n}", f"h-{n}", (NewItem("窗帘", 1000),), channel="widget"),
                now=paid_at - timedelta(minutes=5),
            )  # fmt: skip
            await do_pay_order(session, order=order, now=paid_at)
        await session.commit()
    target = await _add(db, man, TargetForm(period="day", day=DAY.isoformat(), trades="100"))
    noon, four = at(-120), at(120)
    async with db.session() as session:
        found = await session.get(ShopTarget, target.id)
        assert found is not None
        (at_noon,) = await progress(session, shop.id, [found], noon)
        (at_four,) = await progress(session, shop.id, [found], four)
    assert at_noon.elapsed == 0.5 and at_noon.goals[0].pace == round(100 * 12 / 84)
    assert at_four.goals[0].pace == round(100 * 76 / 84)
    assert at_four.goals[0].actual == 0 and at_four.goals[0].standing == "behind"
