"""Pick, pack and ship (F4): the warehouse's line from an audited order to a parcel.

An audited order waits in a :class:`Shipment` (``picking``) at the location that
holds its goods, its units reserved in the ledger. The warehouse walks a location's
**pick list** (every parcel waiting there, summed per SKU in shelf order), scans each
parcel's goods into the box (:func:`do_pack`: a code that is not on the parcel, or
one unit too many, is refused and nothing is recorded), and enters the waybill
(:func:`do_ship`): the parcel leaves the ledger (``ship`` moves), its orders move to
卖家已发货, and each buyer is told in their chat which carrier carries it under which
number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import from_local, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment.carriers import Carrier, carrier_named, check_waybill, clean_waybill
from xiaoer.fulfilment.ledger import Actor, Document, Line, post
from xiaoer.fulfilment.models import (
    MoveKind,
    ProductionSlip,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    SlipStatus,
    StockLocation,
)
from xiaoer.fulfilment.notices import do_tell_buyer
from xiaoer.fulfilment.roles import WAREHOUSE
from xiaoer.orders.lifecycle import Details, Move, do_transition
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount


class ShippingError(ValueError):
    """A scan or a waybill the parcel cannot take."""


OPEN = (ShipmentStatus.picking.value, ShipmentStatus.packed.value)
MAX_SCAN = 9999  # units one scan may count: more is a finger on the wrong key


# --- who may -------------------------------------------------------------------------


def check_warehouse(staff: StaffAccount) -> None:
    if not staff.has_role(*WAREHOUSE):
        raise NotPermitted(say("only the warehouse and leaders pick, pack and ship"))


async def shipment_for(session: AsyncSession, staff: StaffAccount, shipment_id: int) -> Shipment:
    """The shop's parcel for the warehouse; another shop's is not found."""
    check_warehouse(staff)
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None or shipment.shop_id != staff.shop_id:
        raise NotFound(say("no such parcel"))
    return shipment


async def location_for(
    session: AsyncSession, staff: StaffAccount, location_id: int
) -> StockLocation:
    check_warehouse(staff)
    location = await session.get(StockLocation, location_id)
    if location is None or location.shop_id != staff.shop_id:
        raise NotFound(say("no such location in this shop"))
    return location


def _actor(staff: StaffAccount | None) -> Actor:
    return Actor(staff.id, staff.number) if staff is not None else Actor(None, "import")


# --- reading -------------------------------------------------------------------------


async def lines_of(session: AsyncSession, shipment_ids: list[int]) -> dict[int, list[ShipmentLine]]:
    found: dict[int, list[ShipmentLine]] = defaultdict(list)
    if not shipment_ids:
        return found
    rows = await session.scalars(
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id.in_(shipment_ids))
        .order_by(ShipmentLine.sku_code, ShipmentLine.id)
    )
    for line in rows:
        found[line.shipment_id].append(line)
    return found


async def orders_of(
    session: AsyncSession, lines: list[ShipmentLine], *extra: int
) -> dict[int, Order]:
    ids = {line.order_id for line in lines} | set(extra)
    if not ids:
        return {}
    return {o.id: o for o in await session.scalars(select(Order).where(Order.id.in_(ids)))}


async def titles_of(session: AsyncSession, lines: list[ShipmentLine]) -> dict[int, str]:
    """Each line's item as the buyer ordered it: title and SKU text."""
    ids = {line.order_item_id for line in lines if line.order_item_id is not None}
    if not ids:
        return {}
    items = await session.scalars(select(OrderItem).where(OrderItem.id.in_(ids)))
    by_item = {i.id: f"{i.title} {i.sku_text}".strip() for i in items}
    return {
        line.id: by_item[line.order_item_id]
        for line in lines
        if line.order_item_id is not None and line.order_item_id in by_item
    }


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


# --- packing -------------------------------------------------------------------------


async def production_ready(session: AsyncSession, order_id: int) -> bool:
    """A custom order's goods exist: it has no production slip, or every slip it has
    (cancelled ones aside) is made."""
    statuses = await session.scalars(
        select(ProductionSlip.status).where(ProductionSlip.order_id == order_id)
    )
    return all(s in (SlipStatus.made.value, SlipStatus.cancelled.value) for s in statuses)


async def _check_production(session: AsyncSession, orders: dict[int, Order]) -> None:
    for order in orders.values():
        if not await production_ready(session, order.id):
            raise ShippingError(
                say(
                    "order {number} is made to order and production has not finished it",
                    number=order.platform_order_id,
                )
            )


@dataclass
class Scan:
    """What a scan did: the line it counted into, and whether the parcel is now full."""

    line: ShipmentLine
    quantity: int
    packed: bool


def _scan_target(lines: list[ShipmentLine], code: str, quantity: int) -> ShipmentLine:
    wanted = code.strip().casefold()
    matching = [line for line in lines if line.sku_code.strip().casefold() == wanted]
    if not matching:
        raise ShippingError(say("{code} is not in this parcel", code=code.strip()[:64]))
    for line in matching:
        if line.packed + quantity <= line.quantity:
            return line
    ordered = sum(line.quantity for line in matching)
    packed = sum(line.packed for line in matching)
    raise ShippingError(
        say(
            "{code}: {ordered} ordered and {packed} packed; {quantity} more is too many",
            code=matching[0].sku_code,
            ordered=ordered,
            packed=packed,
            quantity=quantity,
        )
    )


async def check_pack(
    session: AsyncSession, staff: StaffAccount, shipment: Shipment, code: str, quantity: int
) -> tuple[ShipmentLine, list[ShipmentLine]]:
    """The line a scan of ``code`` (``quantity`` units) counts into, or a refusal."""
    check_warehouse(staff)
    if shipment.shop_id != staff.shop_id:
        raise NotFound(say("no such parcel"))
    if shipment.status != ShipmentStatus.picking.value:
        raise ShippingError(say("this parcel is packed already"))
    if not code.strip():
        raise ShippingError(say("scan a SKU code"))
    if not 1 <= quantity <= MAX_SCAN:
        raise ShippingError(say("a scan counts 1 to {most} units", most=MAX_SCAN))
    lines = (await lines_of(session, [shipment.id]))[shipment.id]
    target = _scan_target(lines, code, quantity)
    await _check_production(session, await orders_of(session, lines, shipment.order_id))
    return target, lines


async def do_pack(
    session: AsyncSession,
    staff: StaffAccount,
    shipment: Shipment,
    code: str,
    quantity: int = 1,
    *,
    now: datetime | None = None,
) -> Scan:
    """Count a scan into the parcel; the parcel is ``packed`` once every line is full."""
    target, lines = await check_pack(session, staff, shipment, code, quantity)
    now = now or utcnow()
    target.packed += quantity
    full = all(line.packed >= line.quantity for line in lines)
    await record_event(
        session,
        shipment.shop_id,
        "shipment.scanned",
        {"shipment_id": shipment.id, "sku_code": target.sku_code, "quantity": quantity,
         "packed": target.packed, "by": staff.id},
        at=now,
    )  # fmt: skip
    if full:
        shipment.status = ShipmentStatus.packed.value
        shipment.packed_by = staff.id
        shipment.packed_at = now
        await record_event(
            session,
            shipment.shop_id,
            "shipment.packed",
            {"shipment_id": shipment.id, "order_id": shipment.order_id, "by": staff.id},
            at=now,
        )
    await session.flush()
    return Scan(target, quantity, full)


# --- shipping ------------------------------------------------------------------------


def shipping_notice(order: Order, carrier: Carrier, waybill: str) -> str:
    """What the buyer reads in their chat when the parcel leaves."""
    return (
        f"亲，您的订单 {order.platform_order_id} 已经发出啦：{carrier.name}，"
        f"运单号 {waybill}。物流信息一般几个小时后可以查到，有任何问题随时找我们哦。"
    )


@dataclass
class Shipped:
    shipment: Shipment
    carrier: Carrier
    waybill: str
    changed: bool  # False: shipped before with this very waybill
    told: int = 0  # buyers told in their chat


async def check_ship(
    session: AsyncSession,
    staff: StaffAccount | None,
    shipment: Shipment,
    carrier_text: str,
    number: str,
    *,
    require_packed: bool = True,
) -> tuple[Carrier, str]:
    """The carrier and the cleaned waybill the parcel may ship with. ``staff`` None:
    the shop's own import from the command line."""
    if staff is not None:
        check_warehouse(staff)
        if shipment.shop_id != staff.shop_id:
            raise NotFound(say("no such parcel"))
    carrier = carrier_named(carrier_text)
    waybill = check_waybill(carrier, number)
    if shipment.status == ShipmentStatus.shipped.value:
        if (shipment.carrier, shipment.waybill) != (carrier.code, waybill):
            raise ShippingError(
                say(
                    "this parcel shipped already with waybill {waybill}",
                    waybill=f"{shipment.carrier} {shipment.waybill}",
                )
            )
        return carrier, waybill
    if shipment.status not in OPEN:
        raise ShippingError(say("this parcel is {status}; it cannot ship", status=shipment.status))
    if require_packed and shipment.status != ShipmentStatus.packed.value:
        raise ShippingError(say("scan every item into the parcel before it ships"))
    used = await session.scalar(
        select(Shipment.id).where(
            Shipment.shop_id == shipment.shop_id,
            Shipment.waybill == waybill,
            Shipment.id != shipment.id,
        )
    )
    if used is not None:
        raise ShippingError(say("waybill {waybill} is on another parcel already", waybill=waybill))
    lines = (await lines_of(session, [shipment.id]))[shipment.id]
    await _check_production(session, await orders_of(session, lines, shipment.order_id))
    return carrier, waybill


async def do_ship(
    session: AsyncSession,
    staff: StaffAccount | None,
    shipment: Shipment,
    carrier_text: str,
    number: str,
    *,
    require_packed: bool = True,
    now: datetime | None = None,
) -> Shipped:
    """Hand the parcel to its carrier: stock leaves the ledger, the orders move to
    卖家已发货 and their buyers are told. The same waybill again changes nothing."""
    carrier, waybill = await check_ship(
        session, staff, shipment, carrier_text, number, require_packed=require_packed
    )
    if shipment.status == ShipmentStatus.shipped.value:
        return Shipped(shipment, carrier, waybill, changed=False)
    now = now or utcnow()
    actor = _actor(staff)
    lines = (await lines_of(session, [shipment.id]))[shipment.id]
    orders = await orders_of(session, lines, shipment.order_id)
    by_order: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        if line.sku_id is not None:
            by_order[line.order_id].append(Line(line.sku_id, shipment.location_id, line.quantity))
    for order_id, moves in sorted(by_order.items()):
        await post(session, shipment.shop_id, MoveKind.ship, moves,
                   document=Document("shipment", shipment.id, waybill, order_id),
                   actor=actor, now=now)  # fmt: skip
    shipment.status = ShipmentStatus.shipped.value
    shipment.carrier = carrier.code
    shipment.waybill = waybill
    shipment.shipped_by = staff.id if staff is not None else None
    shipment.shipped_at = now
    if shipment.packed_at is None:
        shipment.packed_at = now
    details = Details(courier=carrier.name, tracking_number=waybill)
    result = Shipped(shipment, carrier, waybill, changed=True)
    for order in sorted(orders.values(), key=lambda o: o.id):
        await do_transition(session, order, Move.ship, details=details, actor=actor.label, now=now)
        told = await do_tell_buyer(
            session, order, f"shipped:{shipment.id}", shipping_notice(order, carrier, waybill),
            now=now,
        )  # fmt: skip
        result.told += told is not None
    await record_event(
        session,
        shipment.shop_id,
        "shipment.shipped",
        {"shipment_id": shipment.id, "order_ids": sorted(orders), "carrier": carrier.code,
         "waybill": waybill, "by": staff.id if staff is not None else None},
        at=now,
    )  # fmt: skip
    await session.flush()
    return result


async def shipments_of_order(session: AsyncSession, shop_id: int, order_id: int) -> list[Shipment]:
    """The parcels of an order, whatever their state (the order leads them or is in them)."""
    carrying = select(ShipmentLine.shipment_id).where(ShipmentLine.order_id == order_id)
    return list(
        await session.scalars(
            select(Shipment)
            .where(
                Shipment.shop_id == shop_id,
                or_(Shipment.order_id == order_id, Shipment.id.in_(carrying)),
            )
            .order_by(Shipment.id)
        )
    )


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
