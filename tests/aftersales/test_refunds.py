"""Refunds through their service: who may, how much, and what each move leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import GoodsStatus, Move, RefundKind, RefundStateError
from xiaoer.aftersales.refunds import RefundHeld, do_move_refund, do_open_refund, refund_for
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.orders.models import Order, OrderItem
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff


async def _paid_order(db: Database, shop_id: int, number: str, price_fen: int) -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("窗帘", price_fen),))
        order = await do_create_order(session, shop_id=shop_id, new=new)
        await do_pay_order(session, order=order)
        await session.commit()
        return order.id


async def test_a_return_is_agreed_sent_back_confirmed_and_counted_on_the_order(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    order_id = await _paid_order(db, shop.id, "S-1", 9900)
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        refund = await do_open_refund(
            session, staff, order_id=order_id, kind=RefundKind.return_refund,
            amount_fen=6000, reason="尺寸不合适",
        )  # fmt: skip
        await do_move_refund(session, staff, refund.id, Move.agree)
        await do_move_refund(
            session, staff, refund.id, Move.send_back, waybill="SF1234567890", carrier="顺丰"
        )
        done = await do_move_refund(session, staff, refund.id, Move.confirm_goods)
        await session.commit()
        assert (done.status, done.goods) == ("SUCCESS", GoodsStatus.SELLER_RECEIVED.value)
        assert (done.return_carrier, done.return_waybill) == ("顺丰", "SF1234567890")
        order = await session.get(Order, order_id)
        assert order is not None and order.refunded_fen == 6000
        moves = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "refund")
                .order_by(AuditEntry.id)
            )
        )
        assert moves == ["open", "agree", "send_back", "confirm_goods"]
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "refund.status")
        )
        assert events == 4


async def test_a_refund_asks_at_most_what_is_left_of_the_payment(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    order_id = await _paid_order(db, shop.id, "S-2", 9900)
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        await do_open_refund(
            session, staff, order_id=order_id, kind=RefundKind.refund_only,
            amount_fen=4000, reason="少发一件",
        )  # fmt: skip
        with pytest.raises(RefundStateError, match="at most 5900 fen can be refunded"):
            await do_open_refund(
                session, staff, order_id=order_id, kind=RefundKind.refund_only,
                amount_fen=5901, reason="再退一点",
            )  # fmt: skip
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(Refund)) == 1


async def test_only_after_sales_agents_and_leaders_handle_refunds_of_their_own_shop(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    mei = await make_staff("mei", team="presale")
    sup = await make_staff("sup", "supervisor")
    war = await make_staff("war", "warehouse")
    order_id = await _paid_order(db, shop.id, "S-3", 9900)
    async with db.session() as session:
        other = await do_create_shop(session, code="silk", name="丝语家纺", default_courier="中通")
        await session.commit()
    other_order = await _paid_order(db, other.id, "S-9", 9900)
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        refund = await do_open_refund(
            session, staff, order_id=order_id, kind=RefundKind.refund_only,
            amount_fen=100, reason="运费险",
        )  # fmt: skip
        await session.commit()
        refund_id = refund.id
        for account in (mei, war):
            someone = await session.get(StaffAccount, account.id)
            assert someone is not None
            with pytest.raises(NotPermitted, match="only after-sales agents"):
                await do_move_refund(session, someone, refund.id, Move.agree)
            with pytest.raises(NotPermitted):
                await do_open_refund(
                    session, someone, order_id=order_id, kind=RefundKind.refund_only,
                    amount_fen=100, reason="x",
                )  # fmt: skip
        leader = await session.get(StaffAccount, sup.id)
        assert leader is not None
        with pytest.raises(NotFound):
            await do_open_refund(
                session, leader, order_id=other_order, kind=RefundKind.refund_only,
                amount_fen=100, reason="x",
            )  # fmt: skip
        assert (await refund_for(session, leader, refund.id)).id == refund.id
        await session.rollback()
    async with db.session() as session:
        stranger = await do_create_shop(session, code="tea2", name="别家", default_courier="顺丰")
        await session.flush()
        outsider = await do_add_staff(
            session, shop_id=stranger.id, username="out", number="9", name="Out",
            password="correct-horse-7", level="senior", team="aftersale", roles=("supervisor",),
        )  # fmt: skip
        with pytest.raises(NotFound, match="no such refund"):
            await do_move_refund(session, outsider, refund_id, Move.agree)
        kept = await session.get(Refund, refund_id)
        assert kept is not None and kept.status == "WAIT_SELLER_AGREE"


async def test_on_the_peak_day_an_agreement_waits_for_the_next_day_and_names_the_deadline(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    order_id = await _paid_order(db, shop.id, "S-4", 9900)
    peak = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 10:00 on the shop's clock
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        refund = await do_open_refund(
            session, staff, order_id=order_id, kind=RefundKind.refund_only,
            amount_fen=9900, reason="不想要了", now=peak,
        )  # fmt: skip
        refund.deadline_at = datetime(2026, 11, 13, 2, 0, tzinfo=UTC)
        with pytest.raises(RefundHeld) as held:
            await do_move_refund(session, staff, refund.id, Move.agree, now=peak)
        assert str(held.value) == (
            "refunds are agreed from 2026-11-12 00:00 (peak day); "
            "the platform's deadline 2026-11-13 10:00 still runs"
        )
        last_minute = datetime(2026, 11, 11, 15, 59, tzinfo=UTC)  # 23:59 in the shop
        with pytest.raises(RefundHeld):
            await do_move_refund(session, staff, refund.id, Move.agree, now=last_minute)
        next_day = datetime(2026, 11, 11, 16, 0, tzinfo=UTC)  # 00:00 on 11-12 in the shop
        agreed = await do_move_refund(session, staff, refund.id, Move.agree, now=next_day)
        assert agreed.status == "SUCCESS"


async def test_a_refund_known_to_the_order_list_and_the_refund_report_counts_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """The order list says ¥30 was refunded; the refund report holds that same ¥30 as a
    success. ¥69 more may be asked of the ¥99 paid, not ¥39."""
    ling = await make_staff("ling", team="aftersale", level="senior")
    order_id = await _paid_order(db, shop.id, "S-9", 9900)
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.refunded_fen = 3000
        session.add(Refund(shop_id=shop.id, order_id=order_id, platform_refund_id="R-1",
                           kind="refund_only", status="SUCCESS", goods="BUYER_RECEIVED",
                           amount_fen=3000, reason="少件"))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        with pytest.raises(RefundStateError, match="at most 6900 fen"):
            await do_open_refund(session, staff, order_id=order_id, kind=RefundKind.refund_only,
                                 amount_fen=6901, reason="还少一件")  # fmt: skip
        refund = await do_open_refund(session, staff, order_id=order_id,
                                      kind=RefundKind.refund_only, amount_fen=6900,
                                      reason="还少一件")  # fmt: skip
        assert refund.amount_fen == 6900


async def test_a_refund_of_one_item_is_capped_by_what_the_item_cost(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """Two items: curtains ¥80 ×1 and hooks ¥5 ×4. The hooks may take ¥20 back between
    them, ¥12 and then at most ¥8; a refund naming another order's item is refused."""
    ling = await make_staff("ling", team="aftersale", level="senior")
    async with db.session() as session:
        new = NewOrder(number="I-1", buyer_id="b-i",
                       items=(NewItem("窗帘", 8000), NewItem("挂钩", 500, 4)))  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        other = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder(number="I-2", buyer_id="b-j", items=(NewItem("纱帘", 3000),)),
        )  # fmt: skip
        await session.commit()
        items = {i.title: i.id for i in await session.scalars(select(OrderItem))}
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        ask = partial(do_open_refund, session, staff, order_id=order.id,
                      kind=RefundKind.refund_only, reason="少挂钩")  # fmt: skip
        await ask(amount_fen=1200, order_item_id=items["挂钩"])
        with pytest.raises(RefundStateError, match="at most 800 fen"):
            await ask(amount_fen=801, order_item_id=items["挂钩"])
        await ask(amount_fen=800, order_item_id=items["挂钩"])
        with pytest.raises(RefundStateError, match="not of this order"):
            await ask(amount_fen=100, order_item_id=items["纱帘"])
        del other
