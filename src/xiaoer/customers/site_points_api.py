"""Points on the shop's own site (R5): ``/site/{channel}/…``, server to server.

The site reads a buyer's level and points, and takes points off an unpaid order placed
through its channel before the buyer pays, authenticated by the channel's secret like
the site's order API (``orders.site_api``, which sits below customers). A channel sees
only its own buyers and orders.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound
from xiaoer.core.texts import say
from xiaoer.customers.membership import member_summary
from xiaoer.customers.points import MAX_ADJUST, PointsError, do_spend_points
from xiaoer.http.api_errors import coded_error
from xiaoer.http.params import RowId
from xiaoer.orders.service import order_by_platform_id
from xiaoer.reception.bridge import ChannelError, authenticated_channel, customer_channel
from xiaoer.reception.models import Channel

router = APIRouter(prefix="/site")

Number = Annotated[str, Path(pattern="^[A-Za-z0-9-]{1,32}$")]
BuyerId = Annotated[str, Path(min_length=1, max_length=64)]
Authorization = Annotated[str | None, Header()]


class SpendBody(BaseModel):
    points: int = Field(ge=1, le=MAX_ADJUST)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _channel(
    request: Request, session: AsyncSession, channel_id: int, authorization: str | None
) -> Channel:
    try:
        return await authenticated_channel(session, channel_id, authorization)
    except ChannelError as exc:
        raise HTTPException(401, coded_error(request, exc)) from exc


async def _buyer(session: AsyncSession, channel: Channel, buyer_id: str) -> Customer | None:
    return await session.scalar(
        select(Customer).where(
            Customer.shop_id == channel.shop_id,
            Customer.channel == customer_channel(channel),
            Customer.buyer_id == buyer_id,
        )
    )


@router.get("/{channel_id}/buyers/{buyer_id}/points")
async def buyer_points(
    channel_id: RowId, buyer_id: BuyerId, request: Request, authorization: Authorization = None
) -> dict[str, Any]:
    """The buyer's member level and points (a buyer the channel has not seen: none)."""
    async with _db(request).session() as session:
        channel = await _channel(request, session, channel_id, authorization)
        buyer = await _buyer(session, channel, buyer_id)
        if buyer is None:
            return {"buyer_id": buyer_id, "level": "", "usable": 0, "pending": 0, "debt": False}
        summary = await member_summary(session, channel.shop_id, buyer.id)
        return {
            "buyer_id": buyer_id,
            "level": summary.level,
            "usable": summary.points.usable,
            "pending": summary.points.pending,
            "debt": summary.points.debt,
        }


@router.post("/{channel_id}/orders/{number}/points")
async def spend_points(
    channel_id: RowId,
    number: Number,
    body: SpendBody,
    request: Request,
    authorization: Authorization = None,
) -> dict[str, Any]:
    """Take ``points`` off the unpaid order ``number``: its new total comes back."""
    async with _db(request).session() as session:
        channel = await _channel(request, session, channel_id, authorization)
        order = await order_by_platform_id(session, channel.shop_id, number)
        buyer = None
        if order is not None and order.source == "api" and order.customer_id is not None:
            buyer = await session.get(Customer, order.customer_id)
        if order is None or buyer is None or buyer.channel != customer_channel(channel):
            missing = say("no order {number} on this channel", number=number)
            raise HTTPException(404, coded_error(request, missing))
        try:
            spent = await do_spend_points(
                session, None, buyer.id, order.id, body.points, shop_id=channel.shop_id
            )
        except PointsError as exc:
            raise HTTPException(409, coded_error(request, exc)) from exc
        except NotFound as exc:
            raise HTTPException(404, coded_error(request, exc)) from exc
        result = {"number": number, "points": spent.points, "discount_fen": spent.discount_fen,
                  "total_fen": spent.total_fen}  # fmt: skip
        await session.commit()
        return result
