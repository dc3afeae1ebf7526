"""Conversations: a buyer writes, routing finds an agent, the agent replies, closes.

Every function here runs inside the caller's unit of work and records events;
nothing is visible to anyone until the caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.hooks import agent_replied, waiting_timers
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.send_checks import blocks_for
from xiaoer.core.texts import say
from xiaoer.core.timers import insert_timers
from xiaoer.reception import autoreply, routing, sla
from xiaoer.reception.access import check_may_act, load_conversation
from xiaoer.reception.errors import NeedsApproval, NotAllowed, ReceptionError
from xiaoer.reception.models import (
    AgentPresence,
    AutoReply,
    AutoReplyKind,
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    PresenceLog,
    PresenceStatus,
    Sender,
)
from xiaoer.reception.phrases import fill
from xiaoer.reception.routing import buyer_topic
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount, Team

MAX_MESSAGE_CHARS = 2000
MAX_CLIENT_ID = 64
OUTCOMES = ("resolved", "ordered", "no_reply", "escalated", "complaint", "other")
_BREAK = re.compile(r"(?<=[。！？!?；;\n])")


@dataclass
class Posted:
    """What a posted message produced; ``duplicate`` when it was a resend."""

    conversation: Conversation
    messages: list[Message]
    duplicate: bool = False
    replies: list[Message] = field(default_factory=list)


def check_text(text: str) -> str:
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise ReceptionError(say("the message is empty"))
    if len(cleaned) > MAX_MESSAGE_CHARS:
        raise ReceptionError(
            say(
                "the message has {chars} characters; at most {limit} are allowed",
                chars=len(cleaned),
                limit=MAX_MESSAGE_CHARS,
            )
        )
    return cleaned


def check_client_id(client_id: str | None) -> None:
    if client_id is not None and not (0 < len(client_id) <= MAX_CLIENT_ID):
        raise ReceptionError(say("client id must be 1–{limit} characters", limit=MAX_CLIENT_ID))


def typing_meta(text: str, typing_ms: int | None, typed_chars: int | None) -> dict[str, Any]:
    """A reply's typing speed (C8), of the characters typed by hand: text pasted or
    inserted from a phrase is not typing, or one paste would read as 50,000 字/分.
    A client that does not count them (``None``) has typed all of the text."""
    chars = len(text) if typed_chars is None else min(typed_chars, len(text))
    if not typing_ms or typing_ms <= 0 or chars <= 0:
        return {}
    return {"typing_ms": typing_ms, "chars_per_minute": round(chars * 60000 / typing_ms)}


def split_reply(text: str, limit: int) -> list[str]:
    """Cut a long reply into messages of at most ``limit`` characters, at sentence ends
    where possible (C8)."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in (p for p in _BREAK.split(text) if p):
        while len(piece) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(piece[:limit])
            piece = piece[limit:]
        if len(current) + len(piece) > limit:
            parts.append(current)
            current = piece
        else:
            current += piece
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def message_json(message: Message, agent_name: str = "") -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender": message.sender,
        "agent_name": agent_name,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "customer_id": conversation.customer_id,
        "channel_id": conversation.channel_id,
        "team": conversation.team,
        "agent_id": conversation.agent_id,
        "status": conversation.status,
        "opened_at": conversation.opened_at.isoformat(),
        "queued_at": conversation.queued_at.isoformat(),
        "waiting_since": conversation.waiting_since.isoformat()
        if conversation.waiting_since
        else None,
        "first_response_at": conversation.first_response_at.isoformat()
        if conversation.first_response_at
        else None,
        "unread": conversation.unread,
        "outcome": conversation.outcome,
    }


async def _existing(session: AsyncSession, shop_id: int, key: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.shop_id == shop_id, Message.dedupe_key == key)
    )


async def open_conversation_of(session: AsyncSession, customer_id: int) -> Conversation | None:
    return await session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.status != ConversationStatus.closed.value,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def _add_message(
    session: AsyncSession,
    conversation: Conversation,
    sender: Sender,
    text: str,
    now: datetime,
    *,
    agent: StaffAccount | None = None,
    dedupe_key: str | None = None,
    meta: dict[str, Any] | None = None,
    told: dict[str, Any] | None = None,
    announce: bool = True,
) -> Message:
    message = Message(
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        sender=sender.value,
        agent_id=agent.id if agent else None,
        text=text,
        dedupe_key=dedupe_key,
        meta=meta or {},
        created_at=now,
    )
    session.add(message)
    await session.flush()
    if announce:
        await _announce(session, conversation, message, agent, told)
    return message


async def _insert_once(
    session: AsyncSession,
    conversation: Conversation,
    text: str,
    now: datetime,
    key: str,
    *,
    agent: StaffAccount | None = None,
    meta: dict[str, Any] | None = None,
) -> Message | None:
    """Store a message unless one with its key exists: ``None`` for a resend.

    One statement (``INSERT … ON CONFLICT DO NOTHING``) does the look-up and the
    insert, and two racing copies of one resend cannot both be stored.
    """
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        upsert(Message)
        .values(
            shop_id=conversation.shop_id,
            conversation_id=conversation.id,
            sender=Sender.agent.value if agent else Sender.buyer.value,
            agent_id=agent.id if agent else None,
            text=text,
            dedupe_key=key,
            meta=meta or {},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Message.shop_id, Message.dedupe_key])
        .returning(Message)
    )
    return (await session.scalars(stmt)).one_or_none()


async def _announce(
    session: AsyncSession,
    conversation: Conversation,
    message: Message,
    agent: StaffAccount | None = None,
    told: dict[str, Any] | None = None,
) -> None:
    conversation.last_message_at = message.created_at
    payload = message_json(message, agent.name if agent else "")
    payload["conversation"] = conversation_json(conversation)
    payload.update(told or {})
    await record_event(
        session,
        conversation.shop_id,
        "message.created",
        payload,
        topic=buyer_topic(conversation.customer_id),
        at=message.created_at,
    )


async def _agent_name(session: AsyncSession, agent_id: int | None) -> str | None:
    if agent_id is None:
        return None
    agent = await session.get(StaffAccount, agent_id)
    return agent.name if agent else None


async def do_receive_buyer_message(
    session: AsyncSession,
    *,
    shop: Shop,
    customer: Customer,
    text: str,
    client_id: str | None = None,
    channel: Channel | None = None,
    team: str = Team.presale.value,
    thread: Conversation | None = None,
    new_thread: bool = False,
    meta: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Posted:
    """A buyer's message: stored once, routed, answered automatically where due (C2–C6).

    The message joins the buyer's open conversation. A channel that threads its own
    messages (e-mail) names the conversation instead: ``thread`` while it is open, else
    a new one, as with ``new_thread``. ``meta`` is kept on the message.
    """
    moment = now or utcnow()
    cleaned = check_text(text)
    check_client_id(client_id)
    key = f"b{customer.id}:{client_id}" if client_id else None
    conversation: Conversation | None
    if (
        thread is not None
        and thread.customer_id == customer.id
        and (thread.status != ConversationStatus.closed.value)
    ):
        conversation = thread
    elif thread is not None or new_thread:
        conversation = None
    else:
        conversation = await open_conversation_of(session, customer.id)
    new = conversation is None
    message: Message | None = None
    if key and conversation is None:
        # A first message: look for an earlier copy. Two copies racing here both open a
        # conversation; the unique key refuses the second, whose resend is then found.
        earlier = await _existing(session, shop.id, key)
        if earlier is not None:
            return await _resent(session, earlier)
    elif key and conversation is not None:
        message = await _insert_once(session, conversation, cleaned, moment, key, meta=meta)
        if message is None:  # a resend: answer with the message stored the first time
            earlier = await _existing(session, shop.id, key)
            assert earlier is not None
            return await _resent(session, earlier)
    policy = await policy_on(session, shop.id, moment.date())
    if conversation is None:
        conversation = Conversation(
            shop_id=shop.id,
            customer_id=customer.id,
            channel_id=channel.id if channel else None,
            team=team,
            opened_at=moment,
            queued_at=moment,
            last_message_at=moment,
        )
        session.add(conversation)
        await session.flush()
    conversation.buyer_messages += 1
    conversation.unread += 1
    answered = conversation.waiting_since is None  # else a round is open already
    conversation.waiting_since = conversation.waiting_since or moment
    if message is None:
        message = await _add_message(
            session, conversation, Sender.buyer, cleaned, moment, dedupe_key=key, meta=meta,
            told=None, announce=not new,
        )  # fmt: skip
    else:
        await _announce(session, conversation, message)
    if answered:
        await sla.do_open_round(session, conversation, policy, moment)
        await insert_timers(session, shop.id, waiting_timers(policy, conversation.id, moment))
    if new:
        await routing.do_route(session, conversation, policy, moment)
        # A new conversation's first message is told once it is routed: its event then
        # shows whom it went to, so a team hears of it only while it waits in their queue.
        await _announce(session, conversation, message)
    replies = await _auto_replies(
        session, shop, customer, conversation, policy, cleaned, new, moment
    )
    return Posted(conversation, [message], replies=replies)


async def _resent(session: AsyncSession, earlier: Message) -> Posted:
    conversation = await session.get(Conversation, earlier.conversation_id)
    assert conversation is not None
    return Posted(conversation, [earlier], duplicate=True)


async def _auto_replies(
    session: AsyncSession,
    shop: Shop,
    customer: Customer,
    conversation: Conversation,
    policy: Policy,
    text: str,
    new: bool,
    now: datetime,
) -> list[Message]:
    rules = await autoreply.auto_replies(session, shop.id)
    queued = conversation.status == ConversationStatus.queued.value
    in_hours = autoreply.in_service_hours(policy, shop, now)
    position = None
    if new and queued and in_hours:  # its place in the queue, for the templates
        position = await routing.queue_position(session, conversation)
    chosen = automatic_answers(
        rules, policy, text, new=new, queued=queued, in_hours=in_hours, position=position
    )
    if not chosen:
        return []
    values = await autoreply.template_values(
        session,
        shop,
        now,
        agent_name=await _agent_name(session, conversation.agent_id),
        buyer=customer.nick,
        position=position,
        cutoff=policy.fulfilment.cutoff_time,
    )
    return [
        await _add_message(session, conversation, Sender.auto, text, now, meta=meta)
        for text, meta in composed(chosen, values)
    ]


def automatic_answers(
    rules: list[AutoReply],
    policy: Policy,
    text: str,
    *,
    new: bool,
    queued: bool,
    in_hours: bool,
    position: int | None,
) -> list[tuple[AutoReplyKind, str]]:
    """The automatic replies a buyer message is due, as (kind, template): a new
    conversation's greeting (the welcome; the offline notice when it waits in the queue
    out of service hours; the busy notice at queue ``position`` from the policy's
    length), then the keyword reply its text asks for."""
    chosen: list[tuple[AutoReplyKind, str]] = []
    if new:
        if queued and not in_hours:
            # Nobody on duty: say so. An agent online after hours gets the usual welcome.
            rule = autoreply.first_of(rules, AutoReplyKind.offline)
            if rule:
                chosen.append((AutoReplyKind.offline, rule.text))
        else:
            rule = autoreply.first_of(rules, AutoReplyKind.welcome)
            if rule:
                chosen.append((AutoReplyKind.welcome, rule.text))
            busy = autoreply.first_of(rules, AutoReplyKind.busy)
            if queued and busy and position and position >= policy.reception.busy_queue_length:
                chosen.append((AutoReplyKind.busy, busy.text))
    keyword = autoreply.keyword_reply(rules, text)
    if keyword is not None:
        chosen.append((AutoReplyKind.keyword, keyword.text))
    return chosen


def composed(
    chosen: list[tuple[AutoReplyKind, str]], values: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """The replies' texts, filled in, with their ``meta``: a greeting and the answer to
    the first message, both due now, are one message: the buyer reads one reply, and it
    counts as the answer (``meta.auto`` = keyword)."""
    messages = [(kind, fill(template, values), {"auto": kind.value}) for kind, template in chosen]
    if (
        len(messages) >= 2
        and messages[0][0] in (AutoReplyKind.welcome, AutoReplyKind.offline)
        and messages[-1][0] == AutoReplyKind.keyword
    ):
        greeting, answer = messages[0], messages[-1]
        merged = (
            answer[0],
            f"{greeting[1]}\n{answer[1]}",
            {**answer[2], "greeting": greeting[0].value},
        )
        messages = [merged, *messages[1:-1]]
    return [(text, meta) for _, text, meta in messages]


async def do_add_automatic_reply(
    session: AsyncSession,
    conversation: Conversation,
    text: str,
    *,
    source: str,
    meta: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Message:
    """An answer no human wrote (``source`` says who): shown to the buyer as automatic,
    never counted as a response (C4)."""
    return await _add_message(
        session,
        conversation,
        Sender.auto,
        check_text(text),
        now or utcnow(),
        meta={"auto": source, **(meta or {})},
    )


async def do_send_agent_message(
    session: AsyncSession,
    *,
    agent: StaffAccount,
    conversation_id: int,
    text: str,
    client_id: str | None = None,
    typing_ms: int | None = None,
    now: datetime | None = None,
    typed_chars: int | None = None,
) -> Posted:
    """An agent's reply: split when long, closes the response round, stored once."""
    moment = now or utcnow()
    cleaned = check_text(text)
    check_client_id(client_id)
    conversation = await load_conversation(session, agent, conversation_id)
    key = f"a{agent.id}:{client_id}" if client_id else None
    try:
        check_may_act(agent, conversation)
        if conversation.status != ConversationStatus.active.value:
            raise ReceptionError(say("the conversation is not open with an agent"))
    except ReceptionError:
        if key and (earlier := await _existing(session, agent.shop_id, key)) is not None:
            return await _agent_resent(session, conversation, earlier, key)
        raise
    policy = await policy_on(session, agent.shop_id, moment.date())
    blocks = await blocks_for(
        session,
        policy,
        shop_id=agent.shop_id,
        agent_id=agent.id,
        agent_level=agent.level,
        conversation_id=conversation.id,
        text=cleaned,
    )
    if blocks:
        raise NeedsApproval(blocks)
    parts = split_reply(cleaned, policy.reception.split_reply_chars)
    meta = typing_meta(cleaned, typing_ms, typed_chars)
    messages = []
    if key:
        first = await _insert_once(
            session, conversation, parts[0], moment, key, agent=agent, meta=meta
        )
        if first is None:  # a resend: answer with what was stored the first time
            earlier = await _existing(session, agent.shop_id, key)
            assert earlier is not None
            return await _agent_resent(session, conversation, earlier, key)
        await _announce(session, conversation, first, agent)
        messages.append(first)
    for index, part in enumerate(parts[len(messages) :], start=len(messages)):
        part_key = key if index == 0 or key is None else f"{key}#{index}"
        messages.append(
            await _add_message(
                session,
                conversation,
                Sender.agent,
                part,
                moment,
                agent=agent,
                dedupe_key=part_key,
                meta=meta if index == 0 else {},
            )
        )
    conversation.agent_messages += len(messages)
    conversation.unread = 0
    waiting = conversation.waiting_since is not None  # a round is open: this answers it
    conversation.waiting_since = None
    conversation.first_response_at = conversation.first_response_at or moment
    if waiting:
        await sla.do_answer_round(session, conversation, agent.id, policy, moment)
    await sla.note_activity(session, agent.id, moment)
    await agent_replied(
        session,
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        message_ids=[m.id for m in messages],
        text=cleaned,
        at=moment,
    )
    return Posted(conversation, messages)


async def _agent_resent(
    session: AsyncSession, conversation: Conversation, earlier: Message, key: str
) -> Posted:
    same = list(
        await session.scalars(
            select(Message)
            .where(Message.shop_id == earlier.shop_id, Message.dedupe_key.like(f"{key}#%"))
            .order_by(Message.id)
        )
    )
    return Posted(conversation, [earlier, *same], duplicate=True)


async def do_mark_read(session: AsyncSession, agent: StaffAccount, conversation_id: int) -> None:
    conversation = await load_conversation(session, agent, conversation_id)
    check_may_act(agent, conversation)
    conversation.unread = 0


async def do_transfer(
    session: AsyncSession,
    *,
    actor: StaffAccount,
    conversation_id: int,
    to_agent_id: int | None = None,
    to_team: str | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Hand a conversation to another agent, or back to a team's queue (C6)."""
    moment = now or utcnow()
    conversation = await load_conversation(session, actor, conversation_id)
    if conversation.status == ConversationStatus.closed.value:
        raise ReceptionError(say("the conversation is closed"))
    check_may_act(actor, conversation)
    policy = await policy_on(session, actor.shop_id, moment.date())
    previous_team = conversation.team
    previous_agent = conversation.agent_id
    if to_agent_id is not None:
        target = await session.get(StaffAccount, to_agent_id)
        if target is None or target.shop_id != actor.shop_id or not target.has_role("agent"):
            raise ReceptionError(say("no agent {agent_id} in this shop", agent_id=to_agent_id))
        if target.id == conversation.agent_id:
            raise ReceptionError(say("the conversation is with that agent already"))
        presence = await session.get(AgentPresence, target.id)
        if presence is None or presence.status != PresenceStatus.online.value:
            raise ReceptionError(say("{name} is not online", name=target.name))
        conversation.team = target.team
        await routing.do_assign(
            session, conversation, target, moment, reason="transfer", from_team=previous_team
        )
        note = f"已转接给客服 {target.name}"
    elif to_team is not None:
        if to_team not in {t.value for t in Team}:
            raise ReceptionError(
                say("team {team!r}: expected presale, aftersale or assist", team=to_team)
            )
        conversation.team = to_team
        conversation.agent_id = None
        conversation.status = ConversationStatus.queued.value
        conversation.queued_at = moment
        agent = await routing.do_route(session, conversation, policy, moment)
        note = f"已转接给{agent.name}" if agent else "已转接，正在为您安排客服"
    else:
        raise ReceptionError(say("name an agent or a team to transfer to"))
    # The note's event also names who had the conversation, so their workbench hears it
    # left them even when it waits in another team's queue now.
    await _add_message(
        session, conversation, Sender.system, note, moment, meta={"transfer": {"by": actor.id}},
        told={"from_agent_id": previous_agent, "from_team": previous_team},
    )  # fmt: skip
    await routing.do_assign_waiting(session, actor.shop_id, previous_team, policy, moment)
    return conversation


async def do_close(
    session: AsyncSession,
    *,
    actor: StaffAccount,
    conversation_id: int,
    outcome: str,
    now: datetime | None = None,
) -> Conversation:
    """Close with an outcome tag (C10); the agent's place goes to the next waiting buyer."""
    moment = now or utcnow()
    if outcome not in OUTCOMES:
        raise ReceptionError(
            say(
                "outcome {outcome!r}: expected one of {choices}",
                outcome=outcome,
                choices=", ".join(OUTCOMES),
            )
        )
    conversation = await load_conversation(session, actor, conversation_id)
    if conversation.status == ConversationStatus.closed.value:
        raise ReceptionError(say("the conversation is closed already"))
    check_may_act(actor, conversation)
    policy = await policy_on(session, actor.shop_id, moment.date())
    await sla.do_abandon_round(session, conversation, policy, moment)
    conversation.status = ConversationStatus.closed.value
    conversation.closed_at = moment
    conversation.outcome = outcome
    conversation.waiting_since = None
    await record_event(
        session,
        conversation.shop_id,
        "conversation.closed",
        {
            "conversation_id": conversation.id,
            "outcome": outcome,
            "by": actor.id,
            "agent_id": conversation.agent_id,
            "team": conversation.team,
        },
        topic=buyer_topic(conversation.customer_id),
        at=moment,
    )
    await routing.do_assign_waiting(session, actor.shop_id, conversation.team, policy, moment)
    return conversation


async def do_set_presence(
    session: AsyncSession, *, agent: StaffAccount, status: str, now: datetime | None = None
) -> AgentPresence:
    """Online, away or offline (C7); going online takes waiting buyers."""
    moment = now or utcnow()
    if status not in {s.value for s in PresenceStatus}:
        raise ReceptionError(
            say("status {status!r}: expected online, away or offline", status=status)
        )
    if not agent.has_role("agent"):
        raise NotAllowed(say("only agents take conversations"))
    presence = await session.get(AgentPresence, agent.id)
    if presence is None:
        presence = AgentPresence(
            staff_id=agent.id, shop_id=agent.shop_id, since=moment, last_activity_at=moment
        )
        session.add(presence)
    changed = presence.status != status
    presence.status = status
    if changed:
        presence.since = moment
        session.add(PresenceLog(shop_id=agent.shop_id, staff_id=agent.id, status=status, at=moment))
    policy = await policy_on(session, agent.shop_id, moment.date())
    await record_event(
        session,
        agent.shop_id,
        "agent.presence",
        {"staff_id": agent.id, "name": agent.name, "status": status, "team": agent.team},
        at=moment,
    )
    if status == PresenceStatus.online.value:
        await sla.do_note_activity(session, presence, policy, moment)
        await session.flush()
        await routing.do_assign_waiting(session, agent.shop_id, agent.team, policy, moment)
    return presence
