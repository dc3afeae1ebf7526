"""Buyers of the shop's own site and their orders at exact times, for the points' tests.

Times are UTC; the shop is in Shanghai (UTC+8). The default policy: 1 point per yuan,
pending 15 days after shipping, usable for 12 months, a point takes 1 fen off, at most
half an order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import xiaoer.customers.membership  # noqa: F401  (the site's member prices)
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.customers.models import PointsBalance, PointsMove
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import (
    NewItem,
    NewOrder,
    do_create_order,
    do_finish_order,
    do_pay_order,
    do_ship_order,
)


def at(day: str, hour: int = 2) -> datetime:
    """``day`` at ``hour`` UTC (10:00 in Shanghai by default)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


async def site_order(
    session: AsyncSession,
    shop_id: int,
    number: str,
    yuan: int,
    *,
    buyer: str = "fang",
    sku: str = "",
    when: datetime,
) -> Order:
    """An unpaid order of the shop's site for ``buyer``."""
    new = NewOrder(number=number, buyer_id=buyer, buyer_nick=buyer,
                   items=(NewItem("龙井茶", yuan * 100, 1, sku),))  # fmt: skip
    return await do_create_order(session, shop_id=shop_id, new=new, now=when)


async def paid_order(
    session: AsyncSession,
    shop_id: int,
    number: str,
    yuan: int,
    *,
    buyer: str = "fang",
    paid: datetime,
    shipped: datetime | None = None,
    finished: datetime | None = None,
) -> Order:
    order = await site_order(session, shop_id, number, yuan, buyer=buyer, when=paid)
    await do_pay_order(session, order=order, now=paid)
    if shipped is not None:
        await do_ship_order(session, order=order, courier="SF", tracking_number=f"SF{number}",
                            now=shipped)  # fmt: skip
    if finished is not None:
        await do_finish_order(session, order=order, now=finished)
    await session.flush()
    return order


async def refund(
    session: AsyncSession,
    order: Order,
    yuan: int,
    status: RefundStatus = RefundStatus.SUCCESS,
) -> Refund:
    """A money-only refund of the order, as an import of the refund report leaves it."""
    row = Refund(shop_id=order.shop_id, order_id=order.id, kind="refund_only",
                 status=status.value, amount_fen=yuan * 100)  # fmt: skip
    session.add(row)
    await session.flush()
    return row


class Points(NamedTuple):
    pending: int
    usable: int


async def points_of(session: AsyncSession, customer_id: int) -> Points:
    row = await session.get(PointsBalance, customer_id, populate_existing=True)
    return Points(0, 0) if row is None else Points(row.pending, row.usable)


async def moves_of(session: AsyncSession, customer_id: int) -> list[tuple[str, int, int]]:
    rows = await session.execute(
        select(PointsMove.kind, PointsMove.pending, PointsMove.usable)
        .where(PointsMove.customer_id == customer_id)
        .order_by(PointsMove.id)
    )
    return [(r.kind, r.pending, r.usable) for r in rows]
