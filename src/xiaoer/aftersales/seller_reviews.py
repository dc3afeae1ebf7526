"""The shop's review of every finished trade (S5): what is left to review, and writing
the reviews from the shop's templates, many at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import SellerReview
from xiaoer.aftersales.tickets import TicketError, TicketNotFound, check_may_work
from xiaoer.core.clock import utcnow
from xiaoer.core.texts import say
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.staff.models import StaffAccount

RATINGS = ("good", "neutral", "bad")
MAX_TEXT = 500
MAX_AT_ONCE = 500


def _waiting(shop_id: int) -> Select[Any]:
    reviewed = select(SellerReview.order_id).where(SellerReview.shop_id == shop_id)
    return select(Order).where(
        Order.shop_id == shop_id,
        Order.status == TradeStatus.TRADE_FINISHED.value,
        Order.id.not_in(reviewed),
    )


async def unreviewed(
    session: AsyncSession, staff: StaffAccount, *, limit: int = 50, before: int | None = None
) -> tuple[list[Order], int]:
    """Finished trades the shop has not reviewed, newest first, and how many there are."""
    check_may_work(staff)
    query = _waiting(staff.shop_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    if before is not None:
        query = query.where(Order.id < before)
    rows = await session.scalars(query.order_by(Order.id.desc()).limit(limit))
    return list(rows), int(total or 0)


async def do_review_trades(
    session: AsyncSession,
    staff: StaffAccount,
    order_ids: Sequence[int],
    *,
    text: str,
    rating: str = "good",
    now: datetime | None = None,
) -> int:
    """Review the given finished trades with ``text``; returns how many were written.
    Another shop's order is not found; one not finished or reviewed already is refused."""
    check_may_work(staff)
    words = text.strip()
    if not words:
        raise TicketError(say("choose a template or write the review"))
    if len(words) > MAX_TEXT:
        raise TicketError(say("a review is at most {limit} characters", limit=MAX_TEXT))
    if rating not in RATINGS:
        raise TicketError(say("the rating is good, neutral or bad"))
    wanted = sorted(set(order_ids))
    if not wanted:
        raise TicketError(say("choose the trades to review"))
    if len(wanted) > MAX_AT_ONCE:
        raise TicketError(say("review at most {limit} trades at once", limit=MAX_AT_ONCE))
    orders = {
        o.id: o
        for o in await session.scalars(
            select(Order).where(Order.id.in_(wanted), Order.shop_id == staff.shop_id)
        )
    }
    missing = [i for i in wanted if i not in orders]
    if missing:
        raise TicketNotFound(say("no order {order_id}", order_id=missing[0]))
    done = set(
        await session.scalars(
            select(SellerReview.order_id).where(SellerReview.order_id.in_(wanted))
        )
    )
    for order_id in wanted:
        order = orders[order_id]
        if order.status != TradeStatus.TRADE_FINISHED.value:
            raise TicketError(
                say("order {number} is not finished yet", number=order.platform_order_id)
            )
        if order_id in done:
            raise TicketError(
                say("order {number} is reviewed already", number=order.platform_order_id)
            )
    moment = now or utcnow()
    session.add_all(
        SellerReview(shop_id=staff.shop_id, order_id=order_id, rating=rating, text=words,
                     by_id=staff.id, created_at=moment)
        for order_id in wanted
    )  # fmt: skip
    await session.flush()
    return len(wanted)
