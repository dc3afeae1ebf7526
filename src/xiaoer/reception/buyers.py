"""What buyers may see and do: tokens, their own conversation, buyer-safe events.

Nothing here returns staff data beyond the name an agent shows the buyer.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.event_kinds import buyer_view
from xiaoer.core.events import EventData
from xiaoer.core.texts import say
from xiaoer.reception.models import Conversation, ConversationStatus, Message
from xiaoer.reception.routing import agent_names, buyer_topic, queue_position

WIDGET_CHANNEL = "widget"
# Tokens without a time (before they expired) are signed with another salt, so they
# read as not valid: the widget then starts afresh with a token that expires.
_SALT = "xiaoer.buyer-token.timed"

# Event kinds a buyer's own stream carries, and the fields each may show.


class BadToken(Exception):
    pass


class ExpiredToken(BadToken):
    """A genuine token, unused for longer than tokens live: the widget asks for a new one."""


@dataclass(frozen=True)
class BuyerToken:
    shop_code: str
    buyer_id: str


def _serializer(secret: str, now: datetime | None) -> URLSafeTimedSerializer:
    if now is None:
        return URLSafeTimedSerializer(secret, salt=_SALT)
    moment = int(now.timestamp())

    class SignerAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return moment

    return URLSafeTimedSerializer(secret, salt=_SALT, signer=SignerAt)


def new_buyer_token(
    secret: str, shop_code: str, buyer_id: str | None = None, now: datetime | None = None
) -> tuple[str, BuyerToken]:
    """A signed token for a new buyer, or a fresh one (a new time) for ``buyer_id``."""
    identity = BuyerToken(shop_code, buyer_id or "w" + secrets.token_urlsafe(12))
    return _serializer(secret, now).dumps([identity.shop_code, identity.buyer_id]), identity


def read_buyer_token(
    secret: str, token: str, shop_code: str, max_age: timedelta, now: datetime | None = None
) -> BuyerToken:
    """The buyer a signed token names; refused for another shop, a forged token, or one
    signed longer than ``max_age`` ago (each use of the chat renews it, so only a
    buyer away that long, or a token copied and kept, meets the limit)."""
    try:
        data = _serializer(secret, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise ExpiredToken(say("the buyer token has expired")) from exc
    except BadSignature as exc:
        raise BadToken(say("the buyer token is not valid")) from exc
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(x, str) for x in data)):
        raise BadToken(say("the buyer token is not valid"))
    if data[0] != shop_code:
        raise BadToken(say("the buyer token belongs to another shop"))
    return BuyerToken(data[0], data[1])


def buyer_event(event: EventData) -> dict[str, Any] | None:
    """The buyer's view of an event of their own topic, or ``None`` to show nothing."""
    data = buyer_view(event.kind, event.payload)
    if data is None:
        return None
    return {"type": "event", "seq": event.topic_seq, "kind": event.kind, "data": data}


async def buyer_history(
    session: AsyncSession, customer_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    """The buyer's latest messages across their conversations, oldest first."""
    rows = list(
        await session.execute(
            select(Message, Conversation.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.customer_id == customer_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )
    names = await agent_names(
        session, {m.agent_id for m, _ in rows if m.sender == "agent" and m.agent_id}
    )
    out = []
    for message, _ in reversed(rows):
        out.append(
            {
                "id": message.id,
                "conversation_id": message.conversation_id,
                "sender": message.sender,
                "agent_name": names.get(message.agent_id or 0, ""),
                "text": message.text,
                "created_at": message.created_at.isoformat(),
            }
        )
    return out


async def buyer_state(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    """Where the buyer's open conversation stands, as the chat's header shows it: with
    which agent, or where in the queue; ``None`` when none is open."""
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.status != ConversationStatus.closed.value,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        return None
    if conversation.status == ConversationStatus.active.value and conversation.agent_id:
        names = await agent_names(session, {conversation.agent_id})
        return {"status": "active", "agent_name": names.get(conversation.agent_id, "")}
    return {"status": "queued", "position": await queue_position(session, conversation)}


def topic_of(customer_id: int) -> str:
    return buyer_topic(customer_id)


class RateLimiter:
    """At most ``limit`` actions per key in a sliding ``window`` of seconds (per process)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 100_000:  # forget idle keys rather than grow without end
            self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window}
        return True
