"""Orders from the shop's own site (O1): ``/site/{channel}/orders/…``.

The site's server creates, pays, ships, finishes and closes its orders through a
bridge channel, authenticated by the channel's secret like the bridge API. The
buyer is the channel's customer (:func:`~xiaoer.reception.bridge.customer_channel`),
so a buyer who chats and orders through one channel is one customer. A channel
sees only the orders placed through it: neither another channel's nor an
imported platform order can be read or changed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.buyers.service import CustomerError
from xiaoer.core.clock import as_utc
from xiaoer.core.db import Database
from xiaoer.core.texts import say
from xiaoer.http.api_errors import coded_error
from xiaoer.http.params import RowId
from xiaoer.orders.errors import OrderError
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.orders.service import order_by_platform_id
from xiaoer.orders.site_orders import (
    NewItem,
    NewOrder,
    do_close_order,
    do_create_order,
    do_finish_order,
    do_pay_order,
    do_ship_order,
)
from xiaoer.reception.bridge import ChannelError, authenticated_channel, customer_channel
from xiaoer.reception.buyers import RateLimiter
from xiaoer.reception.models import Channel

router = APIRouter(prefix="/site")
limiter = RateLimiter(limit=600, window=60)

ACTOR = "site-api"
NUMBER_PATTERN = "^[A-Za-z0-9-]{1,32}$"
MAX_FEN = 100_000_000  # ¥1,000,000: a price, postage or payment
MAX_TOTAL_FEN = 2_000_000_000  # an order's total fits the 32-bit amount columns
MAX_BODY_BYTES = 16 * 1024  # docs/api.md promises it; refused before the body is read

# The status names the staff pages show (web/i18n/zh/core.toml, [status]).
STATUS_TEXT: dict[str, str] = {
    TradeStatus.WAIT_BUYER_PAY: "等待买家付款",
    TradeStatus.WAIT_SELLER_SEND_GOODS: "买家已付款，待发货",
    TradeStatus.SELLER_CONSIGNED_PART: "部分发货",
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS: "已发货，待收货",
    TradeStatus.TRADE_BUYER_SIGNED: "买家已签收",
    TradeStatus.TRADE_FINISHED: "交易成功",
    TradeStatus.TRADE_CLOSED: "交易关闭（已退款）",
    TradeStatus.TRADE_CLOSED_BY_TAOBAO: "交易关闭（未付款）",
}

Number = Annotated[str, Path(pattern=NUMBER_PATTERN)]
Authorization = Annotated[str | None, Header()]


class SiteItem(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    price_fen: int = Field(ge=0, le=MAX_FEN)
    quantity: int = Field(default=1, ge=1, le=9999)
    sku_code: str = Field(default="", max_length=64)
    sku_text: str = Field(default="", max_length=200)


class SiteOrder(BaseModel):
    number: str = Field(pattern=NUMBER_PATTERN)
    buyer_id: str = Field(min_length=1, max_length=64)
    buyer_nick: str = Field(default="", max_length=64)
    items: list[SiteItem] = Field(min_length=1, max_length=50)
    postage_fen: int = Field(default=0, ge=0, le=MAX_FEN)
    receiver_name: str = Field(default="", max_length=64)
    receiver_phone: str = Field(default="", max_length=32)
    receiver_address: str = Field(default="", max_length=500)
    buyer_message: str = Field(default="", max_length=1000)
    shipping_method: str = Field(default="", max_length=32)
    cash_on_delivery: bool = False

    @model_validator(mode="after")
    def _total_fits(self) -> SiteOrder:
        total = self.postage_fen + sum(i.price_fen * i.quantity for i in self.items)
        if total > MAX_TOTAL_FEN:
            limit = MAX_TOTAL_FEN
            raise ValueError(say("the order's total may be at most {limit} fen", limit=limit))
        if not self.buyer_id.strip():
            raise ValueError(say("buyer_id must not be blank"))
        if any(not i.title.strip() for i in self.items):
            raise ValueError(say("every item needs a title"))
        return self

    def new_order(self, channel: Channel) -> NewOrder:
        return NewOrder(
            number=self.number,
            buyer_id=self.buyer_id,
            items=tuple(
                NewItem(
                    title=i.title,
                    price_fen=i.price_fen,
                    quantity=i.quantity,
                    sku_code=i.sku_code.strip(),
                    sku_text=i.sku_text.strip(),
                )
                for i in self.items
            ),
            postage_fen=self.postage_fen,
            buyer_nick=self.buyer_nick.strip(),
            receiver_name=self.receiver_name.strip(),
            receiver_phone=self.receiver_phone.strip(),
            receiver_address=self.receiver_address.strip(),
            buyer_message=self.buyer_message.strip(),
            shipping_method=self.shipping_method.strip(),
            cash_on_delivery=self.cash_on_delivery,
            channel=customer_channel(channel),
        )


class PayBody(BaseModel):
    paid_fen: int | None = Field(default=None, ge=0, le=MAX_TOTAL_FEN)


class ShipBody(BaseModel):
    courier: str = Field(min_length=1, max_length=32)
    tracking_number: str = Field(min_length=1, max_length=64)


class CloseBody(BaseModel):
    reason: str = Field(default="", max_length=64)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _time(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def order_json(order: Order) -> dict[str, Any]:
    """The order as the site reads it: amounts in fen, times ISO 8601 in UTC."""
    return {
        "number": order.platform_order_id,
        "status": order.status,
        "status_text": STATUS_TEXT.get(order.status, order.status),
        "goods_fen": order.goods_fen,
        "postage_fen": order.postage_fen,
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "created_at": _time(order.created_at),
        "paid_at": _time(order.paid_at),
        "shipped_at": _time(order.shipped_at),
        "finished_at": _time(order.finished_at),
        "closed_at": _time(order.closed_at),
        "close_reason": order.close_reason,
        "courier": order.courier,
        "tracking_number": order.tracking_number,
        "cash_on_delivery": order.cash_on_delivery,
        "items": [
            {
                "title": item.title,
                "sku_code": item.sku_code,
                "sku_text": item.sku_text,
                "price_fen": item.price_fen,
                "quantity": item.quantity,
            }
            for item in order.items
        ],
    }


async def _channel(
    request: Request, session: AsyncSession, channel_id: int, authorization: str | None
) -> Channel:
    try:
        channel = await authenticated_channel(session, channel_id, authorization)
    except ChannelError as exc:
        raise HTTPException(401, coded_error(request, exc)) from exc
    if not limiter.allow(str(channel.id)):
        slow_down = say("too many calls on this channel; slow down")
        raise HTTPException(429, coded_error(request, slow_down))
    return channel


async def _through(session: AsyncSession, order: Order, channel: Channel) -> bool:
    """Whether ``order`` was placed through ``channel``'s API."""
    if order.source != "api" or order.customer_id is None:
        return False
    customer = await session.get(Customer, order.customer_id)
    return customer is not None and customer.channel == customer_channel(channel)


async def _order_of(session: AsyncSession, channel: Channel, number: str) -> Order | None:
    """The channel's order ``number`` with its items, or None."""
    order = await order_by_platform_id(session, channel.shop_id, number)
    if order is None or not await _through(session, order, channel):
        return None
    await session.refresh(order, attribute_names=["items"])
    return order


async def _found(request: Request, session: AsyncSession, channel: Channel, number: str) -> Order:
    order = await _order_of(session, channel, number)
    if order is None:
        missing = say("no order {number} on this channel", number=number)
        raise HTTPException(404, coded_error(request, missing))
    return order


def _taken(request: Request, number: str) -> HTTPException:
    taken = say(
        "order number {number} is already used by an order not placed through this channel",
        number=number,
    )
    return HTTPException(409, coded_error(request, taken))


@router.post("/{channel_id}/orders", status_code=201)
async def create_order(
    channel_id: RowId,
    body: SiteOrder,
    request: Request,
    response: Response,
    authorization: Authorization = None,
) -> dict[str, Any]:
    """Create an order; the same ``number`` again answers 200 with the stored order."""
    async with _db(request).session() as session:
        channel = await _channel(request, session, channel_id, authorization)
        existing = await order_by_platform_id(session, channel.shop_id, body.number)
        if existing is None:
            try:
                order = await do_create_order(
                    session, shop_id=channel.shop_id, new=body.new_order(channel)
                )
                result = {**order_json(order), "created": True}
                await session.commit()
                return result
            except (OrderError, CustomerError) as exc:
                raise HTTPException(422, coded_error(request, exc)) from exc
            except IntegrityError:  # the same number created meanwhile by a retry
                await session.rollback()
                await session.refresh(channel)
        stored = await _order_of(session, channel, body.number)
        if stored is None:
            raise _taken(request, body.number)
    response.status_code = 200
    return {**order_json(stored), "created": False}


@router.get("/{channel_id}/orders/{number}")
async def get_order(
    channel_id: RowId, number: Number, request: Request, authorization: Authorization = None
) -> dict[str, Any]:
    async with _db(request).session() as session:
        channel = await _channel(request, session, channel_id, authorization)
        return order_json(await _found(request, session, channel, number))


async def _change(
    request: Request,
    session: AsyncSession,
    channel_id: int,
    number: str,
    authorization: str | None,
) -> Order:
    channel = await _channel(request, session, channel_id, authorization)
    return await _found(request, session, channel, number)


async def _commit(session: AsyncSession, order: Order) -> dict[str, Any]:
    result = order_json(order)
    await session.commit()
    return result


@router.post("/{channel_id}/orders/{number}/pay")
async def pay_order(
    channel_id: RowId,
    number: Number,
    request: Request,
    body: PayBody | None = None,
    authorization: Authorization = None,
) -> dict[str, Any]:
    """The buyer paid; ``paid_fen`` defaults to the order's total."""
    async with _db(request).session() as session:
        order = await _change(request, session, channel_id, number, authorization)
        try:
            await do_pay_order(
                session, order=order, paid_fen=body.paid_fen if body else None, actor=ACTOR
            )
        except OrderError as exc:
            raise HTTPException(409, coded_error(request, exc)) from exc
        return await _commit(session, order)


@router.post("/{channel_id}/orders/{number}/ship")
async def ship_order(
    channel_id: RowId,
    number: Number,
    body: ShipBody,
    request: Request,
    authorization: Authorization = None,
) -> dict[str, Any]:
    async with _db(request).session() as session:
        order = await _change(request, session, channel_id, number, authorization)
        try:
            await do_ship_order(
                session,
                order=order,
                courier=body.courier,
                tracking_number=body.tracking_number,
                actor=ACTOR,
            )
        except OrderError as exc:
            raise HTTPException(409, coded_error(request, exc)) from exc
        return await _commit(session, order)


@router.post("/{channel_id}/orders/{number}/finish")
async def finish_order(
    channel_id: RowId, number: Number, request: Request, authorization: Authorization = None
) -> dict[str, Any]:
    async with _db(request).session() as session:
        order = await _change(request, session, channel_id, number, authorization)
        try:
            await do_finish_order(session, order=order, actor=ACTOR)
        except OrderError as exc:
            raise HTTPException(409, coded_error(request, exc)) from exc
        return await _commit(session, order)


@router.post("/{channel_id}/orders/{number}/close")
async def close_order(
    channel_id: RowId,
    number: Number,
    request: Request,
    body: CloseBody | None = None,
    authorization: Authorization = None,
) -> dict[str, Any]:
    async with _db(request).session() as session:
        order = await _change(request, session, channel_id, number, authorization)
        try:
            await do_close_order(
                session, order=order, reason=body.reason if body else "", actor=ACTOR
            )
        except OrderError as exc:
            raise HTTPException(409, coded_error(request, exc)) from exc
        return await _commit(session, order)
