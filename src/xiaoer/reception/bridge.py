"""Bridge channels: other platforms post buyer messages and read the shop's replies (C1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.reception.models import Channel, ChannelKind
from xiaoer.staff.models import StaffAccount

# Who may create channels, give them new secrets and switch them off.
CHANNEL_KEEPERS = ("manager", "admin")


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
    secret = _new_secret()
    channel = Channel(
        shop_id=shop_id, kind=ChannelKind.bridge.value, name=name, secret_hash=_hash(secret)
    )
    session.add(channel)
    await session.flush()
    await record_event(session, shop_id, "channel.added", {"channel_id": channel.id, "name": name})
    return channel, secret


def _new_secret() -> str:
    return "xc_" + secrets.token_urlsafe(32)


def check_may_keep_channels(staff: StaffAccount) -> None:
    """Only the shop's manager (or its admin) creates channels and holds their secrets."""
    if not staff.has_role(*CHANNEL_KEEPERS):
        raise NotPermitted(say("only the manager may create channels or change their secrets"))


async def bridge_channels(session: AsyncSession, staff: StaffAccount) -> list[Channel]:
    """The shop's bridge channels, oldest first."""
    check_may_keep_channels(staff)
    rows = await session.scalars(
        select(Channel)
        .where(Channel.shop_id == staff.shop_id, Channel.kind == ChannelKind.bridge.value)
        .order_by(Channel.id)
    )
    return list(rows)


async def _own_channel(session: AsyncSession, staff: StaffAccount, channel_id: int) -> Channel:
    channel = await session.get(Channel, channel_id)
    if (
        channel is None
        or channel.shop_id != staff.shop_id
        or channel.kind != ChannelKind.bridge.value
    ):
        raise NotFound(say("no channel {id} in this shop", id=channel_id))
    return channel


async def _audit(session: AsyncSession, staff: StaffAccount, channel: Channel, action: str) -> None:
    await record_audit(
        session,
        shop_id=channel.shop_id,
        actor=staff.number or staff.username,
        entity="channel",
        entity_id=str(channel.id),
        action=action,
        after={"name": channel.name, "active": channel.active},
    )


async def do_create_channel(
    session: AsyncSession, staff: StaffAccount, name: str
) -> tuple[Channel, str]:
    """A new bridge channel of the staff member's shop and its secret, shown only now."""
    check_may_keep_channels(staff)
    channel, secret = await do_add_bridge_channel(session, shop_id=staff.shop_id, name=name)
    await _audit(session, staff, channel, "created")
    return channel, secret


async def do_renew_secret(
    session: AsyncSession, staff: StaffAccount, channel_id: int
) -> tuple[Channel, str]:
    """A new secret for the channel; the old one stops working at once."""
    check_may_keep_channels(staff)
    channel = await _own_channel(session, staff, channel_id)
    secret = _new_secret()
    channel.secret_hash = _hash(secret)
    await _audit(session, staff, channel, "secret renewed")
    return channel, secret


async def do_set_channel_active(
    session: AsyncSession, staff: StaffAccount, channel_id: int, active: bool
) -> Channel:
    """Switch a channel off (its secret is refused) or on again."""
    check_may_keep_channels(staff)
    channel = await _own_channel(session, staff, channel_id)
    if channel.active != active:
        channel.active = active
        await _audit(session, staff, channel, "enabled" if active else "disabled")
    return channel


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
