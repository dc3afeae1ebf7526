"""The bridge API: ``/b/bridge/{channel}/…``, authenticated by the channel's secret."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, Field

from xiaoer.buyers.service import CustomerError, do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.core.events import read_after
from xiaoer.core.texts import say
from xiaoer.http.api_errors import coded_error
from xiaoer.http.params import Cursor, RowId
from xiaoer.reception.bridge import (
    ChannelError,
    authenticated_channel,
    buyer_ids,
    customer_channel,
    reply_of,
)
from xiaoer.reception.buyers import RateLimiter
from xiaoer.reception.errors import ReceptionError
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop

router = APIRouter(prefix="/bridge")
limiter = RateLimiter(limit=600, window=60)


class BridgeMessage(BaseModel):
    buyer_id: str = Field(min_length=1, max_length=64)
    nick: str = Field(default="", max_length=64)
    text: str = Field(max_length=4000)
    client_id: str = Field(min_length=1, max_length=64)
    team: str = Field(default="presale", pattern="^(presale|aftersale|assist)$")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@router.post("/{channel_id}/messages")
async def post_message(
    channel_id: RowId,
    body: BridgeMessage,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Post a buyer's message; posting the same ``client_id`` again stores nothing new."""
    async with _db(request).session() as session:
        try:
            channel = await authenticated_channel(session, channel_id, authorization)
        except ChannelError as exc:
            raise HTTPException(401, coded_error(request, exc)) from exc
        if not limiter.allow(str(channel.id)):
            slow_down = say("too many messages on this channel; slow down")
            raise HTTPException(429, coded_error(request, slow_down))
        shop = await session.get(Shop, channel.shop_id)
        assert shop is not None
        try:
            customer = await do_get_or_create_customer(
                session,
                shop_id=shop.id,
                channel=customer_channel(channel),
                buyer_id=body.buyer_id,
                nick=body.nick,
            )
            posted = await do_receive_buyer_message(
                session,
                shop=shop,
                customer=customer,
                text=body.text,
                client_id=body.client_id,
                channel=channel,
                team=body.team,
            )
        except (ReceptionError, CustomerError) as exc:
            raise HTTPException(422, coded_error(request, exc)) from exc
        await session.commit()
    return {
        "message_id": posted.messages[0].id,
        "conversation_id": posted.conversation.id,
        "duplicate": posted.duplicate,
    }


@router.get("/{channel_id}/replies")
async def replies(
    channel_id: RowId,
    request: Request,
    after: Cursor = 0,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The shop's messages to this channel's buyers after event ``after``.

    Pass the returned ``next`` as ``after`` on the next call: every reply is
    returned once, in order, even across restarts.
    """
    async with _db(request).session() as session:
        try:
            channel = await authenticated_channel(session, channel_id, authorization)
        except ChannelError as exc:
            raise HTTPException(401, coded_error(request, exc)) from exc
        events = await read_after(session, channel.shop_id, after, limit=500)
        chosen = [
            e for e in events if e.kind == "message.created" and reply_of(e.payload, channel.id)
        ]
        ids = await buyer_ids(
            session, {int(e.payload["conversation"]["customer_id"]) for e in chosen}
        )
    return {
        "replies": [
            {
                "seq": e.seq,
                "buyer_id": ids.get(int(e.payload["conversation"]["customer_id"]), ""),
                "conversation_id": e.payload["conversation_id"],
                "message_id": e.payload["id"],
                "sender": e.payload["sender"],
                "agent_name": e.payload["agent_name"],
                "text": e.payload["text"],
                "created_at": e.payload["created_at"],
            }
            for e in chosen
        ],
        "next": events[-1].seq if events else after,
    }
