"""Points (R5): earned on payment, pending until received, taken back by refunds,
expiring oldest first, spent within the order's share — and never kept after a refund.

Given/when/then with exact dates; the shop is in Shanghai, the policy the default
(1 point a yuan, 15 days pending after shipping, 12 months usable, 1 fen a point, half
an order at most)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.customers.points_world import (
    at,
    moves_of,
    paid_order,
    points_of,
    refund,
    site_order,
)
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import AuditEntry, Timer
from xiaoer.core.policy import Policy
from xiaoer.customers.models import PointsBalance, PointsMove
from xiaoer.customers.points import (
    PointsError,
    do_adjust_points,
    do_spend_points,
    ledger_of,
    settle_points,
)
from xiaoer.customers.points_ledger import add_months, earned_points
from xiaoer.customers.points_rebuild import rebuild_points
from xiaoer.customers.points_settle import SETTLE
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import do_close_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff


async def test_a_payment_earns_pending_points_once(db: Database, shop: Shop) -> None:
    # given an order of 200 yuan of the shop's site
    async with db.session() as session:
        # when it is paid on 2026-03-02
        order = await paid_order(session, shop.id, "P-1", 200, paid=at("2026-03-02"))
        assert order.customer_id is not None
        # then 200 points are pending, and the pass arms itself for the shop
        assert await points_of(session, order.customer_id) == (200, 0)
        timer = await session.scalar(select(Timer).where(Timer.kind == SETTLE))
        assert timer is not None and timer.subject == f"shop:{shop.id}"
        # and a pass, or another, earns nothing more for it
        for hour in (3, 4):
            report = await settle_points(session, shop.id, now=at("2026-03-02", hour))
            assert report.earned == 0
        assert await moves_of(session, order.customer_id) == [("earn", 200, 0)]
        await session.commit()


async def test_an_imported_paid_order_earns_in_the_pass(db: Database, shop: Shop) -> None:
    # given a paid order that came in without the hook (as an import writes it)
    async with db.session() as session:
        order = await site_order(session, shop.id, "P-IMP", 88, when=at("2026-03-02"))
        await session.execute(
            update(Order)
            .where(Order.id == order.id)
            .values(paid_at=at("2026-03-02"), paid_fen=8850, status="WAIT_SELLER_SEND_GOODS")
        )
        assert order.customer_id is not None
        # when the periodic pass runs, then it earns 88 points (rounded down), once
        assert (await settle_points(session, shop.id, now=at("2026-03-02", 3))).earned == 88
        assert (await settle_points(session, shop.id, now=at("2026-03-02", 4))).earned == 0
        assert await points_of(session, order.customer_id) == (88, 0)
        await session.commit()


async def test_points_become_usable_on_receipt_and_expire_a_year_later(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        # given 200 yuan paid on 2026-03-02, shipped the next day
        order = await paid_order(session, shop.id, "P-2", 200, paid=at("2026-03-02"),
                                 shipped=at("2026-03-03"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        # when the return window has not passed (15 days after 2026-03-03 10:00 Shanghai)
        await settle_points(session, shop.id, now=at("2026-03-18", 1))
        # then the points stay pending
        assert await points_of(session, buyer) == (200, 0)
        # when it has passed, then they are usable until 2027-03-18
        assert (await settle_points(session, shop.id, now=at("2026-03-18", 3))).confirmed == 200
        assert await points_of(session, buyer) == (0, 200)
        lot = await session.scalar(select(PointsMove).where(PointsMove.kind == "confirm"))
        assert lot is not None and lot.expires_on == date(2027, 3, 18)
        # and on 2027-03-18 they expire
        assert (await settle_points(session, shop.id, now=at("2027-03-17"))).expired == 0
        assert (await settle_points(session, shop.id, now=at("2027-03-18"))).expired == 200
        assert await points_of(session, buyer) == (0, 0)
        await session.commit()


async def test_confirming_receipt_confirms_at_once_but_never_with_a_refund_open(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        # given 100 yuan paid, shipped and received by 2026-04-05
        order = await paid_order(session, shop.id, "P-3", 100, paid=at("2026-04-01"),
                                 shipped=at("2026-04-02"), finished=at("2026-04-05"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        # and a refund asked for and still open
        asked = await refund(session, order, 30, RefundStatus.WAIT_SELLER_AGREE)
        # when the pass runs, then nothing is confirmed
        await settle_points(session, shop.id, now=at("2026-04-06"))
        assert await points_of(session, buyer) == (100, 0)
        # when the buyer withdraws the refund, then the next pass confirms all 100
        asked.status = RefundStatus.CLOSED.value
        await session.flush()
        await settle_points(session, shop.id, now=at("2026-04-07"))
        assert await points_of(session, buyer) == (0, 100)
        await session.commit()


async def test_a_refund_before_confirmation_leaves_nothing_to_spend(
    db: Database, shop: Shop
) -> None:
    """The exploit: buy, earn, refund, keep the points."""
    async with db.session() as session:
        # given an order of 200 yuan paid on 2026-05-01
        order = await paid_order(session, shop.id, "P-4", 200, paid=at("2026-05-01"),
                                 shipped=at("2026-05-02"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        # when it is refunded in full before confirmation
        await refund(session, order, 200)
        # then a spend (which settles the buyer's refunds first) finds nothing
        unpaid = await site_order(session, shop.id, "P-4B", 300, when=at("2026-05-03"))
        with pytest.raises(PointsError, match="only 0 points are usable"):
            await do_spend_points(session, None, buyer, unpaid.id, 1, shop_id=shop.id,
                                  now=at("2026-05-03"))  # fmt: skip
        # and pending 0, usable 0, even after the return window
        assert await points_of(session, buyer) == (0, 0)
        await settle_points(session, shop.id, now=at("2026-06-01"))
        assert await points_of(session, buyer) == (0, 0)
        assert [m[0] for m in await moves_of(session, buyer)] == ["earn", "reverse"]
        await session.commit()


async def test_a_refund_after_the_points_were_spent_leaves_a_debt(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        # given 200 points confirmed on 2026-05-05 and 150 of them spent
        order = await paid_order(session, shop.id, "P-5", 200, paid=at("2026-05-01"),
                                 shipped=at("2026-05-02"), finished=at("2026-05-05"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        await settle_points(session, shop.id, now=at("2026-05-05", 3))
        second = await site_order(session, shop.id, "P-5B", 300, when=at("2026-05-06"))
        spent = await do_spend_points(session, None, buyer, second.id, 150, shop_id=shop.id,
                                      now=at("2026-05-06"))  # fmt: skip
        assert (spent.discount_fen, spent.total_fen) == (150, 29850)
        assert await points_of(session, buyer) == (0, 50)
        # when the first order is refunded in full
        await refund(session, order, 200)
        await settle_points(session, shop.id, now=at("2026-05-07"))
        # then usable is negative: the 150 spent are owed
        assert await points_of(session, buyer) == (0, -150)
        # and the next spend is refused
        third = await site_order(session, shop.id, "P-5C", 300, when=at("2026-05-08"))
        with pytest.raises(PointsError, match="owed"):
            await do_spend_points(session, None, buyer, third.id, 1, shop_id=shop.id,
                                  now=at("2026-05-08"))  # fmt: skip
        # and the debt is paid back by the next order's points once they are usable
        await paid_order(session, shop.id, "P-5D", 400, paid=at("2026-05-10"),
                         shipped=at("2026-05-11"), finished=at("2026-05-12"))  # fmt: skip
        await settle_points(session, shop.id, now=at("2026-05-13"))
        assert await points_of(session, buyer) == (0, 250)
        await session.commit()


async def test_a_partial_refund_takes_back_its_share(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        # given 200 yuan paid, 200 points pending
        order = await paid_order(session, shop.id, "P-6", 200, paid=at("2026-05-01"),
                                 shipped=at("2026-05-02"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        # when 50 yuan is refunded, then 50 points are taken back from pending
        await refund(session, order, 50)
        assert (await settle_points(session, shop.id, now=at("2026-05-03"))).reversed == 50
        assert await points_of(session, buyer) == (150, 0)
        # when another 30 yuan is refunded after confirmation, then 30 more from usable
        await settle_points(session, shop.id, now=at("2026-05-20"))
        assert await points_of(session, buyer) == (0, 150)
        await refund(session, order, 30)
        assert (await settle_points(session, shop.id, now=at("2026-05-21"))).reversed == 30
        assert await points_of(session, buyer) == (0, 120)
        # and passing again takes nothing more
        assert (await settle_points(session, shop.id, now=at("2026-05-22"))).reversed == 0
        await session.commit()


async def test_spending_is_held_to_the_order_share_and_once_an_order(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        order = await paid_order(session, shop.id, "P-7", 500, paid=at("2026-05-01"),
                                 shipped=at("2026-05-02"), finished=at("2026-05-03"))  # fmt: skip
        buyer = order.customer_id
        assert buyer is not None
        await settle_points(session, shop.id, now=at("2026-05-04"))
        # given 500 usable points and an unpaid order of 6 yuan
        small = await site_order(session, shop.id, "P-7B", 6, when=at("2026-05-05"))
        # then at most half of it (300 fen = 300 points) may be paid with points
        with pytest.raises(PointsError, match="at most 300 points"):
            await do_spend_points(session, None, buyer, small.id, 301, shop_id=shop.id)
        await do_spend_points(session, None, buyer, small.id, 300, shop_id=shop.id)
        assert small.total_fen == 300
        # and a second spend on the same order is refused
        with pytest.raises(PointsError, match="already"):
            await do_spend_points(session, None, buyer, small.id, 1, shop_id=shop.id)
        # and a paid order takes none
        with pytest.raises(PointsError, match="unpaid"):
            await do_spend_points(session, None, buyer, order.id, 1, shop_id=shop.id)
        assert await points_of(session, buyer) == (0, 200)
        await session.commit()


async def test_spent_points_come_back_when_their_order_is_refunded_or_closed(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        first = await paid_order(session, shop.id, "P-8", 400, paid=at("2026-05-01"),
                                 shipped=at("2026-05-02"), finished=at("2026-05-03"))  # fmt: skip
        buyer = first.customer_id
        assert buyer is not None
        await settle_points(session, shop.id, now=at("2026-05-04"))
        # given 100 points spent on an order of 100 yuan paid 99 yuan
        second = await site_order(session, shop.id, "P-8B", 100, when=at("2026-05-05"))
        await do_spend_points(session, None, buyer, second.id, 100, shop_id=shop.id,
                              now=at("2026-05-05"))  # fmt: skip
        await do_pay_order(session, order=second, now=at("2026-05-05", 3))
        # and 200 points spent on an order left unpaid
        third = await site_order(session, shop.id, "P-8C", 500, when=at("2026-05-05"))
        await do_spend_points(session, None, buyer, third.id, 200, shop_id=shop.id,
                              now=at("2026-05-05"))  # fmt: skip
        assert await points_of(session, buyer) == (99, 100)
        # when half of the paid one is refunded and the unpaid one closes
        await refund(session, second, 49)  # 49.00 of 99.00 paid
        await do_close_order(session, order=third, reason="买家未付款", now=at("2026-05-06"))
        report = await settle_points(session, shop.id, now=at("2026-05-06", 3))
        # then 49 of the 100 spent and all 200 come back; 49 of the 99 earned go
        assert (report.restored, report.reversed) == (249, 49)
        assert await points_of(session, buyer) == (50, 349)
        await session.commit()


async def test_usable_points_expire_oldest_first(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        # given 100 points usable from 2026-01-10 and 50 from 2026-02-10
        for number, yuan, month in (("E-1", 100, "2026-01"), ("E-2", 50, "2026-02")):
            await paid_order(session, shop.id, number, yuan, paid=at(f"{month}-07"),
                             shipped=at(f"{month}-08"), finished=at(f"{month}-09"))  # fmt: skip
            await settle_points(session, shop.id, now=at(f"{month}-10"))
        buyer = (await session.scalars(select(Order.customer_id))).first()
        assert buyer is not None
        assert await points_of(session, buyer) == (0, 150)
        # and 120 spent on 2026-05-01 (the 100 of January and 20 of February's)
        spend_on = await site_order(session, shop.id, "E-3", 300, when=at("2026-05-01"))
        await do_spend_points(session, None, buyer, spend_on.id, 120, shop_id=shop.id,
                              now=at("2026-05-01"))  # fmt: skip
        # when January's lot is a year old, then nothing of it is left to expire
        assert (await settle_points(session, shop.id, now=at("2027-01-10"))).expired == 0
        # when February's is, then its 30 left expire
        assert (await settle_points(session, shop.id, now=at("2027-02-10"))).expired == 30
        assert await points_of(session, buyer) == (0, 0)
        assert (await settle_points(session, shop.id, now=at("2027-02-11"))).expired == 0
        await session.commit()


async def _staff(session: AsyncSession, shop: Shop, name: str, role: str) -> StaffAccount:
    number = {"agent": "1001", "supervisor": "1100", "manager": "1101"}[role]
    return await do_add_staff(session, shop_id=shop.id, username=name, number=number,
                              name=name, password="correct-horse-7", roles=(role,))  # fmt: skip


async def test_a_supervisor_adjusts_with_a_reason_an_agent_reads_only(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        agent = await _staff(session, shop, "mei", "agent")
        boss = await _staff(session, shop, "sup", "supervisor")
        order = await paid_order(session, shop.id, "A-1", 10, paid=at("2026-05-01"))
        buyer = order.customer_id
        assert buyer is not None
        # an agent may not adjust, and a refusal leaves nothing
        with pytest.raises(NotPermitted):
            await do_adjust_points(session, agent, buyer, 50, "补偿")
        with pytest.raises(PointsError, match="say why"):
            await do_adjust_points(session, boss, buyer, 50, "  ")
        # a supervisor gives 50, then takes 20, each with a reason, audited
        balance = await do_adjust_points(session, boss, buyer, 50, "物流慢，补偿",
                                         now=at("2026-05-02"))  # fmt: skip
        assert (balance.pending, balance.usable) == (10, 50)
        balance = await do_adjust_points(session, boss, buyer, -20, "多给了", now=at("2026-05-03"))
        assert (balance.pending, balance.usable) == (10, 30)
        with pytest.raises(PointsError, match="only 30 points are usable"):
            await do_adjust_points(session, boss, buyer, -31, "多给了")
        audits = await session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "points").order_by(AuditEntry.id)
        )
        assert list(audits) == ["物流慢，补偿", "多给了"]
        # the agent reads the ledger
        ledger = await ledger_of(session, agent, buyer)
        assert [m.kind for m in ledger.moves] == ["adjust", "adjust", "earn"]
        await session.commit()


async def test_rebuild_reports_a_corrupted_balance_and_fixes_it(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        order = await paid_order(session, shop.id, "R-1", 120, paid=at("2026-05-01"))
        buyer = order.customer_id
        assert buyer is not None
        await session.commit()
    async with db.session() as session:
        assert (await rebuild_points(session, shop.id, fix=False)).drift == []
        # given a balance written around the ledger
        await session.execute(
            update(PointsBalance).where(PointsBalance.customer_id == buyer).values(usable=999)
        )
        await session.commit()
    async with db.session() as session:
        # when checked, then the drift is reported and nothing changed
        report = await rebuild_points(session, shop.id, fix=False)
        assert [(d.field, d.was, d.is_) for d in report.drift] == [("usable", 999, 0)]
        await session.rollback()
    async with db.session() as session:
        # when rebuilt, then the balance is the ledger's again
        assert (await rebuild_points(session, shop.id)).fixed
        await session.commit()
    async with db.session() as session:
        assert await points_of(session, buyer) == (120, 0)
        assert (await rebuild_points(session, shop.id, fix=False)).drift == []


@pytest.mark.database_free
def test_points_and_months_are_counted_exactly() -> None:
    policy = Policy()
    assert earned_points(policy, 19999) == 199
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 18), 12) == date(2027, 3, 18)
    assert add_months(date(2026, 12, 5), 1) == date(2027, 1, 5)
