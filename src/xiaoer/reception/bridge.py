"""Bridge channels: other platforms post buyer messages and read the shop's replies (C1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.customers.models import Customer
from xiaoer.reception.models import Channel, ChannelKind


class ChannelError(ValueError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def customer_channel(channel: Channel) -> str:
    """The ``Customer.channel`` of buyers who come through a bridge channel."""
    return f"ch{channel.id}"


async def do_add_bridge_channel(
    session: AsyncSession, *, shop_id: int, name: str
) -> tuple[Channel, str]:
    """A new bridge channel and its secret; only the secret's hash is kept."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ChannelError(say("channel name must be 1–64 characters"))
    secret = "xc_" + secrets.token_urlsafe(32)
    channel = Channel(
        shop_id=shop_id, kind=ChannelKind.bridge.value, name=name, secret_hash=_hash(secret)
    )
    session.add(channel)
    await session.flush()
    await record_event(session, shop_id, "channel.added", {"channel_id": channel.id, "name": name})
    return channel, secret


async def authenticated_channel(
    session: AsyncSession, channel_id: int, authorization: str | None
) -> Channel:
    """The channel if the ``Authorization: Bearer <secret>`` header is its secret."""
    scheme, _, secret = (authorization or "").partition(" ")
    channel = await session.get(Channel, channel_id)
    valid = (
        channel is not None
        and channel.active
        and channel.kind == ChannelKind.bridge.value
        and scheme.lower() == "bearer"
        and hmac.compare_digest(channel.secret_hash, _hash(secret.strip()))
    )
    if not valid or channel is None:
        raise ChannelError(say("unknown channel or wrong secret"))
    return channel


async def buyer_ids(session: AsyncSession, customer_ids: set[int]) -> dict[int, str]:
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.buyer_id).where(Customer.id.in_(customer_ids))
    )
    return {int(cid): str(bid) for cid, bid in rows.all()}


def reply_of(payload: dict[str, Any], channel_id: int) -> bool:
    conversation = payload.get("conversation") or {}
    return bool(conversation.get("channel_id") == channel_id and payload.get("sender") != "buyer")
