"""What the agent workbench and the supervisor view read: lists, panels, countdowns."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.core.policy import Policy
from xiaoer.reception.access import (
    conversation_for,
)
from xiaoer.reception.models import (
    AgentPresence,
    CallLog,
    Conversation,
    ConversationStatus,
    Message,
    PresenceStatus,
)
from xiaoer.reception.phrases import phrases_for
from xiaoer.reception.routing import active_counts
from xiaoer.shops.service import peak_state
from xiaoer.staff.models import LEADERS, StaffAccount


def sla_due(conversation: Conversation, policy: Policy) -> datetime | None:
    """When the buyer's open round must be answered, or ``None`` when nobody waits."""
    if conversation.waiting_since is None:
        return None
    target = (
        policy.reception.first_response_seconds
        if conversation.first_response_at is None
        else policy.reception.reply_seconds
    )
    return conversation.waiting_since + timedelta(seconds=target)


async def list_conversations(
    session: AsyncSession, staff: StaffAccount, policy: Policy
) -> list[dict[str, Any]]:
    """An agent's open conversations and their team's queue; a leader's: every open one."""
    open_ = Conversation.status != ConversationStatus.closed.value
    query = (
        select(Conversation, Customer.nick, StaffAccount.name)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(StaffAccount, StaffAccount.id == Conversation.agent_id)
        .where(Conversation.shop_id == staff.shop_id, open_)
    )
    if not staff.has_role(*LEADERS):
        query = query.where(
            or_(
                Conversation.agent_id == staff.id,
                (Conversation.status == ConversationStatus.queued.value)
                & (Conversation.team == staff.team),
            )
        )
    rows = (await session.execute(query.order_by(Conversation.queued_at, Conversation.id))).all()
    last_text = await _last_texts(session, [c.id for c, _, _ in rows])
    out = []
    for conversation, nick, agent_name in rows:
        due = sla_due(conversation, policy)
        last = last_text.get(conversation.id, "")
        out.append(
            {
                "id": conversation.id,
                "customer_id": conversation.customer_id,
                "buyer": nick,
                "team": conversation.team,
                "agent_id": conversation.agent_id,
                "agent_name": agent_name or "",
                "status": conversation.status,
                "queued_at": conversation.queued_at.isoformat(),
                "waiting_since": conversation.waiting_since.isoformat()
                if conversation.waiting_since
                else None,
                "sla_due_at": due.isoformat() if due else None,
                "unread": conversation.unread,
                "last_text": (last or "")[:60],
            }
        )
    return out


async def _last_texts(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """The buyer's newest message in each conversation, in one query: what the list
    previews is what the buyer said, not the shop's own automatic answer to it."""
    if not ids:
        return {}
    newest = (
        select(func.max(Message.id).label("id"))
        .where(Message.conversation_id.in_(ids), Message.sender == "buyer")
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(Message.conversation_id, Message.text).join(newest, Message.id == newest.c.id)
    )
    return {int(cid): str(text) for cid, text in rows.all()}


async def list_agents(session: AsyncSession, shop_id: int) -> list[dict[str, Any]]:
    load = await active_counts(session, shop_id)
    rows = await session.execute(
        select(StaffAccount, AgentPresence.status)
        .outerjoin(AgentPresence, AgentPresence.staff_id == StaffAccount.id)
        .where(StaffAccount.shop_id == shop_id, StaffAccount.active.is_(True))
        .order_by(StaffAccount.number)
    )
    return [
        {
            "id": agent.id,
            "name": agent.name,
            "number": agent.number,
            "team": agent.team,
            "status": status or PresenceStatus.offline.value,
            "active": load.get(agent.id, 0),
        }
        for agent, status in rows.all()
        if agent.has_role("agent")
    ]


async def conversation_panel(
    session: AsyncSession, staff: StaffAccount, conversation_id: int
) -> dict[str, Any]:
    """The chat and its side panel: the buyer, earlier conversations, calls.

    The buyer's orders come from the orders package's own panel route
    (``/api/orders/panel``): reception sits below orders and never reads them.
    Refused for a conversation the account may not read (:mod:`.access`).
    """
    conversation = await conversation_for(session, staff, conversation_id)
    customer = await session.get(Customer, conversation.customer_id)
    assert customer is not None
    rows = await session.execute(
        select(StaffAccount.id, StaffAccount.name).where(StaffAccount.shop_id == staff.shop_id)
    )
    names = {int(sid): str(name) for sid, name in rows.all()}
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    earlier = list(
        await session.scalars(
            select(Conversation)
            .where(Conversation.customer_id == customer.id, Conversation.id != conversation.id)
            .order_by(Conversation.opened_at.desc())
            .limit(10)
        )
    )
    calls = list(
        await session.scalars(
            select(CallLog)
            .where(CallLog.customer_id == customer.id)
            .order_by(CallLog.at.desc())
            .limit(10)
        )
    )
    show_phone = staff.has_role(*LEADERS, "admin")
    return {
        "conversation": {
            "id": conversation.id,
            "status": conversation.status,
            "team": conversation.team,
            "agent_id": conversation.agent_id,
            "agent_name": names.get(conversation.agent_id or 0, ""),
            "outcome": conversation.outcome,
        },
        "customer": {
            "id": customer.id,
            "nick": customer.nick,
            "name": customer.name,
            "city": customer.city,
            "phone": customer.phone if show_phone else mask_phone(customer.phone),
            "tags": customer.tags,
        },
        "messages": [
            {
                "id": m.id,
                "sender": m.sender,
                "agent_name": names.get(m.agent_id or 0, ""),
                "text": m.text,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
        "earlier": [
            {
                "id": c.id,
                "opened_at": c.opened_at.isoformat(),
                "agent_name": names.get(c.agent_id or 0, ""),
                "outcome": c.outcome,
            }
            for c in earlier
        ],
        "calls": [
            {"at": c.at.isoformat(), "summary": c.summary, "outcome": c.outcome} for c in calls
        ],
    }


async def phrases_json(session: AsyncSession, staff: StaffAccount) -> list[dict[str, Any]]:
    """The agent's quick phrases as the workbench offers them now (peak mode's first)."""
    peak = (await peak_state(session, staff.shop_id)).on
    return [
        {"shortcut": p.shortcut, "text": p.text, "group": p.group,
         "own": p.owner_id is not None, "peak": p.peak}
        for p in await phrases_for(session, staff.shop_id, staff.id, peak=peak)
    ]  # fmt: skip
