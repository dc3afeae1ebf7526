"""What the warehouse has to do (F4): a location's pick list, the queue of parcels,
and finding a parcel by what is scanned.

A pick list walks one location's shelves once for every parcel waiting there: their
goods summed per SKU in shelf order (the SKU code), each with the orders it serves.
The queue puts late parcels (past their ship-by time) first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import from_local, utcnow
from xiaoer.fulfilment.carriers import clean_waybill
from xiaoer.fulfilment.models import Shipment, ShipmentLine, ShipmentStatus, StockLocation
from xiaoer.fulfilment.shipping import (
    check_warehouse,
    lines_of,
    location_for,
    orders_of,
    titles_of,
)
from xiaoer.orders.models import Order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount


@dataclass
class PickLine:
    """One SKU to take off the shelf for every parcel of the list."""

    sku_code: str
    title: str
    quantity: int
    orders: list[str] = field(default_factory=list)  # the platform's order numbers


@dataclass
class PickList:
    location: StockLocation
    shipments: list[Shipment]
    lines: list[PickLine]
    orders: dict[int, Order]


_NEVER = datetime.max.replace(tzinfo=UTC)
QUEUE_PAGE = 100  # parcels of each list on a page of the queue


def _late_first(shipment: Shipment) -> tuple[bool, datetime, int]:
    return (shipment.ship_by is None, shipment.ship_by or _NEVER, shipment.id)


async def pick_list(session: AsyncSession, staff: StaffAccount, location_id: int) -> PickList:
    """The parcels waiting to be picked at a location, their goods summed per SKU in
    shelf order (the SKU code), each with the orders it serves."""
    location = await location_for(session, staff, location_id)
    shipments = sorted(
        await session.scalars(
            select(Shipment).where(
                Shipment.shop_id == staff.shop_id,
                Shipment.location_id == location.id,
                Shipment.status == ShipmentStatus.picking.value,
            )
        ),
        key=_late_first,
    )
    by_shipment = await lines_of(session, [s.id for s in shipments])
    every = [line for lines in by_shipment.values() for line in lines]
    orders = await orders_of(session, every)
    titles = await titles_of(session, every)
    summed: dict[str, PickLine] = {}
    for line in every:
        pick = summed.setdefault(line.sku_code, PickLine(line.sku_code, titles.get(line.id, ""), 0))
        pick.quantity += line.quantity
        number = orders[line.order_id].platform_order_id
        if number not in pick.orders:
            pick.orders.append(number)
        if not pick.title:
            pick.title = titles.get(line.id, "")
    lines = [summed[code] for code in sorted(summed)]
    return PickList(location, list(shipments), lines, orders)


@dataclass
class LocationQueue:
    location: StockLocation
    waiting: int
    late: int


@dataclass
class Queue:
    """The warehouse's screen: parcels to pick per location, packed ones waiting for a
    waybill, those shipped today; late ones first, a page of each list at a time."""

    picking: list[LocationQueue]
    to_pick: list[Shipment]
    packed: list[Shipment]
    shipped_today: list[Shipment]
    orders: dict[int, Order]
    locations: dict[int, StockLocation]
    page: int = 1
    per_page: int = QUEUE_PAGE
    totals: dict[str, int] = field(default_factory=dict)  # to_pick, packed, shipped_today

    @property
    def pages(self) -> int:
        """How many pages the longest list has."""
        longest = max(self.totals.values(), default=0)
        return max(1, -(-longest // self.per_page))


async def warehouse_queue(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    now: datetime | None = None,
    page: int = 1,
    per_page: int | None = QUEUE_PAGE,
) -> Queue:
    """The queue, counted in SQL over every open parcel; ``per_page`` None: every row
    (the export)."""
    check_warehouse(staff)
    now = now or utcnow()
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    today = await shop_today(session, shop.id, now)
    since = from_local(datetime.combine(today, time()), shop.timezone)
    mine = Shipment.shop_id == shop.id
    is_late = case((Shipment.ship_by < now, 1), else_=0)
    counted = await session.execute(
        select(Shipment.location_id, func.count(), func.sum(is_late))
        .where(mine, Shipment.status == ShipmentStatus.picking.value)
        .group_by(Shipment.location_id)
    )
    waiting = {row[0]: (int(row[1]), int(row[2] or 0)) for row in counted}
    locations = {
        loc.id: loc
        for loc in await session.scalars(
            select(StockLocation)
            .where(StockLocation.shop_id == shop.id)
            .order_by(StockLocation.position, StockLocation.code)
        )
    }
    picking = [
        LocationQueue(location, *waiting[location.id])
        for location in locations.values()
        if location.id in waiting
    ]
    late_first = (Shipment.ship_by.is_(None), Shipment.ship_by, Shipment.id)
    shipped_today = and_(
        Shipment.status == ShipmentStatus.shipped.value,
        Shipment.shipped_at >= since,
        Shipment.shipped_at < since + timedelta(days=1),
    )
    lists = {
        "to_pick": (Shipment.status == ShipmentStatus.picking.value, late_first),
        "packed": (Shipment.status == ShipmentStatus.packed.value, late_first),
        "shipped_today": (shipped_today, (Shipment.shipped_at.desc(), Shipment.id.desc())),
    }
    page = max(1, page)
    rows: dict[str, list[Shipment]] = {}
    totals: dict[str, int] = {}
    for name, (where, order) in lists.items():
        totals[name] = int(
            await session.scalar(select(func.count()).select_from(Shipment).where(mine, where))
            or 0
        )
        query = select(Shipment).where(mine, where).order_by(*order)
        if per_page is not None:
            query = query.offset((page - 1) * per_page).limit(per_page)
        rows[name] = list(await session.scalars(query))
    shown = [s.order_id for found in rows.values() for s in found]
    orders = await orders_of(session, [], *shown)
    return Queue(
        picking, rows["to_pick"], rows["packed"], rows["shipped_today"], orders, locations,
        page=page, per_page=per_page or max(1, *totals.values()), totals=totals,
    )  # fmt: skip


async def find_parcels(
    session: AsyncSession, staff: StaffAccount, text: str, *, limit: int = 50
) -> list[Shipment]:
    """The shop's parcels a scan or a typed text names: by the order's number, the
    waybill or the parcel's own number (``#12`` or ``12``), newest first."""
    check_warehouse(staff)
    wanted = text.strip().lstrip("#")[:64]
    if not wanted:
        return []
    numbered = select(Order.id).where(
        Order.shop_id == staff.shop_id, Order.platform_order_id == wanted
    )
    named = [
        Shipment.waybill == clean_waybill(wanted),
        Shipment.order_id.in_(numbered),
        Shipment.id.in_(
            select(ShipmentLine.shipment_id).where(ShipmentLine.order_id.in_(numbered))
        ),
    ]
    if wanted.isdigit() and len(wanted) <= 18:
        named.append(Shipment.id == int(wanted))
    return list(
        await session.scalars(
            select(Shipment)
            .where(Shipment.shop_id == staff.shop_id, or_(*named))
            .order_by(Shipment.id.desc())
            .limit(limit)
        )
    )
