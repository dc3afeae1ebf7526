"""Routing (C6): by team, only online agents, a cap each, longest-waiting first,
a returning buyer back to the agent who served them before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.reception.models import (
    AgentPresence,
    Conversation,
    ConversationStatus,
    PresenceStatus,
)
from xiaoer.shops.service import agent_cap, peak_state
from xiaoer.staff.models import StaffAccount

QUEUED = ConversationStatus.queued.value
ACTIVE = ConversationStatus.active.value


def buyer_topic(customer_id: int) -> str:
    return f"buyer:{customer_id}"


async def active_counts(session: AsyncSession, shop_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(Conversation.agent_id, func.count())
        .where(Conversation.shop_id == shop_id, Conversation.status == ACTIVE)
        .group_by(Conversation.agent_id)
    )
    return {int(agent): int(n) for agent, n in rows.all() if agent is not None}


async def online_agents(session: AsyncSession, shop_id: int, team: str) -> list[StaffAccount]:
    rows = await session.scalars(
        select(StaffAccount)
        .join(AgentPresence, AgentPresence.staff_id == StaffAccount.id)
        .where(
            StaffAccount.shop_id == shop_id,
            StaffAccount.team == team,
            StaffAccount.active.is_(True),
            AgentPresence.status == PresenceStatus.online.value,
        )
        .order_by(StaffAccount.id)
    )
    return [a for a in rows if a.has_role("agent")]


async def previous_agent(session: AsyncSession, conversation: Conversation) -> int | None:
    """The agent who last served this buyer in an earlier conversation."""
    value = await session.scalar(
        select(Conversation.agent_id)
        .where(
            Conversation.customer_id == conversation.customer_id,
            Conversation.id != conversation.id,
            Conversation.agent_id.is_not(None),
        )
        .order_by(Conversation.opened_at.desc())
        .limit(1)
    )
    return int(value) if value is not None else None


async def choose_agent(
    session: AsyncSession, conversation: Conversation, policy: Policy
) -> StaffAccount | None:
    peak = await peak_state(session, conversation.shop_id)
    cap = agent_cap(peak, policy.reception.max_concurrent_conversations)
    agents = await online_agents(session, conversation.shop_id, conversation.team)
    if not agents:
        return None
    load = await active_counts(session, conversation.shop_id)
    if all(load.get(a.id, 0) >= cap for a in agents):
        return None
    return pick_agent(agents, load, cap, await previous_agent(session, conversation))


def pick_agent(
    agents: list[StaffAccount], load: dict[int, int], cap: int, before: int | None
) -> StaffAccount | None:
    """Of the online ``agents``, the one a new conversation goes to: the agent who served
    the buyer ``before`` while under the ``cap``, else the least loaded (``load``: active
    conversations by agent), the lower id on a tie; ``None`` when all are at the cap."""
    free = [a for a in agents if load.get(a.id, 0) < cap]
    for agent in free:
        if agent.id == before:
            return agent
    return min(free, key=lambda a: (load.get(a.id, 0), a.id), default=None)


async def do_assign(
    session: AsyncSession,
    conversation: Conversation,
    agent: StaffAccount,
    now: datetime,
    *,
    reason: str = "routed",
    from_team: str | None = None,
) -> None:
    """Give the conversation to ``agent``; the event names who had it before (the agent,
    or the team whose queue it waited in), so their workbenches hear it left them."""
    from_agent_id = conversation.agent_id
    from_team = from_team or conversation.team
    conversation.agent_id = agent.id
    conversation.status = ACTIVE
    conversation.assigned_at = now
    await record_event(
        session,
        conversation.shop_id,
        "conversation.assigned",
        {
            "conversation_id": conversation.id,
            "agent_id": agent.id,
            "agent_name": agent.name,
            "team": conversation.team,
            "from_agent_id": from_agent_id,
            "from_team": from_team,
            "reason": reason,
        },
        topic=buyer_topic(conversation.customer_id),
    )


async def agent_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    """Agents' names by id, as buyers see them beside the agents' replies."""
    if not ids:
        return {}
    rows = await session.execute(
        select(StaffAccount.id, StaffAccount.name).where(StaffAccount.id.in_(ids))
    )
    return {int(row.id): str(row.name) for row in rows}


async def queue_position(session: AsyncSession, conversation: Conversation) -> int:
    """1 for the longest-waiting buyer of the team."""
    ahead = await session.scalar(
        select(func.count()).where(
            Conversation.shop_id == conversation.shop_id,
            Conversation.team == conversation.team,
            Conversation.status == QUEUED,
            Conversation.queued_at < conversation.queued_at,
        )
    )
    return int(ahead or 0) + 1


async def queued(
    session: AsyncSession, shop_id: int, team: str | None = None
) -> list[Conversation]:
    query = select(Conversation).where(
        Conversation.shop_id == shop_id, Conversation.status == QUEUED
    )
    if team is not None:
        query = query.where(Conversation.team == team)
    return list(await session.scalars(query.order_by(Conversation.queued_at, Conversation.id)))


async def do_route(
    session: AsyncSession, conversation: Conversation, policy: Policy, now: datetime
) -> StaffAccount | None:
    """Give the conversation to an agent, or leave it queued; returns the agent."""
    agent = await choose_agent(session, conversation, policy)
    if agent is not None:
        await do_assign(session, conversation, agent, now)
    return agent


async def do_assign_waiting(
    session: AsyncSession, shop_id: int, team: str, policy: Policy, now: datetime
) -> int:
    """Hand queued buyers of a team to free agents, longest-waiting first.

    Buyers still waiting are told their new place in the queue.
    """
    waiting = await queued(session, shop_id, team)
    assigned = 0
    for conversation in waiting:
        if await do_route(session, conversation, policy, now) is None:
            break
        assigned += 1
    if assigned:
        for place, conversation in enumerate(waiting[assigned:], start=1):
            await record_event(
                session,
                shop_id,
                "queue.position",
                {"conversation_id": conversation.id, "position": place},
                topic=buyer_topic(conversation.customer_id),
            )
    return assigned
