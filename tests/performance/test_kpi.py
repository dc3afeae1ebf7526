"""KPIs (P6) rolled up per day from real conversations and orders, figured as DOMAIN.md says.

One afternoon in Shanghai (2026-11-23), computed by hand below:

- 14:00 b-1 asks, mei answers after 20 s; 14:01 b-1 asks again, answered at 14:05
  (240 s: slower than the 120 s target, not within 3 minutes); closed 14:40 (long).
- 14:02 b-2 asks, answered after 50 s; closed 14:25.
- 14:03 b-3 asks, closed unanswered at 14:20: the round counts the 600 s cap.
- 23:30 b-4 asks, answered at 23:31: outside the 08:00–23:00 response hours, so
  no round is counted, but the inquiry and the messages are; closed 23:35.
- b-1 orders at 14:10, mei flags it, paid 99.00 at 14:15, note at 14:20 (in time).
- b-2 orders the next day (within the 1-day window) and does not pay.
- b-9, who never wrote, pays 50.00 at 15:00: silent sales.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import MakeStaff
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_flag, do_write_note
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.kpi import KpiError, month_bounds, period_bounds, report, rollup_day
from xiaoer.performance.models import KpiScope
from xiaoer.reception.service import (
    do_close,
    do_receive_buyer_message,
    do_send_agent_message,
    do_set_presence,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

DAY = date(2026, 11, 23)
AT_14 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


def at(minutes: float) -> datetime:
    return AT_14 + timedelta(minutes=minutes)


async def _ask(db: Database, shop: Shop, buyer: str, when: datetime, text: str = "在吗") -> int:
    async with db.session() as session:
        customer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id=buyer
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=customer, text=text, client_id=f"{buyer}-{when}",
            now=when,
        )  # fmt: skip
        await session.commit()
        return posted.conversation.id


async def _answer(db: Database, agent: StaffAccount, conversation_id: int, when: datetime) -> None:
    async with db.session() as session:
        await do_send_agent_message(
            session, agent=agent, conversation_id=conversation_id, text="在的亲", now=when
        )
        await session.commit()


async def _close(db: Database, agent: StaffAccount, conversation_id: int, when: datetime) -> None:
    async with db.session() as session:
        await do_close(
            session, actor=agent, conversation_id=conversation_id, outcome="other", now=when
        )
        await session.commit()


async def _the_afternoon(db: Database, shop: Shop, mei: StaffAccount) -> None:
    async with db.session() as session:
        await do_set_presence(session, agent=mei, status="online", now=at(-5))
        await session.commit()
    b1 = await _ask(db, shop, "b-1", at(0))
    await _answer(db, mei, b1, at(0) + timedelta(seconds=20))
    await _ask(db, shop, "b-1", at(1), "这款有货吗")
    b2 = await _ask(db, shop, "b-2", at(2))
    await _answer(db, mei, b2, at(2) + timedelta(seconds=50))
    b3 = await _ask(db, shop, "b-3", at(3))
    await _answer(db, mei, b1, at(5))
    await _close(db, mei, b3, at(20))
    await _close(db, mei, b2, at(25))
    await _close(db, mei, b1, at(40))
    b4 = await _ask(db, shop, "b-4", at(9 * 60 + 30))
    await _answer(db, mei, b4, at(9 * 60 + 31))
    await _close(db, mei, b4, at(9 * 60 + 35))

    async with db.session() as session:
        first = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder("K-1", "b-1", (NewItem("遮光窗帘", 9900),), channel="widget"),
            now=at(10),
        )  # fmt: skip
        await do_flag(session, order=first, agent=mei, flag=1, now=at(11))
        await do_pay_order(session, order=first, now=at(15))
        await do_write_note(session, order=first, author=mei, text="测试备注", now=at(20))
        await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder("K-2", "b-2", (NewItem("桌布", 3900),), channel="widget"),
            now=at(24 * 60),
        )  # fmt: skip
        silent = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder("K-9", "b-9", (NewItem("抱枕", 5000),), channel="widget"),
            now=at(59),
        )  # fmt: skip
        await do_pay_order(session, order=silent, now=at(60))
        await session.commit()


async def test_a_day_rolls_up_to_the_hand_counted_figures(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await _the_afternoon(db, shop, mei)
    async with db.session() as session:
        written = await rollup_day(session, shop.id, DAY, now=at(24 * 60 + 60))
        await session.commit()
    assert written == 3  # the shop, mei's team, mei

    async with db.session() as session:
        agents = await report(session, shop.id, DAY, DAY, KpiScope.agent)
        shops = await report(session, shop.id, DAY, DAY, KpiScope.shop)
        teams = await report(session, shop.id, DAY, DAY, KpiScope.team)
    mine = agents.subjects[str(mei.id)]
    expected = {
        "inquiring_buyers": 4, "ordering_buyers": 2, "paying_buyers": 1,
        "conversations": 4, "replied_conversations": 3, "unanswered_conversations": 1,
        "long_conversations": 1, "peak_concurrent": 3,
        "buyer_messages": 5, "agent_messages": 4,
        "rounds": 4, "response_seconds": 20 + 240 + 50 + 600,
        "first_rounds": 3, "first_response_seconds": 20 + 50 + 600,
        "fast_rounds": 2, "slow_rounds": 1, "unanswered_rounds": 1,
        "paid_orders": 1, "paid_fen": 9900, "service_orders": 1, "service_fen": 9900,
        "service_buyers": 1, "notes_due": 1, "notes_on_time": 1,
    }  # fmt: skip
    assert {name: mine.counts[name] for name in expected} == expected
    assert mine.rate("conversion") == pytest.approx(1 / 4)
    assert mine.rate("order_conversion") == pytest.approx(2 / 4)
    assert mine.rate("order_to_payment") == pytest.approx(1 / 2)
    assert mine.rate("response_seconds") == pytest.approx(910 / 4)
    assert mine.rate("first_response_seconds") == pytest.approx(670 / 3)
    assert mine.rate("fast_rate") == pytest.approx(2 / 4)
    assert mine.rate("reply_rate") == pytest.approx(3 / 4)
    assert mine.rate("answer_ratio") == pytest.approx(4 / 5)
    assert mine.rate("notes_on_time_rate") == 1.0
    assert mine.rate("average_order_fen") == 9900

    whole = shops.subjects[""]
    assert whole.counts["paid_orders"] == 2 and whole.counts["paid_fen"] == 14900
    assert whole.counts["silent_fen"] == 5000 and whole.counts["paid_buyers"] == 2
    assert whole.rate("average_order_fen") == 7450
    assert whole.counts["inquiring_buyers"] == 4 and whole.counts["rounds"] == 4
    assert teams.subjects[mei.team].counts["service_fen"] == 9900

    # The page's distribution of response times, from the day rows: 20 s, 50 s, 240 s
    # and one never answered (b-4's round came after the response hours).
    from xiaoer.performance.kpi import response_distribution

    async with db.session() as session:
        spread = await response_distribution(session, shop.id, DAY, DAY, mei.id)
        whole = await response_distribution(session, shop.id, DAY, DAY)
    assert spread == [
        ("≤30s", 1), ("≤60s", 1), ("≤120s", 0), ("≤180s", 0), ("≤300s", 1), ("≤600s", 0),
        (">600s", 0), ("—", 1),
    ]  # fmt: skip
    assert whole == spread


async def test_rolling_up_again_replaces_the_day_and_periods_add_days(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await _the_afternoon(db, shop, mei)
    async with db.session() as session:
        for day in (DAY, DAY + timedelta(days=1)):
            await rollup_day(session, shop.id, day, now=at(24 * 60 + 60))
        await rollup_day(session, shop.id, DAY, now=at(24 * 60 + 60))  # again: same rows
        await session.commit()
        start, end = period_bounds("week", DAY)
        week = await report(session, shop.id, start, end, KpiScope.agent, [str(mei.id)])
        shop_week = await report(session, shop.id, start, end, KpiScope.shop)
    figures = week.subjects[str(mei.id)]
    assert figures.counts["rounds"] == 4 and figures.counts["inquiring_buyers"] == 4
    assert sorted(week.days[str(mei.id)]) == [DAY]  # mei did nothing the next day
    assert sorted(shop_week.days[""]) == [DAY, DAY + timedelta(days=1)]
    assert shop_week.subjects[""].counts["paid_fen"] == 14900


def test_periods_and_months_are_checked() -> None:
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_bounds("week", date(2026, 11, 25)) == (date(2026, 11, 23), date(2026, 11, 29))
    with pytest.raises(KpiError, match="expected YYYY-MM"):
        month_bounds("2026-13")
    assert period_bounds("window", date(2026, 11, 30), 28) == (
        date(2026, 11, 3),
        date(2026, 11, 30),
    )
    assert period_bounds("quarter", date(2026, 11, 25)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_bounds("quarter", date(2026, 2, 1)) == (date(2026, 1, 1), date(2026, 3, 31))
    with pytest.raises(KpiError, match="expected day, week, month, quarter or window"):
        period_bounds("year", DAY)


async def test_the_nightly_timer_rolls_up_the_day_just_ended_and_sets_itself_again(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from sqlalchemy import select

    from xiaoer.core.models import Timer
    from xiaoer.core.timers import fire_all_due
    from xiaoer.performance.kpi import ROLLUP, do_schedule_nightly

    mei = await make_staff("mei")
    await _the_afternoon(db, shop, mei)
    async with db.session() as session:
        await do_schedule_nightly(session, shop.id, now=at(60))
        await session.commit()
    # 00:10 on the 24th in Shanghai is 16:10 UTC on the 23rd.
    assert await fire_all_due(db, now=at(10 * 60 + 11)) >= 1
    async with db.session() as session:
        day = await report(session, shop.id, DAY, DAY, KpiScope.agent)
        assert day.subjects[str(mei.id)].counts["rounds"] == 4
        [pending] = list(
            await session.scalars(
                select(Timer).where(Timer.kind == ROLLUP, Timer.fired_at.is_(None))
            )
        )
    assert pending.due_at.replace(tzinfo=None) == datetime(2026, 11, 24, 16, 10)


async def test_a_sale_to_an_unknown_buyer_counts_no_buyer(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from sqlalchemy import update

    from xiaoer.orders.models import Order

    mei = await make_staff("mei")
    async with db.session() as session:
        order = await do_create_order(
            session, shop_id=shop.id, new=NewOrder("U-1", "u-1", (NewItem("纱帘", 4500),)),
            now=at(0),
        )  # fmt: skip
        await do_flag(session, order=order, agent=mei, flag=1, now=at(1))
        await do_pay_order(session, order=order, now=at(2))
        await session.execute(update(Order).where(Order.id == order.id).values(customer_id=None))
        await rollup_day(session, shop.id, DAY, now=at(60))
        await session.commit()
        agents = await report(session, shop.id, DAY, DAY, KpiScope.agent)
    counts = agents.subjects[str(mei.id)].counts
    assert (counts["service_orders"], counts["service_fen"], counts["service_buyers"]) == (
        1,
        4500,
        0,
    )
    assert counts["paid_buyers"] == 0


async def _kpi_rows(db: Database, shop: Shop) -> list[tuple[object, ...]]:
    from sqlalchemy import select

    from xiaoer.performance.kpi import COUNTS
    from xiaoer.performance.models import KpiDay

    async with db.session() as session:
        rows = await session.scalars(select(KpiDay).where(KpiDay.shop_id == shop.id))
        return sorted(
            (row.day, row.scope, row.subject, *(getattr(row, name) for name in COUNTS))
            for row in rows
        )


async def test_days_follow_the_shops_clock_across_a_daylight_saving_change(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """New York moves from UTC−5 to UTC−4 at 02:00 on 2026-03-08: 04:30 UTC on the 9th
    is 00:30 that day, not 23:30 the day before, and 12:30 UTC is 08:30, within the
    08:00–23:00 response hours."""
    from sqlalchemy import update

    from xiaoer.performance.kpi import rollup_days

    await make_staff("mei")
    async with db.session() as session:
        await session.execute(
            update(Shop).where(Shop.id == shop.id).values(timezone="America/New_York")
        )
        await session.commit()
    asked = {
        "b-1": datetime(2026, 3, 8, 4, 30, tzinfo=UTC),  # 23:30 on the 7th
        "b-2": datetime(2026, 3, 8, 5, 30, tzinfo=UTC),  # 00:30 on the 8th
        "b-3": datetime(2026, 3, 9, 3, 30, tzinfo=UTC),  # 23:30 on the 8th
        "b-4": datetime(2026, 3, 9, 4, 30, tzinfo=UTC),  # 00:30 on the 9th
        "b-5": datetime(2026, 3, 9, 12, 30, tzinfo=UTC),  # 08:30 on the 9th
    }
    for buyer, when in asked.items():
        await _ask(db, shop, buyer, when)
    later = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    first, last = date(2026, 3, 7), date(2026, 3, 9)
    async with db.session() as session:
        await rollup_days(session, shop.id, first, last, now=later)
        await session.commit()
        days = (await report(session, shop.id, first, last, KpiScope.shop)).days[""]
    by_day = {
        day: (f.counts["buyer_messages"], f.counts["inquiring_buyers"], f.counts["rounds"])
        for day, f in days.items()
    }
    assert by_day == {first: (1, 1, 0), date(2026, 3, 8): (2, 2, 0), last: (2, 2, 1)}

    # The range counted at once equals its days counted one by one.
    together = await _kpi_rows(db, shop)
    async with db.session() as session:
        for day in (first, date(2026, 3, 8), last):
            await rollup_day(session, shop.id, day, now=later)
        await session.commit()
    assert await _kpi_rows(db, shop) == together


async def test_a_month_counted_at_once_equals_its_days_counted_one_by_one(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from xiaoer.performance.kpi import rollup_days

    mei = await make_staff("mei")
    await _the_afternoon(db, shop, mei)
    after = at(3 * 24 * 60)
    first, last = DAY - timedelta(days=1), DAY + timedelta(days=2)
    async with db.session() as session:
        written = await rollup_days(session, shop.id, first, last, now=after)
        await session.commit()
    together = await _kpi_rows(db, shop)
    assert written == len(together) and len(together) >= 6
    async with db.session() as session:
        day = first
        while day <= last:
            await rollup_day(session, shop.id, day, now=after)
            day += timedelta(days=1)
        await session.commit()
    assert await _kpi_rows(db, shop) == together


async def test_counting_alone_or_on_two_connections_gives_the_same_rows(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """On PostgreSQL a transaction that has written nothing counts on two connections; one
    that wrote first counts in its own session (the other would not see its rows)."""
    from sqlalchemy import text, update

    from xiaoer.performance.kpi import rollup_days

    mei = await make_staff("mei")
    await _the_afternoon(db, shop, mei)
    after = at(3 * 24 * 60)
    first, last = DAY - timedelta(days=1), DAY + timedelta(days=1)
    async with db.session() as session:
        await rollup_days(session, shop.id, first, last, now=after)
        await session.commit()
    spread = await _kpi_rows(db, shop)
    async with db.session() as session:
        await session.execute(update(Shop).where(Shop.id == shop.id).values(name=Shop.name))
        if db.dialect == "postgresql":
            assert await session.scalar(text("SELECT pg_current_xact_id_if_assigned()"))
        await rollup_days(session, shop.id, first, last, now=after)
        await session.commit()
    assert await _kpi_rows(db, shop) == spread
    assert any(row[1] == "agent" and row[3] > 0 for row in spread)  # mei's inquiries
