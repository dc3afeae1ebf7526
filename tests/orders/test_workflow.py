"""An order's deadlines, tasks and sales credit (O2–O7, O10), fired by the real timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.core.models import Event, Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.orders import workflow
from xiaoer.orders.errors import OrderError
from xiaoer.orders.marks import do_flag, do_write_note, memo_for, note_versions
from xiaoer.orders.models import (
    Order,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.orders.service import load_order
from xiaoer.orders.site_orders import (
    NewItem,
    NewOrder,
    do_close_order,
    do_create_order,
    do_pay_order,
    do_ship_order,
)
from xiaoer.reception.models import Conversation
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

# 14:00 in Shanghai: outside the reminder rest hours (22:30–08:30).
NOON = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
NOTE = "刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。"


def _new(number: str, *, buyer: str = "buyer-1", cod: bool = False) -> NewOrder:
    return NewOrder(
        number=number,
        buyer_id=buyer,
        buyer_nick=buyer,
        items=(NewItem("遮光窗帘 米白", 12900, 2, sku_code="CL-101", sku_text="颜色：米白"),),
        postage_fen=1000,
        receiver_name="刘贺",
        receiver_phone="13800001234",
        receiver_address="上海市徐汇区漕溪北路1号",
        cash_on_delivery=cod,
    )


async def _order(db: Database, shop: Shop, number: str, at: datetime, **kw: object) -> int:
    async with db.session() as session:
        order = await do_create_order(session, shop_id=shop.id, new=_new(number, **kw), now=at)  # type: ignore[arg-type]
        await session.commit()
        return order.id


async def _tasks(db: Database, order_id: int) -> list[OrderTask]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OrderTask).where(OrderTask.order_id == order_id).order_by(OrderTask.id)
        )
        return list(rows)


async def _own(db: Database, shop: Shop, order_id: int, agent: StaffAccount, at: datetime) -> None:
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_flag(session, order=order, agent=agent, flag=1, now=at)
        await session.commit()


async def _pay(db: Database, shop: Shop, order_id: int, at: datetime) -> None:
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_pay_order(session, order=order, now=at)
        await session.commit()


async def test_a_paid_order_without_a_note_is_late_for_its_agent_after_20_minutes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    order_id = await _order(db, shop, "W-1", NOON)
    await _own(db, shop, order_id, agent, NOON)
    await _pay(db, shop, order_id, NOON + timedelta(minutes=1))

    await fire_all_due(db, now=NOON + timedelta(minutes=20))  # one minute early
    assert [t.kind for t in await _tasks(db, order_id)] == [TaskKind.confirm.value]

    await fire_all_due(db, now=NOON + timedelta(minutes=21, seconds=1))
    tasks = await _tasks(db, order_id)
    late = [t for t in tasks if t.kind == TaskKind.late_note.value]
    assert len(late) == 1 and late[0].assignee_id == agent.id
    async with db.session() as session:
        violation = await session.scalar(select(Event).where(Event.kind == "violation.late_note"))
        assert violation is not None
        assert violation.payload["agent_id"] == agent.id
        assert violation.payload["rule"] == "O3"
        assert violation.payload["fine_fen"] == 2000

    # Writing the note now closes the late task; the violation stays on record.
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_write_note(session, order=order, author=agent, text=NOTE,
                            now=NOON + timedelta(minutes=25))  # fmt: skip
        await session.commit()
    late = [t for t in await _tasks(db, order_id) if t.kind == TaskKind.late_note.value]
    assert late[0].status == TaskStatus.done.value and late[0].outcome == "written late"


async def test_a_note_in_time_means_no_violation(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    order_id = await _order(db, shop, "W-2", NOON)
    await _own(db, shop, order_id, agent, NOON)
    await _pay(db, shop, order_id, NOON)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        note = await do_write_note(session, order=order, author=agent, text=NOTE,
                                   now=NOON + timedelta(minutes=5))  # fmt: skip
        await session.commit()
        assert note.fields is not None and note.fields["width_m"] == 3
    await fire_all_due(db, now=NOON + timedelta(hours=1))
    async with db.session() as session:
        assert (
            await session.scalar(select(Event).where(Event.kind == "violation.late_note")) is None
        )
    assert TaskKind.late_note.value not in [t.kind for t in await _tasks(db, order_id)]


async def test_a_note_change_keeps_the_original_and_needs_a_reason(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    order_id = await _order(db, shop, "W-3", NOON)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_write_note(
            session, order=order, author=agent, text="刘贺,3米x,图案正常,12月19,自提"
        )
        with pytest.raises(OrderError, match="reason"):
            await do_write_note(session, order=order, author=agent, text=NOTE)
        await do_write_note(session, order=order, author=agent, text=NOTE, reason="尺寸写错")
        await session.commit()
    async with db.session() as session:
        versions = await note_versions(session, order_id)
        assert [v.version for v in versions] == [1, 2]
        assert versions[0].errors and versions[0].errors[0]["field"] == "size"
        assert versions[0].text.startswith("刘贺,3米x")
        assert versions[1].errors == [] and versions[1].reason == "尺寸写错"
        assert versions[1].author_number == agent.number
        order = await load_order(session, shop.id, order_id)
        memo = memo_for(order, versions[1], versions)
        assert memo["memo"].startswith(NOTE)  # type: ignore[union-attr]
        assert len(str(memo["memo"]).encode()) <= 1000


async def test_an_unpaid_order_gets_a_reminder_task_after_10_minutes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    order_id = await _order(db, shop, "W-4", NOON)
    await _own(db, shop, order_id, agent, NOON)
    await fire_all_due(db, now=NOON + timedelta(minutes=9))
    assert await _tasks(db, order_id) == []
    await fire_all_due(db, now=NOON + timedelta(minutes=11))
    tasks = await _tasks(db, order_id)
    assert [(t.kind, t.assignee_id) for t in tasks] == [(TaskKind.remind.value, agent.id)]


async def test_reminders_wait_for_the_end_of_the_rest_hours(db: Database, shop: Shop) -> None:
    late_evening = datetime(2026, 11, 23, 14, 25, tzinfo=UTC)  # 22:25 in Shanghai
    order_id = await _order(db, shop, "W-5", late_evening)
    async with db.session() as session:
        timer = await session.scalar(select(Timer).where(Timer.kind == workflow.REMIND))
        assert timer is not None
        # 22:35 falls in the rest hours: the reminder is due at 08:30 the next morning.
        assert timer.due_at == datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    await fire_all_due(db, now=datetime(2026, 11, 24, 0, 29, tzinfo=UTC))
    assert await _tasks(db, order_id) == []
    await fire_all_due(db, now=datetime(2026, 11, 24, 0, 31, tzinfo=UTC))
    assert [t.kind for t in await _tasks(db, order_id)] == [TaskKind.remind.value]


async def test_a_reminded_order_paid_in_the_window_credits_the_reminder(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    owner = await make_staff("mei")
    helper = await make_staff("lan")
    order_id = await _order(db, shop, "W-6", NOON)
    await _own(db, shop, order_id, owner, NOON)
    await fire_all_due(db, now=NOON + timedelta(minutes=11))
    async with db.session() as session:
        task = await session.scalar(select(OrderTask).where(OrderTask.order_id == order_id))
        assert task is not None
        task.outcome, task.done_by = "sent", helper.id
        task.done_at, task.status = NOON + timedelta(minutes=12), TaskStatus.done.value
        await session.commit()
    await _pay(db, shop, order_id, NOON + timedelta(hours=2))
    async with db.session() as session:
        credits = {
            (c.role, c.agent_id, c.amount_fen)
            for c in await session.scalars(
                select(SalesCredit).where(SalesCredit.order_id == order_id)
            )
        }
        order = await load_order(session, shop.id, order_id)
    assert credits == {("owner", owner.id, order.total_fen), ("assist", helper.id, order.total_fen)}


async def test_the_buyers_last_agent_owns_an_unflagged_sale(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    async with db.session() as session:
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="own_site", buyer_id="buyer-7"
        )
        session.add(
            Conversation(
                shop_id=shop.id,
                customer_id=buyer.id,
                agent_id=agent.id,
                team="presale",
                status="closed",
                opened_at=NOON,
            )
        )
        await session.commit()
    order_id = await _order(db, shop, "W-7", NOON, buyer="buyer-7")
    await _pay(db, shop, order_id, NOON)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.owner_id == agent.id
        credit = await session.scalar(select(SalesCredit).where(SalesCredit.order_id == order_id))
        assert credit is not None and credit.reason == "consulted"


async def test_another_agent_may_chase_only_after_24_hours_with_the_owner_offline(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    owner = await make_staff("mei")
    chaser = await make_staff("lan")
    order_id = await _order(db, shop, "W-8", NOON)
    await _own(db, shop, order_id, owner, NOON)
    async with db.session() as session:
        await do_set_presence(session, agent=owner, status="online", now=NOON)
        await session.commit()
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        with pytest.raises(OrderError, match="owns this sale"):
            await do_flag(session, order=order, agent=chaser, flag=2,
                          now=NOON + timedelta(hours=25))  # fmt: skip
    async with db.session() as session:
        await do_set_presence(session, agent=owner, status="offline", now=NOON)
        await session.commit()
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        with pytest.raises(OrderError):
            await do_flag(session, order=order, agent=chaser, flag=2,
                          now=NOON + timedelta(hours=23))  # fmt: skip
        why = await do_flag(session, order=order, agent=chaser, flag=2,
                            now=NOON + timedelta(hours=25))  # fmt: skip
        await session.commit()
    assert why == "chase"
    await _pay(db, shop, order_id, NOON + timedelta(hours=26))
    async with db.session() as session:
        credit = await session.scalar(select(SalesCredit).where(SalesCredit.order_id == order_id))
        assert credit is not None and credit.agent_id == chaser.id and credit.reason == "flag"


async def test_cash_on_delivery_cannot_ship_before_the_phone_confirmation(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    order_id = await _order(db, shop, "W-9", NOON, cod=True)
    assert [t.kind for t in await _tasks(db, order_id)] == [TaskKind.cod_call.value]
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        with pytest.raises(OrderError, match="by phone"):
            await do_ship_order(session, order=order, courier="顺丰", tracking_number="SF1")
        order.cod_confirmed_at = NOON
        await do_ship_order(session, order=order, courier="顺丰", tracking_number="SF1",
                            now=NOON + timedelta(hours=1))  # fmt: skip
        await session.commit()
        assert order.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value


async def test_late_shipping_and_late_delivery_alert_the_owner(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    slow = await _order(db, shop, "W-10", NOON)
    await _own(db, shop, slow, agent, NOON)
    await _pay(db, shop, slow, NOON)
    shipped = await _order(db, shop, "W-11", NOON)
    await _own(db, shop, shipped, agent, NOON)
    await _pay(db, shop, shipped, NOON)
    async with db.session() as session:
        order = await load_order(session, shop.id, shipped)
        await do_write_note(session, order=order, author=agent, text=NOTE)
        await do_ship_order(session, order=order, courier="顺丰", tracking_number="SF2",
                            now=NOON + timedelta(hours=5))  # fmt: skip
        order = await load_order(session, shop.id, slow)
        await do_write_note(session, order=order, author=agent, text=NOTE)
        await session.commit()
    await fire_all_due(db, now=NOON + timedelta(hours=49))
    assert TaskKind.late_ship.value in [t.kind for t in await _tasks(db, slow)]
    assert TaskKind.late_ship.value not in [t.kind for t in await _tasks(db, shipped)]
    await fire_all_due(db, now=NOON + timedelta(days=5, hours=6))
    late = [t for t in await _tasks(db, shipped) if t.kind == TaskKind.late_delivery.value]
    assert len(late) == 1 and late[0].assignee_id == agent.id


async def test_closing_an_unpaid_order_cancels_its_reminder(db: Database, shop: Shop) -> None:
    order_id = await _order(db, shop, "W-12", NOON)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_close_order(session, order=order, reason="", now=NOON + timedelta(minutes=5))
        await session.commit()
        assert order.status == TradeStatus.TRADE_CLOSED_BY_TAOBAO.value
        assert order.close_reason == "买家未付款"
    await fire_all_due(db, now=NOON + timedelta(hours=1))
    assert await _tasks(db, order_id) == []


async def test_a_second_unpaid_order_with_the_same_goods_is_flagged_as_a_duplicate(
    db: Database, shop: Shop
) -> None:
    await _order(db, shop, "W-13", NOON)
    second = await _order(db, shop, "W-14", NOON + timedelta(minutes=3))
    assert [t.kind for t in await _tasks(db, second)] == [TaskKind.duplicate.value]


async def test_the_same_order_number_twice_returns_the_stored_order(
    db: Database, shop: Shop
) -> None:
    first = await _order(db, shop, "W-15", NOON)
    again = await _order(db, shop, "W-15", NOON + timedelta(minutes=1))
    assert first == again
    async with db.session() as session:
        assert len(list(await session.scalars(select(Order)))) == 1
        assert await session.scalar(select(SellerNote)) is None
