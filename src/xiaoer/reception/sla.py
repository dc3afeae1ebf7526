"""Response deadlines (C3) and idle agents (C7) as timers; response rounds as KPI rows.

A round opens with a buyer message when none is open and closes with the next
human reply. Its deadline is a timer: the first response target for the first
round of a conversation, the reply target after. A round still open when its
timer fires is a breach the supervisor hears about at once. Rounds are recorded
with their seconds and their capped seconds (DOMAIN.md: capped at 10 minutes, an
unanswered round counts as the cap) so the KPIs never rescan messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.events import record_event
from xiaoer.core.hooks import cancelled_by_reply
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import cancel_timers, schedule_timer, timer_handler
from xiaoer.reception.models import (
    AgentPresence,
    Conversation,
    IdleRecord,
    PresenceLog,
    PresenceStatus,
    ResponseRound,
)

REPLY_DUE = "reception.reply_due"
IDLE_CHECK = "reception.idle_check"


def _subject(conversation: Conversation) -> str:
    return f"conversation:{conversation.id}"


async def open_round(session: AsyncSession, conversation: Conversation) -> ResponseRound | None:
    return await session.scalar(
        select(ResponseRound).where(
            ResponseRound.conversation_id == conversation.id,
            ResponseRound.capped_seconds.is_(None),
        )
    )


async def do_open_round(
    session: AsyncSession, conversation: Conversation, policy: Policy, now: datetime
) -> ResponseRound:
    """Start a round at a buyer message that found nobody waiting for an answer.

    The caller knows: a round is open exactly while ``conversation.waiting_since`` is
    set (a buyer message sets it, a human reply clears it and closes the round), so
    no round and no deadline is open now. It is the conversation's first round when
    nobody has answered yet: an unanswered earlier round would still be open.
    """
    first = conversation.first_response_at is None
    target = policy.reception.first_response_seconds if first else policy.reception.reply_seconds
    entry = ResponseRound(
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        agent_id=conversation.agent_id,
        first=first,
        started_at=now,
    )
    session.add(entry)
    await session.flush()
    await schedule_timer(
        session,
        shop_id=conversation.shop_id,
        kind=REPLY_DUE,
        subject=_subject(conversation),
        due_at=now + timedelta(seconds=target),
        payload={"round_id": entry.id, "target_seconds": target},
        none_open=True,
    )
    return entry


async def do_answer_round(
    session: AsyncSession,
    conversation: Conversation,
    agent_id: int,
    policy: Policy,
    now: datetime,
) -> ResponseRound | None:
    """A human reply closes the open round and its deadline."""
    entry = await open_round(session, conversation)
    if entry is None:
        return None
    seconds = max(0, round((now - entry.started_at).total_seconds()))
    entry.agent_id = agent_id
    entry.answered_at = now
    entry.seconds = seconds
    entry.capped_seconds = min(seconds, policy.kpi.round_cap_seconds)
    await cancel_timers(
        session,
        shop_id=conversation.shop_id,
        kinds=(REPLY_DUE, *cancelled_by_reply()),
        subjects=(_subject(conversation),),
        now=now,
    )
    await left_unanswered(session, conversation, entry, now - entry.started_at, now)
    return entry


# A buyer left this long without a reply is a fined violation (P4), the longer one
# taking the place of the shorter.
NO_REPLY_FINES = (
    (timedelta(hours=2), "no_reply_2_hours"),
    (timedelta(minutes=30), "no_reply_30_minutes"),
)


async def left_unanswered(
    session: AsyncSession,
    conversation: Conversation,
    entry: ResponseRound,
    waited: timedelta,
    now: datetime,
) -> None:
    """Say so on the violation topic when a buyer waited 30 minutes or more (P4)."""
    agent_id = conversation.agent_id
    if agent_id is None or waited < NO_REPLY_FINES[-1][0]:
        return  # nobody was holding the conversation, or the wait was short enough
    rule = next(name for limit, name in NO_REPLY_FINES if waited >= limit)
    await record_event(
        session,
        conversation.shop_id,
        "violation.no_reply",
        {
            "rule": "P4",
            "fine_rule": rule,
            "agent_id": agent_id,
            "conversation_id": conversation.id,
            "round_id": entry.id,
            "waited_seconds": int(waited.total_seconds()),
            "answered": entry.answered_at is not None,
        },
        topic="violation",
        at=now,
    )


async def do_abandon_round(
    session: AsyncSession, conversation: Conversation, policy: Policy, now: datetime
) -> ResponseRound | None:
    """A conversation closed with the buyer unanswered: the round counts as the cap."""
    entry = await open_round(session, conversation)
    if entry is None:
        return None
    entry.agent_id = entry.agent_id or conversation.agent_id
    entry.capped_seconds = policy.kpi.round_cap_seconds
    await cancel_timers(
        session,
        shop_id=conversation.shop_id,
        kinds=(REPLY_DUE, *cancelled_by_reply()),
        subjects=(_subject(conversation),),
        now=now,
    )
    await left_unanswered(session, conversation, entry, now - entry.started_at, now)
    return entry


@timer_handler(REPLY_DUE)
async def _reply_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    entry = await session.get(ResponseRound, int(timer.payload["round_id"]))
    if entry is None or entry.answered_at is not None or entry.capped_seconds is not None:
        return
    entry.breached = True
    conversation = await session.get(Conversation, entry.conversation_id)
    await record_event(
        session,
        timer.shop_id,
        "sla.breached",
        {
            "conversation_id": entry.conversation_id,
            "agent_id": conversation.agent_id if conversation else None,
            "round_id": entry.id,
            "first": entry.first,
            "target_seconds": timer.payload.get("target_seconds"),
            "waited_seconds": round((now - entry.started_at).total_seconds()),
        },
    )


async def do_note_activity(
    session: AsyncSession, presence: AgentPresence, policy: Policy, now: datetime
) -> None:
    """The agent did something: the idle check moves to the policy's minutes from now."""
    presence.last_activity_at = now
    await schedule_timer(
        session,
        shop_id=presence.shop_id,
        kind=IDLE_CHECK,
        subject=f"staff:{presence.staff_id}",
        due_at=now + timedelta(minutes=policy.reception.idle_online_minutes),
    )


# How stale ``last_activity_at`` may be. Idle-online is measured in minutes; writing the
# row on every reply made an agent's simultaneous replies wait for each other's commit.
ACTIVITY_RESOLUTION = timedelta(seconds=15)


async def note_activity(session: AsyncSession, staff_id: int, now: datetime) -> None:
    """The agent did something: the idle timer stays where it is.

    An online agent always has an idle check pending (set when they went online);
    when it fires it looks at ``last_activity_at`` and moves itself on. The row is
    written only when its time is older than :data:`ACTIVITY_RESOLUTION`, so a busy
    agent's replies rarely touch (and lock) it.
    """
    await session.execute(
        update(AgentPresence)
        .where(
            AgentPresence.staff_id == staff_id,
            AgentPresence.last_activity_at < now - ACTIVITY_RESOLUTION,
        )
        .values(last_activity_at=now)
        .execution_options(synchronize_session=False)
    )


@timer_handler(IDLE_CHECK)
async def _idle_check(session: AsyncSession, timer: Timer, now: datetime) -> None:
    staff_id = int(timer.subject.split(":", 1)[1])
    presence = await session.get(AgentPresence, staff_id)
    if presence is None or presence.status != PresenceStatus.online.value:
        return
    policy = await policy_on(session, presence.shop_id, now.date())
    limit = timedelta(minutes=policy.reception.idle_online_minutes)
    if now - presence.last_activity_at < limit:
        await schedule_timer(
            session,
            shop_id=presence.shop_id,
            kind=IDLE_CHECK,
            subject=timer.subject,
            due_at=presence.last_activity_at + limit,
        )
        return
    waiting = int(
        await session.scalar(
            select(func.count()).where(
                Conversation.agent_id == staff_id,
                Conversation.status == "active",
                Conversation.waiting_since.is_not(None),
            )
        )
        or 0
    )
    if waiting == 0:
        await schedule_timer(
            session,
            shop_id=presence.shop_id,
            kind=IDLE_CHECK,
            subject=timer.subject,
            due_at=now + limit,
        )
        return
    session.add(
        IdleRecord(
            shop_id=presence.shop_id,
            staff_id=staff_id,
            started_at=presence.last_activity_at,
            detected_at=now,
            waiting_buyers=waiting,
        )
    )
    presence.status = PresenceStatus.away.value
    presence.since = now
    session.add(
        PresenceLog(shop_id=presence.shop_id, staff_id=staff_id, status=presence.status, at=now)
    )
    await record_event(
        session,
        presence.shop_id,
        "agent.idle",
        {
            "staff_id": staff_id,
            "waiting_buyers": waiting,
            "idle_since": presence.last_activity_at.isoformat(),
        },
    )
