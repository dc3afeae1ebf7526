"""Audited orders waiting in the warehouse, made the way the audit leaves them: paid,
stock received and reserved at a location, a parcel (``picking``) with its lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.fulfilment.ledger import Document, Line, post
from xiaoer.fulfilment.models import MoveKind, Shipment, ShipmentLine, StockLocation
from xiaoer.orders.models import Order, OrderItem
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop


@dataclass(frozen=True)
class Parcel:
    shipment_id: int
    order_id: int
    number: str  # the order's platform number
    location_id: int
    conversation_id: int | None


async def stock_place(session: AsyncSession, shop: Shop, code: str = "A", position: int = 1) -> int:
    found = await session.scalar(
        select(StockLocation.id).where(StockLocation.shop_id == shop.id, StockLocation.code == code)
    )
    if found is not None:
        return found
    place = StockLocation(shop_id=shop.id, code=code, name=f"{code}区货架", position=position)
    session.add(place)
    await session.flush()
    return place.id


async def sku(session: AsyncSession, shop: Shop, code: str, units: int, location_id: int) -> int:
    """A SKU with ``units`` received at the location (made once per code)."""
    found = await session.scalar(select(Sku.id).where(Sku.shop_id == shop.id, Sku.code == code))
    if found is None:
        product = Product(shop_id=shop.id, code=f"P-{code}", title=f"窗帘{code}", price_fen=9900)
        session.add(product)
        await session.flush()
        made = Sku(shop_id=shop.id, product_id=product.id, code=code, price_fen=9900, stock=0)
        session.add(made)
        await session.flush()
        found = made.id
    await post(session, shop.id, MoveKind.receive, [Line(found, location_id, units)],
               document=Document("receipt", ref=f"R-{code}"))  # fmt: skip
    return found


async def parcel(
    db: Database,
    shop: Shop,
    number: str,
    items: dict[str, int],
    *,
    location: str = "A",
    chat: bool = True,
    ship_by: datetime | None = None,
) -> Parcel:
    """A paid own-site order of ``items`` (SKU code → quantity), its stock received and
    reserved, and its parcel waiting to be picked; its buyer has a chat when ``chat``."""
    async with db.session() as session:
        shop = await session.get(Shop, shop.id) or shop
        place = await stock_place(session, shop, location)
        for code, quantity in items.items():
            await sku(session, shop, code, quantity + 5, place)
        new = NewOrder(
            number=number, buyer_id=f"buyer-{number}", buyer_nick=f"买家{number}",
            items=tuple(NewItem(f"窗帘{code}", 9900, qty, sku_code=code, sku_text="颜色分类：米白")
                        for code, qty in items.items()),
            receiver_name="王女士", receiver_phone="13900001111",
            receiver_address="浙江省杭州市西湖区文三路1号",
        )  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        order_items = list(
            await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id))
        )
        lines = [Line(i.sku_id, place, i.quantity) for i in order_items if i.sku_id is not None]
        held = Document("order", order.id, order.platform_order_id, order.id)
        await post(session, shop.id, MoveKind.reserve, lines, document=held)
        shipment = Shipment(shop_id=shop.id, order_id=order.id, location_id=place, ship_by=ship_by)
        session.add(shipment)
        await session.flush()
        session.add_all(
            ShipmentLine(shipment_id=shipment.id, order_id=order.id, order_item_id=i.id,
                         sku_id=i.sku_id, sku_code=i.sku_code, quantity=i.quantity)
            for i in order_items
        )  # fmt: skip
        conversation_id = None
        if chat:
            customer = await session.get(Customer, order.customer_id)
            assert customer is not None
            posted = await do_receive_buyer_message(
                session, shop=shop, customer=customer, text="亲，什么时候发货呀？"
            )
            conversation_id = posted.conversation.id
        await session.commit()
        return Parcel(shipment.id, order.id, order.platform_order_id, place, conversation_id)


async def order_of(db: Database, order_id: int) -> Order:
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order
