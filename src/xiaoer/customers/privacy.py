"""One buyer's personal data, on their request: exported as one JSON document, or
erased — anonymised, with the orders' amounts and every ledger kept (R6).

Only the manager and the administrator (``PRIVACY``) do either; each is audited with
who did it and, for an erasure, why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from xiaoer.aftersales.models import Refund, Review
from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.file import actor_of
from xiaoer.customers.models import CampaignCall, Greeting, OnlineProfile, PointsMove
from xiaoer.customers.people import PRIVACY, buyer_ids, person_of
from xiaoer.customers.stats import refresh
from xiaoer.mail.models import MailRecord
from xiaoer.orders.models import Order
from xiaoer.reception.models import CallLog, Conversation, Message
from xiaoer.staff.models import StaffAccount

ERASED_TEXT = "[erased on the buyer's request]"  # what a buyer's erased words become
CONFIRM_WORD = "ERASE"


class PrivacyError(ValueError):
    """An export or erasure the rules refuse."""


def check_privacy(staff: StaffAccount) -> None:
    if not staff.has_role(*PRIVACY):
        raise NotPermitted(say("only the manager exports or erases a buyer's data"))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _row(obj: Any, *names: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = _iso(value) if isinstance(value, datetime) else value
    return out


async def export_person(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the shop keeps of the person behind buyer ``customer_id``."""
    now = now or utcnow()
    check_privacy(staff)
    person = await person_of(session, staff, customer_id)
    ids = await buyer_ids(session, person)
    buyers = list(
        await session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))
    )
    orders = list(
        await session.scalars(
            select(Order)
            .options(selectinload(Order.items))
            .where(Order.shop_id == person.shop_id, Order.customer_id.in_(ids))
            .order_by(Order.id)
        )
    )
    order_ids = [o.id for o in orders]
    refunds = list(
        await session.scalars(
            select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.id)
        )
    )
    reviews = list(
        await session.scalars(
            select(Review).where(Review.order_id.in_(order_ids)).order_by(Review.id)
        )
    )
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(Conversation.shop_id == person.shop_id, Conversation.customer_id.in_(ids))
            .order_by(Conversation.id)
        )
    )
    messages: dict[int, list[dict[str, Any]]] = {}
    for message in await session.scalars(
        select(Message)
        .where(Message.conversation_id.in_([c.id for c in conversations]))
        .order_by(Message.id)
    ):
        messages.setdefault(message.conversation_id, []).append(
            _row(message, "sender", "text", "created_at")
        )
    calls = await session.scalars(
        select(CallLog).where(CallLog.customer_id.in_(ids)).order_by(CallLog.id)
    )
    greetings = await session.scalars(
        select(Greeting).where(Greeting.customer_id.in_(ids)).order_by(Greeting.id)
    )
    points = await session.scalars(
        select(PointsMove).where(PointsMove.customer_id.in_(ids)).order_by(PointsMove.id)
    )
    follow_ups = await session.scalars(
        select(CampaignCall).where(CampaignCall.customer_id.in_(ids)).order_by(CampaignCall.id)
    )
    document: dict[str, Any] = {
        "exported_at": now.isoformat(),
        "person": person.id,
        "buyers": [
            _row(b, "id", "channel", "buyer_id", "nick", "name", "phone", "email", "city",
                 "gender", "birth_year", "birth_month", "birth_day", "birth_lunar",
                 "birth_leap", "tags", "notes", "greetings_off_at", "created_at")
            for b in buyers
        ],
        "orders": [
            {
                **_row(o, "id", "platform_order_id", "status", "total_fen", "paid_fen",
                       "refunded_fen", "postage_fen", "receiver_name", "receiver_phone",
                       "receiver_address", "buyer_message", "courier", "tracking_number",
                       "created_at", "paid_at", "shipped_at", "finished_at", "closed_at"),
                "items": [
                    _row(i, "title", "sku_text", "sku_code", "price_fen", "quantity")
                    for i in o.items
                ],
            }
            for o in orders
        ],
        "refunds": [
            _row(r, "id", "order_id", "kind", "status", "amount_fen", "reason", "created_at")
            for r in refunds
        ],
        "reviews": [
            _row(r, "id", "order_id", "rating", "content", "follow_up", "reply", "reviewed_at")
            for r in reviews
        ],
        "conversations": [
            {**_row(c, "id", "team", "status", "outcome", "opened_at", "closed_at"),
             "messages": messages.get(c.id, [])}
            for c in conversations
        ],
        "calls": [_row(c, "summary", "outcome", "at") for c in calls],
        "greetings": [
            _row(g, "kind", "occasion", "title", "channel", "status", "reason", "text", "send_at",
                 "sent_at")
            for g in greetings
        ],
        "points": [
            {**_row(p, "kind", "document", "pending", "usable", "order_id", "reason", "at"),
             "expires_on": p.expires_on.isoformat() if p.expires_on else None}
            for p in points
        ],
        "follow_ups": [
            _row(c, "campaign_id", "reached", "satisfaction", "feedback", "problem_kind",
                 "problem", "next_step", "done_at")
            for c in follow_ups
        ],
    }  # fmt: skip
    await record_audit(
        session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
        entity_id=str(person.id), action="export",
        after={"buyers": ids, "orders": len(orders), "conversations": len(conversations)}, at=now,
    )  # fmt: skip
    return document


def erased_token(customer_id: int) -> str:
    return f"erased-{customer_id}"


async def do_erase(
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    reason: str,
    *,
    confirm: str = CONFIRM_WORD,
    now: datetime | None = None,
) -> Customer:
    """Anonymise the person and every buyer of theirs: personal fields emptied, nick and
    channel id replaced by ``erased-<id>``, orders' receivers blanked (amounts kept),
    the buyer's words in chats, reviews and refunds replaced; greetings off. Points,
    stock and sales ledgers stay as they are. Refused twice, or without a reason."""
    now = now or utcnow()
    check_privacy(staff)
    person = await person_of(session, staff, customer_id)
    reason = reason.strip()
    if confirm.strip() != CONFIRM_WORD:
        raise PrivacyError(say("type {word} to confirm the erasure", word=CONFIRM_WORD))
    if not reason:
        raise PrivacyError(say("say why the data is erased (the buyer's request)"))
    if len(reason) > 500:
        raise PrivacyError(say("the reason is at most {n} characters", n=500))
    if person.erased_at is not None:
        raise PrivacyError(say("this customer's data was erased on request"))
    ids = await buyer_ids(session, person)
    buyers = list(
        await session.scalars(
            select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update()
        )
    )
    for buyer in buyers:
        token = erased_token(buyer.id)
        buyer.buyer_id = token
        buyer.nick = token
        buyer.name = buyer.phone = buyer.email = buyer.city = buyer.gender = buyer.notes = ""
        buyer.birth_year = buyer.birth_month = buyer.birth_day = None
        buyer.birth_lunar = buyer.birth_leap = False
        buyer.tags = []
        buyer.greetings_off_at = buyer.greetings_off_at or now
        buyer.erased_at = now
    order_ids = list(
        await session.scalars(
            select(Order.id).where(Order.shop_id == person.shop_id, Order.customer_id.in_(ids))
        )
    )
    if order_ids:
        await session.execute(
            update(Order)
            .where(Order.id.in_(order_ids))
            .values(
                receiver_name="",
                receiver_phone="",
                receiver_address="",
                buyer_message="",
                buyer_nick=erased_token(person.id),
            )
        )
        await session.execute(
            update(Review)
            .where(Review.order_id.in_(order_ids))
            .values(buyer_nick=erased_token(person.id), content=ERASED_TEXT, follow_up="")
        )
        await session.execute(
            update(Refund).where(Refund.order_id.in_(order_ids)).values(reason="")
        )
    conversation_ids = select(Conversation.id).where(
        Conversation.shop_id == person.shop_id, Conversation.customer_id.in_(ids)
    )
    await session.execute(
        update(Message)
        .where(Message.conversation_id.in_(conversation_ids), Message.sender == "buyer")
        .values(text=ERASED_TEXT, meta={})
    )
    await session.execute(
        update(MailRecord)
        .where(MailRecord.conversation_id.in_(conversation_ids))
        .values(peer="", reply_to="")
    )
    await session.execute(update(CallLog).where(CallLog.customer_id.in_(ids)).values(summary=""))
    await session.execute(update(Greeting).where(Greeting.customer_id.in_(ids)).values(text=""))
    await session.execute(
        update(CampaignCall)
        .where(CampaignCall.customer_id.in_(ids))
        .values(feedback="", problem="", next_step="")
    )
    await session.execute(
        update(OnlineProfile).where(OnlineProfile.customer_id.in_(ids)).values(hours=[], samples=0,
                                                                               confidence=0.0)
    )  # fmt: skip
    await record_audit(
        session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
        entity_id=str(person.id), action="erase",
        after={"buyers": ids, "orders": len(order_ids)}, reason=reason, at=now,
    )  # fmt: skip
    await session.flush()
    policy = await policy_on(session, person.shop_id)
    await refresh(session, person.shop_id, policy, [person.id], now=now)
    return person
