"""Pick, pack and ship (F4): the warehouse's line from an audited order to a parcel.

An audited order waits in a :class:`Shipment` (``picking``) at the location that
holds its goods, its units reserved in the ledger. The warehouse walks a location's
pick list (:mod:`xiaoer.fulfilment.picking`), scans each
parcel's goods into the box (:func:`do_pack`: a code that is not on the parcel, or
one unit too many, is refused and nothing is recorded), and enters the waybill
(:func:`do_ship`): the parcel leaves the ledger (``ship`` moves), its orders move to
卖家已发货, and each buyer is told in their chat which carrier carries it under which
number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment.carriers import Carrier, carrier_named, check_waybill
from xiaoer.fulfilment.ledger import Actor, Document, Line, post
from xiaoer.fulfilment.models import (
    MoveKind,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    StockLocation,
)
from xiaoer.fulfilment.notices import do_tell_buyer
from xiaoer.fulfilment.parcel_problems import follow_shipped
from xiaoer.fulfilment.production import production_ready
from xiaoer.fulfilment.roles import WAREHOUSE
from xiaoer.orders.lifecycle import Details, Move, do_transition
from xiaoer.orders.models import Order, OrderItem
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


# --- packing -------------------------------------------------------------------------


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
    await follow_shipped(session, shipment, now=now)
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
