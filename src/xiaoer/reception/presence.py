"""Presence that tells the truth (C7): an agent is online while a workbench page is.

Every open workbench socket stamps ``AgentPresence.socket_seen_at`` when it opens and
each time it checks its session (``session_check_seconds``, below the grace), in any
process. When a socket closes, a ``presence.gone`` timer is set for the policy's grace
(``reception.away_after_seconds``); if no page of the agent was seen since the close
when it fires, the agent becomes away — and routing gives buyers only to agents
online — and after ``reception.offline_after_away_minutes`` more, offline. A server
that starts gives every agent it finds online the same grace to open a page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Timer
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.reception.models import AgentPresence, PresenceStatus
from xiaoer.staff.models import StaffAccount

GONE = "presence.gone"
OFFLINE = "presence.offline"


async def socket_seen(db: Database, staff_id: int, now: datetime | None = None) -> None:
    """A workbench page of the agent is open at ``now``."""
    async with db.session() as session:
        await session.execute(
            update(AgentPresence)
            .where(AgentPresence.staff_id == staff_id)
            .values(socket_seen_at=now or utcnow())
        )
        await session.commit()


async def _watch(session: AsyncSession, presence: AgentPresence, closed: datetime) -> None:
    policy = await policy_on(session, presence.shop_id)
    await schedule_timer(
        session, shop_id=presence.shop_id, kind=GONE, subject=str(presence.staff_id),
        due_at=closed + timedelta(seconds=policy.reception.away_after_seconds),
        payload={"closed_at": closed.isoformat()},
    )  # fmt: skip


async def socket_closed(db: Database, staff_id: int, now: datetime | None = None) -> None:
    """A workbench page of the agent closed: away after the grace unless another opens."""
    moment = now or utcnow()
    async with db.session() as session:
        presence = await session.get(AgentPresence, staff_id)
        if presence is not None and presence.status == PresenceStatus.online.value:
            await _watch(session, presence, moment)
            await session.commit()


async def watch_everyone_online(db: Database, now: datetime | None = None) -> int:
    """At start: every agent online gets the grace to show a page; how many."""
    moment = now or utcnow()
    async with db.session() as session:
        online = list(
            await session.scalars(
                select(AgentPresence).where(AgentPresence.status == PresenceStatus.online.value)
            )
        )
        for presence in online:
            await _watch(session, presence, moment)
        await session.commit()
    return len(online)


async def _set(session: AsyncSession, presence: AgentPresence, status: str, now: datetime) -> None:
    from xiaoer.reception.service import do_set_presence

    agent = await session.get(StaffAccount, presence.staff_id)
    if agent is not None:
        await do_set_presence(session, agent=agent, status=status, now=now)


@timer_handler(GONE)
async def _gone(session: AsyncSession, timer: Timer, now: datetime) -> None:
    presence = await session.get(AgentPresence, int(timer.subject))
    if presence is None or presence.status != PresenceStatus.online.value:
        return
    closed = datetime.fromisoformat(str(timer.payload.get("closed_at")))
    if presence.socket_seen_at is not None and presence.socket_seen_at >= closed:
        return  # a page of the agent was open after this one closed
    await _set(session, presence, PresenceStatus.away.value, now)
    policy = await policy_on(session, presence.shop_id)
    await schedule_timer(
        session, shop_id=presence.shop_id, kind=OFFLINE, subject=str(presence.staff_id),
        due_at=now + timedelta(minutes=policy.reception.offline_after_away_minutes),
        payload={"away_at": now.isoformat()},
    )  # fmt: skip


@timer_handler(OFFLINE)
async def _offline(session: AsyncSession, timer: Timer, now: datetime) -> None:
    presence = await session.get(AgentPresence, int(timer.subject))
    if presence is None or presence.status != PresenceStatus.away.value:
        return
    away = datetime.fromisoformat(str(timer.payload.get("away_at")))
    if presence.socket_seen_at is not None and presence.socket_seen_at >= away:
        return  # back at a page, though not online again: leave it to them
    await _set(session, presence, PresenceStatus.offline.value, now)
