"""Buyers: found or created by their id on a channel."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.texts import say

MAX_BUYER_ID = 64


class CustomerError(ValueError):
    pass


async def customer_by_buyer_id(
    session: AsyncSession, shop_id: int, channel: str, buyer_id: str
) -> Customer | None:
    return await session.scalar(
        select(Customer).where(
            Customer.shop_id == shop_id, Customer.channel == channel, Customer.buyer_id == buyer_id
        )
    )


async def find_by_contact(session: AsyncSession, shop_id: int, contact: str) -> list[Customer]:
    """Buyers whose phone, nick or channel id is exactly ``contact``."""
    contact = contact.strip()
    if not contact:
        return []
    rows = await session.scalars(
        select(Customer)
        .where(
            Customer.shop_id == shop_id,
            or_(Customer.phone == contact, Customer.nick == contact, Customer.buyer_id == contact),
        )
        .order_by(Customer.id)
        .limit(10)
    )
    return list(rows)


async def do_get_or_create_customer(
    session: AsyncSession,
    *,
    shop_id: int,
    channel: str,
    buyer_id: str,
    nick: str = "",
    phone: str = "",
    name: str = "",
    default_nick: str = "",
) -> Customer:
    """The buyer known by ``buyer_id`` on ``channel``; created on first contact.

    A given ``nick`` updates the buyer's; ``default_nick`` names a new buyer who gave none.
    """
    buyer_id = buyer_id.strip()
    if not buyer_id or len(buyer_id) > MAX_BUYER_ID:
        raise CustomerError(say("buyer id must be 1–{limit} characters", limit=MAX_BUYER_ID))
    nick = nick.strip()[:64]
    found = await customer_by_buyer_id(session, shop_id, channel, buyer_id)
    if found is not None:
        if nick and found.nick != nick:
            found.nick = nick
        return found
    customer = Customer(
        shop_id=shop_id,
        channel=channel,
        buyer_id=buyer_id,
        nick=nick or default_nick or buyer_id,
        phone=phone.strip()[:32],
        name=name.strip()[:64],
    )
    try:
        async with session.begin_nested():
            session.add(customer)
            await session.flush()
    except IntegrityError:  # created meanwhile by a concurrent first message
        found = await customer_by_buyer_id(session, shop_id, channel, buyer_id)
        if found is None:
            raise
        return found
    return customer
