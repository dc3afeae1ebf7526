"""Orders as the pages and reports read them: counts, sales by day, one order."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.orders.access import OrderNotFound, check_same_shop
from xiaoer.orders.models import (
    PAID_STATUSES,
    Order,
    OrderTask,
    SellerNote,
    TaskStatus,
    TradeStatus,
)
from xiaoer.staff.models import StaffAccount


async def status_counts(session: AsyncSession, shop_id: int) -> dict[str, int]:
    """Orders per trade status, every status present (zero when none)."""
    rows = await session.execute(
        select(Order.status, func.count()).where(Order.shop_id == shop_id).group_by(Order.status)
    )
    counts = {status.value: 0 for status in TradeStatus}
    counts.update({status: int(n) for status, n in rows.all()})
    return counts


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


async def paid_since(session: AsyncSession, shop_id: int, since: datetime) -> tuple[int, int]:
    """(orders, fen) paid at or after ``since``."""
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen), 0)).where(
                Order.shop_id == shop_id, Order.paid_at >= since
            )
        )
    ).one()
    return int(count), int(total)


async def paid_today(
    session: AsyncSession, shop_id: int, zone: str = DEFAULT_ZONE, now: datetime | None = None
) -> tuple[int, int]:
    today = (now or utcnow()).astimezone(ZoneInfo(zone)).date()
    return await paid_since(session, shop_id, _local_midnight(today, zone))


async def daily_paid(
    session: AsyncSession,
    shop_id: int,
    days: int,
    zone: str = DEFAULT_ZONE,
    now: datetime | None = None,
) -> list[tuple[date, int]]:
    """Paid fen per shop-local day for the last ``days`` days, oldest first."""
    today = (now or utcnow()).astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    rows = await session.execute(
        select(Order.paid_at, Order.paid_fen).where(
            Order.shop_id == shop_id, Order.paid_at >= _local_midnight(first, zone)
        )
    )
    totals = {first + timedelta(days=i): 0 for i in range(days)}
    tz = ZoneInfo(zone)
    for paid_at, fen in rows.all():
        if paid_at is None:
            continue
        day = paid_at.astimezone(tz).date()
        if day in totals:
            totals[day] += int(fen)
    return sorted(totals.items())


async def orders_in_status(
    session: AsyncSession, shop_id: int, status: TradeStatus, limit: int = 20
) -> list[Order]:
    """Oldest first: the ones waiting longest come first."""
    rows = await session.scalars(
        select(Order)
        .where(Order.shop_id == shop_id, Order.status == status.value)
        .order_by(Order.paid_at, Order.created_at)
        .limit(limit)
    )
    return list(rows)


async def order_by_platform_id(session: AsyncSession, shop_id: int, number: str) -> Order | None:
    return await session.scalar(
        select(Order).where(Order.shop_id == shop_id, Order.platform_order_id == number)
    )


async def load_order(session: AsyncSession, shop_id: int, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != shop_id:
        raise OrderNotFound(say("no order {order_id} in this shop", order_id=order_id))
    return order


async def order_for(session: AsyncSession, staff: StaffAccount, order_id: int) -> Order:
    """An order of the staff member's shop, with its items; another shop's is unknown."""
    order = await session.scalar(
        select(Order).options(selectinload(Order.items)).where(Order.id == order_id)
    )
    return check_same_shop(staff, order, order_id)


PanelOrder = tuple[Order, SellerNote | None, list[OrderTask], datetime | None]


async def buyer_orders_for(
    session: AsyncSession, staff: StaffAccount, customer_id: int, limit: int = 5
) -> list[PanelOrder]:
    """A buyer's latest orders for the chat's side panel: each with its current note, its
    open tasks and when the note is due if it is missing. A buyer of another shop is
    unknown here."""
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.shop_id != staff.shop_id:
        raise OrderNotFound(say("no buyer {customer_id} in this shop", customer_id=customer_id))
    orders = list(
        await session.scalars(
            select(Order)
            .options(selectinload(Order.items))
            .where(Order.shop_id == staff.shop_id, Order.customer_id == customer_id)
            .order_by(Order.created_at.desc())
            .limit(limit)
        )
    )
    ids = [o.id for o in orders]
    notes: dict[int, SellerNote] = {}
    tasks: dict[int, list[OrderTask]] = {}
    if ids:
        for version in await session.scalars(
            select(SellerNote).where(SellerNote.order_id.in_(ids)).order_by(SellerNote.version)
        ):
            notes[version.order_id] = version  # the last version wins
        for task in await session.scalars(
            select(OrderTask)
            .where(OrderTask.order_id.in_(ids), OrderTask.status == TaskStatus.open.value)
            .order_by(OrderTask.id)
        ):
            tasks.setdefault(task.order_id, []).append(task)
    policy = await policy_on(session, staff.shop_id)
    note_minutes = timedelta(minutes=policy.orders.seller_note_minutes)
    panel: list[PanelOrder] = []
    for order in orders:
        note = notes.get(order.id)
        due = None
        if order.status in PAID_STATUSES and order.paid_at is not None and note is None:
            due = order.paid_at + note_minutes
        panel.append((order, note, tasks.get(order.id, []), due))
    return panel
