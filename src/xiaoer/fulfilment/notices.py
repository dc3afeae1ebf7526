"""What fulfilment tells a buyer in their chat: shipped, delayed, a problem being solved.

A notice is an automatic message (never counted as a human answer) in the buyer's
latest conversation, open or closed, so it shows in the chat the buyer already has.
Each notice has a key (``shipped:<parcel>``, ``delay:<parcel>`` …): told once, a
notice with the same key is not sent again. A buyer who never chatted gets none, and
the caller learns so (``None``) to show it to a person.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.orders.models import Order
from xiaoer.reception.models import Conversation, Message
from xiaoer.reception.service import do_add_automatic_reply

SOURCE = "fulfilment"


async def latest_conversation_of(
    session: AsyncSession, customer_id: int, at: datetime
) -> Conversation | None:
    """The buyer's conversation opened last by the moment ``at`` (a notice dated in the
    past goes to the chat the buyer had then); failing one, their latest."""
    query = select(Conversation).where(Conversation.customer_id == customer_id)
    then = await session.scalar(
        query.where(Conversation.opened_at <= at)
        .order_by(Conversation.opened_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    if then is not None:
        return then
    return await session.scalar(query.order_by(Conversation.id.desc()).limit(1))


async def told(session: AsyncSession, conversation_id: int, key: str) -> bool:
    """Whether the notice ``key`` is in the conversation already."""
    found = await session.scalars(
        select(Message.meta).where(
            Message.conversation_id == conversation_id, Message.sender == "auto"
        )
    )
    return any(isinstance(meta, dict) and meta.get("notice") == key for meta in found)


async def do_tell_buyer(
    session: AsyncSession, order: Order, key: str, text: str, *, now: datetime | None = None
) -> Message | None:
    """Post ``text`` to the buyer of ``order`` once per ``key``; ``None`` when the buyer
    has no conversation to post it in (or was told already)."""
    if order.customer_id is None:
        return None
    now = now or utcnow()
    conversation = await latest_conversation_of(session, order.customer_id, now)
    if conversation is None or await told(session, conversation.id, key):
        return None
    return await do_add_automatic_reply(
        session,
        conversation,
        text,
        source=SOURCE,
        meta={"notice": key, "order_id": order.id},
        now=now,
    )
