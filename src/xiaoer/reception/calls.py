"""Phone calls (客服电话记录) logged into the buyer's history (C1, C10)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.buyers.service import do_get_or_create_customer, find_by_contact
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.reception.errors import BuyerNotFound, ReceptionError
from xiaoer.reception.models import CallLog
from xiaoer.reception.service import check_text
from xiaoer.staff.models import StaffAccount, is_leader

CALL_OUTCOMES = ("resolved", "ordered", "callback", "escalated", "no_answer")

_PHONE = re.compile(r"^\+?\d{7,15}$")


async def do_log_call_by_contact(
    session: AsyncSession,
    *,
    agent: StaffAccount,
    contact: str,
    name: str,
    summary: str,
    outcome: str,
    now: datetime | None = None,
) -> CallLog:
    """A call from or to a buyer found by phone, nick or id; a new caller by phone is added."""
    check_call(summary, outcome)
    matches = await find_by_contact(session, agent.shop_id, contact)
    if len(matches) > 1:
        raise ReceptionError(
            say(
                "{count} buyers match {contact!r}: use the phone number or buyer id",
                count=len(matches),
                contact=contact.strip(),
            )
        )
    if matches:
        customer = matches[0]
    elif _PHONE.match(contact.strip()):
        customer = await do_get_or_create_customer(
            session,
            shop_id=agent.shop_id,
            channel="phone",
            buyer_id=contact.strip(),
            nick=name or contact.strip(),
            phone=contact.strip(),
            name=name,
        )
    else:
        raise ReceptionError(
            say(
                "no buyer matches {contact!r}; a new caller is added by phone number",
                contact=contact.strip(),
            )
        )
    return await do_log_call(
        session, agent=agent, customer_id=customer.id, summary=summary, outcome=outcome, now=now
    )


async def do_log_call(
    session: AsyncSession,
    *,
    agent: StaffAccount,
    customer_id: int,
    summary: str,
    outcome: str,
    now: datetime | None = None,
) -> CallLog:
    """A phone call into the buyer's history (C1, C10)."""
    summary = check_call(summary, outcome)
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.shop_id != agent.shop_id:
        raise BuyerNotFound(say("no buyer {customer_id} in this shop", customer_id=customer_id))
    entry = CallLog(
        shop_id=agent.shop_id,
        customer_id=customer_id,
        agent_id=agent.id,
        summary=summary,
        outcome=outcome,
        at=now or utcnow(),
    )
    session.add(entry)
    await session.flush()
    await record_event(
        session,
        agent.shop_id,
        "call.logged",
        {"call_id": entry.id, "customer_id": customer_id, "agent_id": agent.id, "outcome": outcome},
    )
    return entry


def check_call(summary: str, outcome: str) -> str:
    if outcome not in CALL_OUTCOMES:
        raise ReceptionError(
            say(
                "outcome {outcome!r}: expected one of {choices}",
                outcome=outcome,
                choices=", ".join(CALL_OUTCOMES),
            )
        )
    return check_text(summary)


async def recent_calls(
    session: AsyncSession, staff: StaffAccount, limit: int = 50
) -> list[dict[str, object]]:
    """The shop's latest calls; the buyer's phone in full for leaders, masked for others."""
    shop_id = staff.shop_id
    full = is_leader(staff)
    rows = await session.execute(
        select(CallLog, Customer.nick, Customer.phone, StaffAccount.name)
        .join(Customer, Customer.id == CallLog.customer_id)
        .outerjoin(StaffAccount, StaffAccount.id == CallLog.agent_id)
        .where(CallLog.shop_id == shop_id)
        .order_by(CallLog.at.desc())
        .limit(limit)
    )
    return [
        {
            "at": call.at,
            "buyer": nick,
            "phone": phone if full or not phone else mask_phone(phone),
            "agent": agent or "",
            "summary": call.summary,
            "outcome": call.outcome,
        }
        for call, nick, phone, agent in rows.all()
    ]
