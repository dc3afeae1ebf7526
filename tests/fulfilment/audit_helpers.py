"""A small shop floor for the audit's tests: a catalog with a custom curtain, two
stock locations, and paid orders placed as the own site places them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.fulfilment.ledger import Document, Line, post
from xiaoer.fulfilment.models import MoveKind, StockLocation
from xiaoer.orders.marks import do_write_note
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

NOTE = "刘贺,3米*2.4米,图案正常,12月19发货,自提"
ADDRESS = "浙江省杭州市西湖区文三路100号"


@dataclass
class Floor:
    shop_id: int
    skus: dict[str, int] = field(default_factory=dict)  # code → id
    locations: dict[str, int] = field(default_factory=dict)  # code → id


async def stock_floor(session: AsyncSession, shop: Shop, *, a: int = 10, b: int = 10) -> Floor:
    """SKUs ``TEA-1`` (a plain one) and ``CUR-300`` (a custom curtain 3*2.4 m), with
    ``a`` units of each at location A (position 1) and ``b`` at B (position 2)."""
    floor = Floor(shop.id)
    plain = Product(shop_id=shop.id, code="TEA", title="龙井茶", price_fen=5000)
    curtain = Product(shop_id=shop.id, code="CUR", title="定制窗帘", price_fen=50000,
                      custom_made=True)  # fmt: skip
    session.add_all([plain, curtain])
    await session.flush()
    for product, code, attributes in (
        (plain, "TEA-1", {"规格": "250克"}),
        (curtain, "CUR-300", {"尺寸": "3米*2.4米"}),
    ):
        sku = Sku(shop_id=shop.id, product_id=product.id, code=code, attributes=attributes,
                  price_fen=product.price_fen, stock=0)  # fmt: skip
        session.add(sku)
        await session.flush()
        floor.skus[code] = sku.id
    for code, position in (("A", 1), ("B", 2)):
        location = StockLocation(shop_id=shop.id, code=code, name=f"{code}仓", position=position)
        session.add(location)
        await session.flush()
        floor.locations[code] = location.id
    for code, units in (("A", a), ("B", b)):
        if units:
            await post(
                session, shop.id, MoveKind.receive,
                [Line(sku, floor.locations[code], units) for sku in floor.skus.values()],
                document=Document("receipt", ref=f"R-{code}"),
            )  # fmt: skip
    return floor


async def paid_order(
    session: AsyncSession,
    shop: Shop,
    number: str,
    *items: NewItem,
    buyer: str = "buyer-1",
    address: str = ADDRESS,
    note: str | None = NOTE,
    writer: StaffAccount | None = None,
    cod: bool = False,
) -> Order:
    new = NewOrder(
        number=number, buyer_id=buyer, items=items or (NewItem("龙井茶", 5000, 2, "TEA-1"),),
        buyer_nick=f"nick-{buyer}", receiver_name="刘贺", receiver_phone="13800001111",
        receiver_address=address, cash_on_delivery=cod,
    )  # fmt: skip
    order = await do_create_order(session, shop_id=shop.id, new=new)
    if writer is not None and note is not None:
        await do_write_note(session, order=order, author=writer, text=note)
    if not cod:
        await do_pay_order(session, order=order)
    await session.flush()
    return order


async def reload(db: Database, model: type, ident: int) -> object:
    async with db.session() as session:
        return await session.get(model, ident)
