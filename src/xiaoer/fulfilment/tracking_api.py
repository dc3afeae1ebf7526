"""The tracking webhook (F5): ``POST /tracking/{channel_id}/push``.

A tracking aggregator (快递100/快递鸟-style) pushes a parcel's scans, server to
server, with a bridge channel's secret as the shop's own-site API takes it
(``Authorization: Bearer <secret>``); no session, no CSRF. The channel names the
shop: a parcel of another shop is as unknown as a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.db import Database
from xiaoer.core.texts import say
from xiaoer.fulfilment.tracking import (
    MAX_SCANS,
    ParcelNotFound,
    RawScan,
    TrackingError,
    do_take_push,
)
from xiaoer.http.api_errors import coded_error
from xiaoer.http.params import RowId
from xiaoer.reception.bridge import ChannelError, authenticated_channel
from xiaoer.reception.buyers import RateLimiter

router = APIRouter(prefix="/tracking")
limiter = RateLimiter(limit=1200, window=60)

MAX_BODY_BYTES = 256 * 1024  # docs/api.md promises it; refused before the body is read


class PushedScan(BaseModel):
    time: str = Field(min_length=1, max_length=40)
    status: str = Field(default="", max_length=32)
    place: str = Field(default="", max_length=200)
    text: str = Field(default="", max_length=1000)


class Push(BaseModel):
    carrier: str = Field(default="", max_length=32)
    waybill: str = Field(min_length=1, max_length=64)
    scans: list[PushedScan] = Field(min_length=1, max_length=MAX_SCANS)


@router.post("/{channel_id}/push")
async def push(
    channel_id: RowId,
    body: Push,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Store the scans the parcel does not have yet; answers ``{stored, skipped}``."""
    db: Database = request.app.state.db
    async with db.session() as session:
        try:
            channel = await authenticated_channel(session, channel_id, authorization)
        except ChannelError as exc:
            raise HTTPException(401, coded_error(request, exc)) from exc
        if not limiter.allow(str(channel.id)):
            slow_down = say("too many calls on this channel; slow down")
            raise HTTPException(429, coded_error(request, slow_down))
        shop_id = channel.shop_id
        try:
            return await _take(request, session, shop_id, body)
        except IntegrityError:
            # The same push came twice at once and the other stored the scans first:
            # read again, they are known now.
            await session.rollback()
            return await _take(request, session, shop_id, body)


async def _take(
    request: Request, session: AsyncSession, shop_id: int, body: Push
) -> dict[str, Any]:
    scans = [RawScan(s.time, s.status, s.place, s.text) for s in body.scans]
    try:
        stored = await do_take_push(
            session, shop_id, carrier=body.carrier, waybill=body.waybill, scans=scans
        )
    except ParcelNotFound as exc:
        raise HTTPException(404, coded_error(request, exc)) from exc
    except TrackingError as exc:
        raise HTTPException(422, coded_error(request, exc)) from exc
    result = {
        "waybill": body.waybill,
        "stored": stored.stored,
        "skipped": stored.skipped,
        "problems": stored.problems,
    }
    await session.commit()
    return result
