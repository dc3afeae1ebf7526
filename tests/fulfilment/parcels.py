"""Shipped parcels for the tracking tests: an own-site order of an agent's, paid, with
its buyer in a chat, a location, and a parcel handed to the carrier."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.fulfilment.models import Shipment, ShipmentStatus, StockLocation
from xiaoer.fulfilment.parcel_problems import follow_shipped
from xiaoer.orders.lifecycle import Details, Move, do_transition
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.models import Message
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def _location(session: AsyncSession, shop: Shop) -> StockLocation:
    found = await session.scalar(
        select(StockLocation).where(StockLocation.shop_id == shop.id, StockLocation.code == "A")
    )
    if found is None:
        found = StockLocation(shop_id=shop.id, code="A", name="一号仓", position=1)
        session.add(found)
        await session.flush()
    return found


async def make_parcel(
    db: Database,
    shop: Shop,
    owner: StaffAccount | None,
    number: str,
    *,
    carrier: str = "SF",
    waybill: str = "",
    status: ShipmentStatus = ShipmentStatus.shipped,
    shipped_at: datetime | None = None,
    ship_by: datetime | None = None,
    deliver_by: datetime | None = None,
    chat: bool = True,
) -> int:
    """A parcel of a new paid order ``number`` (owned by ``owner``); shipped ones are
    followed as shipping follows them. Returns the shipment's id."""
    shipped_at = shipped_at or utcnow() - timedelta(hours=2)
    waybill = waybill or "SF" + "".join(filter(str.isdigit, number)).zfill(10)
    async with db.session() as session:
        order = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder(number=number, buyer_id=f"buyer-{number}", buyer_nick=f"nick-{number}",
                         items=(NewItem("棉麻窗帘", 9900),), receiver_name="王先生",
                         receiver_phone="13800001234", receiver_address="上海市徐汇区1号"),
        )  # fmt: skip
        if owner is not None:
            await do_flag(session, order=order, agent=owner, flag=1)
        await do_pay_order(session, order=order)
        customer = await session.get(Customer, order.customer_id)
        assert customer is not None
        if chat:
            await do_receive_buyer_message(
                session, shop=shop, customer=customer, text="亲，在吗", team="presale"
            )
        location = await _location(session, shop)
        shipped = status != ShipmentStatus.picking and status != ShipmentStatus.packed
        shipment = Shipment(
            shop_id=shop.id, order_id=order.id, location_id=location.id, status=status.value,
            carrier=carrier, waybill=waybill,
            ship_by=ship_by, deliver_by=deliver_by,
            shipped_at=shipped_at if shipped else None,
        )  # fmt: skip
        session.add(shipment)
        await session.flush()
        if shipped:
            await do_transition(
                session, order, Move.ship,
                details=Details(courier=carrier, tracking_number=shipment.waybill), now=shipped_at,
            )  # fmt: skip
            await follow_shipped(session, shipment, now=shipped_at)
        await session.commit()
        return shipment.id


async def shipment_of(db: Database, shipment_id: int) -> Shipment:
    async with db.session() as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None
        return shipment


async def notices_of(db: Database, shipment_id: int) -> list[Message]:
    """The automatic messages fulfilment posted in the parcel's buyer's chat."""
    async with db.session() as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None
        order = await session.get(Order, shipment.order_id)
        assert order is not None
        messages = await session.scalars(
            select(Message).where(Message.sender == "auto").order_by(Message.id)
        )
        return [
            m
            for m in messages
            if isinstance(m.meta, dict)
            and m.meta.get("order_id") == order.id
            and str(m.meta.get("notice", "")).endswith(f":{shipment_id}")
        ]
