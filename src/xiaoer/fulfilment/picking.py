"""What the warehouse has to do (F4): a location's pick list, the queue of parcels,
and finding a parcel by what is scanned.

A pick list walks one location's shelves once for every parcel waiting there: their
goods summed per SKU in shelf order (the SKU code), each with the orders it serves.
The queue puts late parcels (past their ship-by time) first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import from_local, utcnow
from xiaoer.fulfilment.carriers import clean_waybill
from xiaoer.fulfilment.models import Shipment, ShipmentLine, ShipmentStatus, StockLocation
from xiaoer.fulfilment.shipping import (
    OPEN,
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
    waybill, those shipped today; late ones first."""

    picking: list[LocationQueue]
    to_pick: list[Shipment]
    packed: list[Shipment]
    shipped_today: list[Shipment]
    orders: dict[int, Order]
    locations: dict[int, StockLocation]


async def warehouse_queue(
    session: AsyncSession, staff: StaffAccount, *, now: datetime | None = None, limit: int = 200
) -> Queue:
    check_warehouse(staff)
    now = now or utcnow()
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    today = await shop_today(session, shop.id, now)
    since = from_local(datetime.combine(today, time()), shop.timezone)
    rows = list(
        await session.scalars(
            select(Shipment)
            .where(
                Shipment.shop_id == shop.id,
                or_(
                    Shipment.status.in_(OPEN),
                    (Shipment.status == ShipmentStatus.shipped.value)
                    & (Shipment.shipped_at >= since)
                    & (Shipment.shipped_at < since + timedelta(days=1)),
                ),
            )
            .order_by(Shipment.id)
            .limit(limit * 3)
        )
    )
    locations = {
        loc.id: loc
        for loc in await session.scalars(
            select(StockLocation)
            .where(StockLocation.shop_id == shop.id)
            .order_by(StockLocation.position, StockLocation.code)
        )
    }
    to_pick = sorted((s for s in rows if s.status == ShipmentStatus.picking.value), key=_late_first)
    picking = []
    for location in locations.values():
        here = [s for s in to_pick if s.location_id == location.id]
        if here:
            late = sum(1 for s in here if s.ship_by is not None and s.ship_by < now)
            picking.append(LocationQueue(location, len(here), late))
    packed = sorted((s for s in rows if s.status == ShipmentStatus.packed.value), key=_late_first)
    shipped = sorted(
        (s for s in rows if s.status == ShipmentStatus.shipped.value),
        key=lambda s: s.shipped_at or now,
        reverse=True,
    )
    orders = await orders_of(session, [], *(s.order_id for s in rows))
    return Queue(picking, to_pick[:limit], packed[:limit], shipped[:limit], orders, locations)


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
