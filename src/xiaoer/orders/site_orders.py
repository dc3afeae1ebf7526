"""Orders from the shop's own site (O1): created, paid, shipped, finished, closed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.catalog.models import Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.hooks import site_prices
from xiaoer.core.texts import Text, say
from xiaoer.orders import workflow
from xiaoer.orders.errors import OrderError
from xiaoer.orders.lifecycle import Details, Move, do_transition
from xiaoer.orders.models import (
    Order,
    OrderItem,
    TradeStatus,
)
from xiaoer.orders.service import order_by_platform_id


@dataclass(frozen=True)
class NewItem:
    title: str
    price_fen: int
    quantity: int = 1
    sku_code: str = ""
    sku_text: str = ""


@dataclass(frozen=True)
class NewOrder:
    """An order placed on the shop's own site, as its API receives it."""

    number: str
    buyer_id: str
    items: tuple[NewItem, ...]
    postage_fen: int = 0
    buyer_nick: str = ""
    receiver_name: str = ""
    receiver_phone: str = ""
    receiver_address: str = ""
    buyer_message: str = ""
    shipping_method: str = ""
    cash_on_delivery: bool = False
    channel: str = "own_site"


_NUMBER = re.compile(r"[A-Za-z0-9-]{1,32}")
MAX_FEN = 2**31 - 1  # the amount columns are 32-bit


def _check_length(what: Text, value: str, limit: int) -> None:
    if len(value) > limit:
        raise OrderError(
            say(
                "{what} is {length} characters long; at most {limit}",
                what=what,
                length=len(value),
                limit=limit,
            )
        )


def _check_new(order: NewOrder) -> None:
    if not _NUMBER.fullmatch(order.number):
        raise OrderError(say("order number: 1–32 letters, digits or '-'"))
    if not order.items:
        raise OrderError(say("an order needs at least one item"))
    for item in order.items:
        if not item.title.strip():
            raise OrderError(say("every item needs a title"))
        if item.price_fen < 0 or item.quantity < 1:
            raise OrderError(
                say("item {title!r}: price must be ≥ 0 and quantity ≥ 1", title=item.title)
            )
        _check_length(say("an item title"), item.title.strip(), 200)
        _check_length(say("an item's SKU code"), item.sku_code, 64)
        _check_length(say("an item's SKU text"), item.sku_text, 200)
    if order.postage_fen < 0:
        raise OrderError(say("postage must be ≥ 0"))
    total = sum(i.price_fen * i.quantity for i in order.items) + order.postage_fen
    if total > MAX_FEN:
        raise OrderError(
            say("the order total {total} fen is more than an order can hold", total=total)
        )
    for what, value, limit in (
        (say("buyer nick"), order.buyer_nick, 64),
        (say("receiver name"), order.receiver_name, 64),
        (say("receiver phone"), order.receiver_phone, 32),
        (say("shipping method"), order.shipping_method, 32),
    ):
        _check_length(what, value, limit)


async def do_create_order(
    session: AsyncSession, *, shop_id: int, new: NewOrder, now: datetime | None = None
) -> Order:
    """Create an own-site order; the same number again returns the stored order."""
    now = now or utcnow()
    _check_new(new)
    existing = await order_by_platform_id(session, shop_id, new.number)
    if existing is not None:
        return existing
    buyer = await do_get_or_create_customer(
        session, shop_id=shop_id, channel=new.channel, buyer_id=new.buyer_id,
        nick=new.buyer_nick, phone=new.receiver_phone, name=new.receiver_name,
    )  # fmt: skip
    codes = {i.sku_code for i in new.items if i.sku_code}
    skus = (
        {
            code: sid
            for code, sid in await session.execute(
                select(Sku.code, Sku.id).where(Sku.shop_id == shop_id, Sku.code.in_(codes))
            )
        }
        if codes
        else {}
    )
    # A member of the shop pays the member price of a SKU where it is below the one sent.
    lowered = await site_prices(session, shop_id, buyer.id, sorted(set(skus.values())))
    prices = [
        min(i.price_fen, lowered.get(skus.get(i.sku_code, 0), i.price_fen)) for i in new.items
    ]
    goods = sum(price * i.quantity for price, i in zip(prices, new.items, strict=True))
    order = Order(
        shop_id=shop_id,
        platform_order_id=new.number,
        customer_id=buyer.id,
        buyer_nick=new.buyer_nick or buyer.nick,
        status=TradeStatus.WAIT_BUYER_PAY.value,
        source="api",
        goods_fen=goods,
        postage_fen=new.postage_fen,
        total_fen=goods + new.postage_fen,
        receiver_name=new.receiver_name,
        receiver_phone=new.receiver_phone,
        receiver_address=new.receiver_address,
        buyer_message=new.buyer_message,
        shipping_method=new.shipping_method,
        cash_on_delivery=new.cash_on_delivery,
        created_at=now,
        updated_at=now,
    )
    order.items = [
        OrderItem(
            title=i.title.strip(), price_fen=price, quantity=i.quantity,
            sku_code=i.sku_code, sku_text=i.sku_text, sku_id=skus.get(i.sku_code),
        )
        for price, i in zip(prices, new.items, strict=True)
    ]  # fmt: skip
    session.add(order)
    await session.flush()
    created = {"order_id": order.id, "number": order.platform_order_id}
    await record_event(session, shop_id, "order.created", created, at=now)
    await workflow.on_order_created(session, order, now=now)
    return order


async def do_pay_order(
    session: AsyncSession,
    *,
    order: Order,
    paid_fen: int | None = None,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    return await do_transition(
        session, order, Move.pay, details=Details(paid_fen=paid_fen), actor=actor, now=now
    )


async def do_ship_order(
    session: AsyncSession,
    *,
    order: Order,
    courier: str,
    tracking_number: str,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    """Mark shipped; a cash-on-delivery order must have been confirmed by phone (O7)."""
    details = Details(courier=courier, tracking_number=tracking_number)
    return await do_transition(session, order, Move.ship, details=details, actor=actor, now=now)


async def do_finish_order(
    session: AsyncSession, *, order: Order, actor: str = "api", now: datetime | None = None
) -> Order:
    return await do_transition(session, order, Move.finish, actor=actor, now=now)


async def do_close_order(
    session: AsyncSession,
    *,
    order: Order,
    reason: str,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    details = Details(reason=reason)
    return await do_transition(session, order, Move.close, details=details, actor=actor, now=now)
