"""Group commit for live chat: the messages of a few milliseconds in one transaction.

Each process has one writer per database (:func:`chat_writer`). The buyer's socket and
the agent's reply route hand it their message and wait; it stores what arrived while
it waited ``window`` seconds, or while its last batch was being committed, in one
transaction (:func:`write_batch`) and answers each caller only after the commit. A
batch that fails fails only its own messages, with an error the clients retry, and
stores nothing of them; a message refused for its own reason (not the caller's
conversation, blocked by the assistant) is refused alone. Messages are stored and
told in the order they arrived, so a conversation keeps its order.

The common message takes the short way, with statements for the whole batch:
one read of the batch's conversations (locked on PostgreSQL), one look-up of resends,
one insert of the messages, of the response rounds they open and of their deadlines,
one cancel of the deadlines the replies answer, the conversations' counters, and the
events, numbered in the same commit (``core.events``). What it needs besides — the
shop's policy and automatic replies — comes from ``core.memo`` while the process
follows the shop's events (an open widget or workbench does), else from one read per
batch. The rest — a first
message (routing, welcome), a keyword reply due, a resend, a long reply cut in parts,
a conversation of a channel that delivers replies itself, a reply the service refuses
— goes through the service's own functions (``service.do_receive_buyer_message``,
``service.do_send_agent_message``) in a savepoint of the same transaction, in its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, union_all, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from xiaoer.buyers.models import Customer
from xiaoer.core import memo
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.events import EventData, number_at_once, record_event, store_now
from xiaoer.core.feed import offer
from xiaoer.core.hooks import cancelled_by_reply, waiting_timers
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.send_checks import blocks_for
from xiaoer.core.texts import say
from xiaoer.core.timers import TimerPlan, cancel_timers, insert_timers
from xiaoer.reception import autoreply, routing, sla, writer_pg
from xiaoer.reception.errors import NeedsApproval, ReceptionError
from xiaoer.reception.models import (
    AgentPresence,
    AutoReply,
    Conversation,
    ConversationStatus,
    Message,
    ResponseRound,
    Sender,
)
from xiaoer.reception.routing import buyer_topic
from xiaoer.reception.service import (
    Posted,
    automatic_answers,
    check_client_id,
    check_text,
    composed,
    conversation_json,
    do_receive_buyer_message,
    do_send_agent_message,
    message_json,
    typing_meta,
)
from xiaoer.shops.models import Shop
from xiaoer.shops.service import PeakState, agent_cap, peak_state
from xiaoer.staff.models import StaffAccount, Team, is_leader
from xiaoer.staff.sessions import live_accounts

log = logging.getLogger(__name__)

_COUNTED = writer_pg.COUNTED
_conversations = cast(Table, Conversation.__table__)
_UPDATE_CONVERSATION = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation"))
    .values({name: bindparam(name) for name in _COUNTED})
)
_rounds = cast(Table, ResponseRound.__table__)
_ANSWER_ROUND = (
    update(_rounds)
    .where(_rounds.c.id == bindparam("round"))
    .values({name: bindparam(name) for name in ("agent_id", "answered_at", "seconds")})
    .values(capped_seconds=bindparam("capped_seconds"))
)


class _CoreStatements:
    """The batch's statements through the session (SQLite; any database)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stored_keys(self, shop_id: int, keys: set[str]) -> set[str]:
        found = await self.session.scalars(
            select(Message.dedupe_key).where(
                Message.shop_id == shop_id, Message.dedupe_key.in_(sorted(keys))
            )
        )
        return {str(key) for key in found}

    async def write(self, w: writer_pg.Writes) -> writer_pg.Written:
        """The segment's rows, a statement a table (and on SQLite, which cannot give a
        multi-row insert's ids in order, an insert a message and a round)."""
        session = self.session
        by_shop: dict[int, tuple[set[str], datetime]] = {}
        for shop_id, subject, at in w.cancels:
            subjects, latest = by_shop.get(shop_id, (set(), at))
            by_shop[shop_id] = (subjects | {subject}, max(latest, at))
        for shop_id, (subjects, at) in sorted(by_shop.items()):
            await cancel_timers(session, shop_id=shop_id, kinds=w.kinds, subjects=subjects, now=at)
        message_ids = [
            int(i)
            for i in await session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), w.messages
            )
        ]
        await session.execute(_UPDATE_CONVERSATION, w.conversations)
        answered = await self._answer(w.answers) if w.answers else []
        round_ids = []
        if w.rounds:
            round_ids = [
                int(i)
                for i in await session.scalars(
                    insert(ResponseRound).returning(ResponseRound.id, sort_by_parameter_order=True),
                    w.rounds,
                )
            ]
        plans: dict[int, list[TimerPlan]] = {}
        for shop_id, plan, place in w.timers:
            round_id = None if place is None else round_ids[place]
            plans.setdefault(shop_id, []).append(writer_pg.with_round(plan, round_id))
        for shop_id, shop_plans in sorted(plans.items()):
            await insert_timers(session, shop_id, shop_plans)
        if w.presence is not None:
            agents, at, older = w.presence
            await session.execute(
                update(AgentPresence)
                .where(AgentPresence.staff_id.in_(agents), AgentPresence.last_activity_at < older)
                .values(last_activity_at=at)
                .execution_options(synchronize_session=False)
            )
        return writer_pg.Written(message_ids, answered)

    async def _answer(self, answers: list[dict[str, Any]]) -> list[tuple[int, int, datetime]]:
        found = await self.session.execute(
            select(_rounds.c.id, _rounds.c.conversation_id, _rounds.c.started_at).where(
                _rounds.c.conversation_id.in_(sorted({a["conversation"] for a in answers})),
                _rounds.c.capped_seconds.is_(None),
            )
        )
        open_rounds = {int(c): (int(i), started) for i, c, started in found}
        rows, answered = [], []
        for answer in answers:
            if answer["conversation"] not in open_rounds:
                continue
            round_id, started = open_rounds.pop(answer["conversation"])
            at = answer["answered_at"]
            seconds = max(0, round((at - started).total_seconds()))
            rows.append(
                {"round": round_id, "agent_id": answer["agent_id"], "answered_at": at}
                | {"seconds": seconds, "capped_seconds": min(seconds, answer["cap"])}
            )
            answered.append((round_id, answer["conversation"], started))
        if rows:
            await self.session.execute(_ANSWER_ROUND, rows)
        return answered


class _DriverStatements:
    """The same on PostgreSQL's driver connection (``writer_pg``): one text for any
    number of rows, prepared once per connection, and a segment in two round trips."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def stored_keys(self, shop_id: int, keys: set[str]) -> set[str]:
        return await writer_pg.stored_keys(self.driver, shop_id, keys)

    async def write(self, w: writer_pg.Writes) -> writer_pg.Written:
        return await writer_pg.write(self.driver, w)

    async def previous_agents(self, customers: list[int]) -> dict[int, int]:
        return await writer_pg.previous_agents(self.driver, customers)

    async def insert_conversations(self, rows: list[dict[str, Any]]) -> list[int]:
        return await writer_pg.insert_conversations(
            self.driver, rows, ConversationStatus.active.value
        )


_Statements = _CoreStatements | _DriverStatements


WINDOW_SECONDS = 0.002
MAX_BATCH = 400
SQLITE_ATTEMPTS = 4  # tries of a batch that finds the SQLite file taken


class NotStored(ReceptionError):
    """The batch holding the message could not be stored; the client sends it again."""


class SessionEnded(ReceptionError):
    """The staff session a reply came with no longer stands (signed out, disabled)."""


@dataclass(eq=False)
class BuyerJob:
    shop: Shop
    customer: Customer
    text: str
    client_id: str | None
    at: datetime
    result: Posted | None = None
    error: BaseException | None = None

    @property
    def key(self) -> str | None:
        return f"b{self.customer.id}:{self.client_id}" if self.client_id else None


@dataclass(eq=False)
class ReplyJob:
    agent: StaffAccount
    conversation_id: int
    text: str
    client_id: str | None
    typing_ms: int | None
    at: datetime
    result: Posted | None = None
    error: BaseException | None = None
    # A reply from a socket names its staff session (``sessions.session_key``): checked
    # in the batch's own transaction, and the account read there acts (as a request's).
    session_key: str | None = None
    session_max_age: timedelta | None = None
    typed_chars: int | None = None  # typed by hand, for the typing speed (C8)

    @property
    def key(self) -> str | None:
        return f"a{self.agent.id}:{self.client_id}" if self.client_id else None


Job = BuyerJob | ReplyJob


def _memo_key(session: AsyncSession, shop_id: int) -> memo.Key:
    return (str(session.get_bind().engine.url), shop_id)


async def _remembered_policy(session: AsyncSession, shop_id: int, day: date) -> Policy:
    name, key = f"policy:{day.isoformat()}", _memo_key(session, shop_id)
    found = memo.recall(key, name)
    if found is memo.MISSING:
        read_at = memo.generation(key)
        found = await policy_on(session, shop_id, day)
        memo.remember(key, name, found, read_at)
    assert isinstance(found, Policy)
    return found


async def _remembered_replies(session: AsyncSession, shop_id: int) -> list[AutoReply]:
    key = _memo_key(session, shop_id)
    found = memo.recall(key, "auto_replies")
    if found is memo.MISSING:
        read_at = memo.generation(key)
        found = [  # copies that belong to no session: read by many batches
            AutoReply(shop_id=shop_id, kind=r.kind, keywords=list(r.keywords), text=r.text)
            for r in await autoreply.auto_replies(session, shop_id)
        ]
        memo.remember(key, "auto_replies", found, read_at)
    assert isinstance(found, list)
    return found


async def _remembered_peak(session: AsyncSession, shop_id: int) -> PeakState:
    key = _memo_key(session, shop_id)
    found = memo.recall(key, "peak")
    if found is memo.MISSING:
        read_at = memo.generation(key)
        found = await peak_state(session, shop_id)
        memo.remember(key, "peak", found, read_at)
    assert isinstance(found, PeakState)
    return found


@dataclass
class _Round:
    """A response round opened in this batch, not stored yet."""

    conversation: Conversation
    row: dict[str, Any]
    plans: list[TimerPlan]
    answered: bool = False


@dataclass
class _Segment:
    """The short-way messages since the last statement was sent."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    # per message, in order: (job, conversation, the conversation's JSON after it, whether
    # it is the job's own message or an automatic reply to it)
    told: list[tuple[Job, Conversation, dict[str, Any], bool]] = field(default_factory=list)
    rounds: list[_Round] = field(default_factory=list)
    open_rounds: dict[int, _Round] = field(default_factory=dict)
    answers: list[tuple[Conversation, int, datetime]] = field(default_factory=list)
    cancels: dict[int, set[str]] = field(default_factory=dict)  # shop -> subjects
    agents: set[int] = field(default_factory=set)
    latest: datetime | None = None
    changed: dict[int, Conversation] = field(default_factory=dict)


class _Batch:
    def __init__(self, session: AsyncSession, jobs: Sequence[Job]) -> None:
        self.session = session
        self.jobs = jobs
        self.open_of: dict[int, Conversation] = {}  # customer -> open conversation
        self.by_id: dict[int, Conversation] = {}
        self.resends: set[tuple[int, str]] = set()
        self.keys: set[tuple[int, str]] = set()
        self.segment = _Segment()
        self.policies: dict[tuple[int, date], Policy] = {}
        self.replies: dict[int, list[AutoReply]] = {}
        self.sql: _Statements = _CoreStatements(session)
        # customer -> a conversation opened and routed for their first message (PostgreSQL)
        self.fresh: dict[int, tuple[Conversation, StaffAccount]] = {}
        self.activities: dict[int, list[str]] = {}

    async def policy(self, shop_id: int, day: date) -> Policy:
        found = self.policies.get((shop_id, day))
        if found is None:
            found = self.policies[shop_id, day] = await _remembered_policy(
                self.session, shop_id, day
            )
        return found

    async def rules(self, shop_id: int) -> list[AutoReply]:
        found = self.replies.get(shop_id)
        if found is None:
            found = self.replies[shop_id] = await _remembered_replies(self.session, shop_id)
        return found

    def _change(self, conversation: Conversation, **values: Any) -> None:
        """Change the loaded conversation as stored, and store it with the segment (one
        statement for all of them, not the session's one per row)."""
        for key, value in values.items():
            set_committed_value(conversation, key, value)
        self.segment.changed[conversation.id] = conversation

    async def load(self) -> None:
        """The batch's conversations, locked, and its messages stored already."""
        customers = {j.customer.id for j in self.jobs if isinstance(j, BuyerJob)}
        ids = {j.conversation_id for j in self.jobs if isinstance(j, ReplyJob)}
        table = _conversations
        wanted = []  # two index look-ups in one statement; an OR of the two scans the table
        if customers:
            wanted.append(
                select(table.c.id).where(
                    table.c.customer_id.in_(sorted(customers)),
                    table.c.status != ConversationStatus.closed.value,
                )
            )
        if ids:
            wanted.append(select(table.c.id).where(table.c.id.in_(sorted(ids))))
        query = (
            select(table)
            .where(table.c.id.in_(union_all(*wanted).scalar_subquery()))
            .order_by(table.c.id)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        # Rows, not the session's objects: the batch keeps its copies as stored (it
        # writes them itself), and the service's way, after the batch's rows are sent,
        # reads its own from the database.
        for row in await self.session.execute(query):
            conversation = Conversation(**row._mapping)
            self.by_id[conversation.id] = conversation
            if conversation.status != ConversationStatus.closed.value:
                self.open_of[conversation.customer_id] = conversation  # the newest wins
        if self.session.get_bind().dialect.name == "postgresql":  # its transaction is open
            self.sql = _DriverStatements(await writer_pg.driver_of(self.session))
        await self._check_sessions()
        keyed: dict[int, set[str]] = {}
        for job in self.jobs:
            if job.key:
                keyed.setdefault(self._shop_of(job), set()).add(job.key)
        for shop_id, keys in sorted(keyed.items()):
            found = await self.sql.stored_keys(shop_id, keys)
            self.resends |= {(shop_id, key) for key in found}
        if isinstance(self.sql, _DriverStatements):
            await self._open_routed(self.sql)

    async def _open_routed(self, sql: _DriverStatements) -> None:
        """Buyers' first messages: route them all at once (the agents, their load and
        each buyer's previous agent read once for the batch, as ``routing.choose_agent``
        decides) and open the conversations of those an agent takes with one statement.
        A buyer who must wait in the queue goes the service's way."""
        firsts: dict[int, BuyerJob] = {}
        for job in self.jobs:
            if (
                isinstance(job, BuyerJob)
                and job.error is None
                and job.customer.id not in self.open_of
                and job.customer.id not in firsts
                and (job.shop.id, job.key) not in self.resends
            ):
                firsts[job.customer.id] = job
        by_shop: dict[int, list[BuyerJob]] = {}
        for job in firsts.values():
            by_shop.setdefault(job.shop.id, []).append(job)
        team = Team.presale.value
        routed: list[tuple[BuyerJob, StaffAccount]] = []
        for shop_id, jobs in sorted(by_shop.items()):
            agents = await routing.online_agents(self.session, shop_id, team)
            if not agents:
                continue
            load = await routing.active_counts(self.session, shop_id)
            before = await sql.previous_agents([job.customer.id for job in jobs])
            for job in jobs:
                policy = await self.policy(shop_id, job.at.date())
                cap = agent_cap(
                    await _remembered_peak(self.session, shop_id),
                    policy.reception.max_concurrent_conversations,
                )
                agent = routing.pick_agent(agents, load, cap, before.get(job.customer.id))
                if agent is not None:
                    load[agent.id] = load.get(agent.id, 0) + 1
                    routed.append((job, agent))
        if not routed:
            return
        ids = await sql.insert_conversations(
            [
                {"shop_id": job.shop.id, "customer_id": job.customer.id, "team": team}
                | {"agent_id": agent.id, "at": job.at}
                for job, agent in routed
            ]
        )
        for (job, agent), conversation_id in zip(routed, ids, strict=True):
            # As stored before its assignment: the first message assigns it (``_first``).
            conversation = Conversation(
                id=conversation_id,
                shop_id=job.shop.id,
                customer_id=job.customer.id,
                channel_id=None,
                team=team,
                agent_id=None,
                status=ConversationStatus.queued.value,
                opened_at=job.at,
                queued_at=job.at,
                assigned_at=None,
                first_response_at=None,
                waiting_since=None,
                last_message_at=job.at,
                closed_at=None,
                outcome="",
                unread=0,
                buyer_messages=0,
                agent_messages=0,
            )
            self.fresh[job.customer.id] = (conversation, agent)

    async def _check_sessions(self) -> None:
        """Replies that name a staff session: the session must stand now, and the
        account as it is now acts."""
        named = [j for j in self.jobs if isinstance(j, ReplyJob) and j.session_key]
        if not named:
            return
        max_age = min(j.session_max_age or timedelta(days=1) for j in named)
        live = await live_accounts(
            self.session, {j.session_key for j in named if j.session_key}, max_age=max_age
        )
        for job in named:
            account = live.get(job.session_key or "")
            if account is None:
                job.error = SessionEnded(say("sign in again"))
            else:
                job.agent = account

    @staticmethod
    def _shop_of(job: Job) -> int:
        return job.shop.id if isinstance(job, BuyerJob) else job.agent.shop_id

    def _seen(self, job: Job) -> bool:
        """A resend: stored before, or earlier in this batch."""
        if job.key is None:
            return False
        mark = (self._shop_of(job), job.key)
        if mark in self.resends or mark in self.keys:
            return True
        self.keys.add(mark)
        return False

    async def run(self) -> None:
        for job in self.jobs:
            if job.error is not None:  # refused before anything was stored
                continue
            try:
                if self._seen(job):  # a resend: the service answers with the stored one
                    done = False
                elif isinstance(job, BuyerJob):
                    done = await self._buyer(job)
                else:
                    done = await self._reply(job)
                if not done:
                    await self.flush()
                    await self._slow(job)
            except ReceptionError as exc:
                job.error = exc
        await self.flush()

    async def _buyer(self, job: BuyerJob) -> bool:
        conversation = self.open_of.get(job.customer.id)
        if conversation is None:
            fresh = self.fresh.pop(job.customer.id, None)
            if fresh is None:
                return False
            await self._first(job, *fresh)
            return True
        rules = await self.rules(job.shop.id)
        if autoreply.keyword_reply(rules, job.text) is not None:
            return False
        policy = await self.policy(job.shop.id, job.at.date())
        opens = conversation.waiting_since is None
        self._change(
            conversation,
            buyer_messages=conversation.buyer_messages + 1,
            unread=conversation.unread + 1,
            last_message_at=job.at,
            waiting_since=conversation.waiting_since or job.at,
        )
        if opens:
            self._open_round(conversation, policy, job.at)
        self._message(job, conversation, Sender.buyer, None, {})
        return True

    async def _first(self, job: BuyerJob, conversation: Conversation, agent: StaffAccount) -> None:
        """A buyer's first message, into the conversation opened for it: what
        ``service.do_receive_buyer_message`` does for a new conversation an agent takes."""
        shop = job.shop
        policy = await self.policy(shop.id, job.at.date())
        self._change(
            conversation, buyer_messages=1, unread=1, last_message_at=job.at, waiting_since=job.at
        )
        self._open_round(conversation, policy, job.at)  # opened before it is assigned
        await routing.do_assign(self.session, conversation, agent, job.at)
        self.by_id[conversation.id] = conversation
        self.open_of[job.customer.id] = conversation
        self._message(job, conversation, Sender.buyer, None, {})
        rules = await self.rules(shop.id)
        chosen = automatic_answers(
            rules, policy, job.text, new=True, queued=False, in_hours=True, position=None
        )
        if not chosen:
            return
        activities = self.activities.get(shop.id)
        if activities is None:
            activities = self.activities[shop.id] = await autoreply.current_activities(
                self.session, shop.id, job.at
            )
        values = autoreply.values_of(
            shop,
            activities,
            agent_name=agent.name,
            buyer=job.customer.nick,
            cutoff=policy.fulfilment.cutoff_time,
        )
        for text, meta in composed(chosen, values):
            self._message(job, conversation, Sender.auto, None, meta, text=text)

    async def _reply(self, job: ReplyJob) -> bool:
        agent = job.agent
        conversation = self.by_id.get(job.conversation_id)
        if (
            conversation is None
            or conversation.shop_id != agent.shop_id
            or conversation.status != ConversationStatus.active.value
            or (conversation.agent_id != agent.id and not is_leader(agent))
            or conversation.channel_id is not None  # its channel's hooks: the long way
        ):
            return False
        policy = await self.policy(agent.shop_id, job.at.date())
        if len(job.text) > policy.reception.split_reply_chars:
            return False
        blocks = await blocks_for(
            self.session,
            policy,
            shop_id=agent.shop_id,
            agent_id=agent.id,
            agent_level=agent.level,
            conversation_id=conversation.id,
            text=job.text,
        )
        if blocks:
            raise NeedsApproval(blocks)
        meta = typing_meta(job.text, job.typing_ms, job.typed_chars)
        waiting = conversation.waiting_since is not None
        self._change(
            conversation,
            agent_messages=conversation.agent_messages + 1,
            unread=0,
            last_message_at=job.at,
            first_response_at=conversation.first_response_at or job.at,
            waiting_since=None,
        )
        if waiting:
            self._answer_round(conversation, agent.id, job.at)
        self.segment.agents.add(agent.id)
        self._message(job, conversation, Sender.agent, agent.id, meta)
        return True

    def _message(
        self,
        job: Job,
        conversation: Conversation,
        sender: Sender,
        agent_id: int | None,
        meta: dict[str, Any],
        *,
        text: str | None = None,
    ) -> None:
        """The job's message, or with ``text`` an automatic reply to it."""
        segment = self.segment
        segment.messages.append(
            {
                "shop_id": conversation.shop_id,
                "conversation_id": conversation.id,
                "sender": sender.value,
                "agent_id": agent_id,
                "text": job.text if text is None else text,
                "dedupe_key": job.key if text is None else None,
                "meta": meta,
                "created_at": job.at,
            }
        )
        segment.told.append((job, conversation, conversation_json(conversation), text is None))
        segment.latest = max(segment.latest or job.at, job.at)

    def _open_round(self, conversation: Conversation, policy: Policy, at: datetime) -> None:
        first = conversation.first_response_at is None
        target = (
            policy.reception.first_response_seconds if first else policy.reception.reply_seconds
        )
        opened = _Round(
            conversation,
            {
                "shop_id": conversation.shop_id,
                "conversation_id": conversation.id,
                "agent_id": conversation.agent_id,
                "first": first,
                "started_at": at,
                "breached": False,
            },
            [
                TimerPlan(
                    sla.REPLY_DUE,
                    f"conversation:{conversation.id}",
                    at + timedelta(seconds=target),
                    {"target_seconds": target},
                ),
                *waiting_timers(policy, conversation.id, at),
            ],
        )
        self.segment.rounds.append(opened)
        self.segment.open_rounds[conversation.id] = opened

    def _answer_round(self, conversation: Conversation, agent_id: int, at: datetime) -> None:
        segment = self.segment
        opened = segment.open_rounds.pop(conversation.id, None)
        if opened is not None:  # opened in this batch: answered before it was stored
            seconds = max(0, round((at - opened.row["started_at"]).total_seconds()))
            opened.row |= {"agent_id": agent_id, "answered_at": at, "seconds": seconds}
            opened.answered = True
            return
        segment.answers.append((conversation, agent_id, at))
        segment.cancels.setdefault(conversation.shop_id, set()).add(
            f"conversation:{conversation.id}"
        )

    async def flush(self) -> None:
        """Send the statements of the short-way messages gathered so far."""
        segment, self.segment = self.segment, _Segment()
        if not segment.messages:
            return
        answers = []
        for conversation, agent_id, at in segment.answers:
            policy = await self.policy(conversation.shop_id, at.date())
            answers.append(
                {"conversation": conversation.id, "agent_id": agent_id, "answered_at": at}
                | {"cap": policy.kpi.round_cap_seconds}
            )
        latest_answer = max((at for _, _, at in segment.answers), default=None)
        rounds, timers = await self._rounds(segment.rounds)
        written = await self.sql.write(
            writer_pg.Writes(
                kinds=[sla.REPLY_DUE, *sorted(cancelled_by_reply())],
                cancels=[
                    (shop_id, subject, latest_answer)
                    for shop_id, subjects in sorted(segment.cancels.items())
                    for subject in sorted(subjects)
                    if latest_answer is not None
                ],
                messages=segment.messages,
                conversations=[
                    {"conversation": c.id, **{k: getattr(c, k) for k in _COUNTED}}
                    for c in segment.changed.values()
                ],
                answers=answers,
                rounds=rounds,
                timers=timers,
                presence=(
                    (
                        sorted(segment.agents),
                        segment.latest,
                        segment.latest - sla.ACTIVITY_RESOLUTION,
                    )
                    if segment.agents and segment.latest is not None
                    else None
                ),
            )
        )
        session = self.session
        answered_by = {c.id: (c, at) for c, _, at in segment.answers}
        for round_id, conversation_id, started in written.answered:
            conversation, at = answered_by[conversation_id]
            entry = ResponseRound(id=round_id, answered_at=at, started_at=started)
            await sla.left_unanswered(session, conversation, entry, at - started, at)
        for message_id, row, (job, conversation, shown, own) in zip(
            written.message_ids, segment.messages, segment.told, strict=True
        ):
            stored = Message(id=message_id, **row)
            agent_name = job.agent.name if isinstance(job, ReplyJob) and own else ""
            payload = {**message_json(stored, agent_name), "conversation": shown}
            await record_event(
                session,
                conversation.shop_id,
                "message.created",
                payload,
                topic=buyer_topic(conversation.customer_id),
                at=row["created_at"],
            )
            if own:
                job.result = Posted(conversation, [stored])
            else:
                assert job.result is not None
                job.result.replies.append(stored)

    async def _rounds(
        self, rounds: list[_Round]
    ) -> tuple[list[dict[str, Any]], list[tuple[int, TimerPlan, int | None]]]:
        """The rows of the rounds opened, and the deadlines of those still open (the
        reply deadline names its round)."""
        timers: list[tuple[int, TimerPlan, int | None]] = []
        for place, opened in enumerate(rounds):
            if opened.answered:
                started: datetime = opened.row["started_at"]
                policy = await self.policy(opened.conversation.shop_id, started.date())
                opened.row["capped_seconds"] = min(
                    opened.row["seconds"], policy.kpi.round_cap_seconds
                )
                continue
            opened.row |= {"answered_at": None, "seconds": None, "capped_seconds": None}
            for plan in opened.plans:
                own = place if plan.kind == sla.REPLY_DUE else None
                timers.append((opened.conversation.shop_id, plan, own))
        return [opened.row for opened in rounds], timers

    async def _slow(self, job: Job) -> None:
        """The service's own way, in a savepoint: a refusal undoes only this message."""
        async with self.session.begin_nested():
            if isinstance(job, BuyerJob):
                job.result = await do_receive_buyer_message(
                    self.session,
                    shop=job.shop,
                    customer=job.customer,
                    text=job.text,
                    client_id=job.client_id,
                    now=job.at,
                )
            else:
                job.result = await do_send_agent_message(
                    self.session,
                    agent=job.agent,
                    conversation_id=job.conversation_id,
                    text=job.text,
                    client_id=job.client_id,
                    typing_ms=job.typing_ms,
                    now=job.at,
                    typed_chars=job.typed_chars,
                )
        conversation = job.result.conversation
        self.by_id[conversation.id] = conversation
        if conversation.status != ConversationStatus.closed.value:
            self.open_of[conversation.customer_id] = conversation


async def write_batch(session: AsyncSession, jobs: Sequence[Job]) -> list[EventData]:
    """Store ``jobs`` in the session's transaction, in order; the caller commits.

    Each job ends with its ``result``, or its ``error`` when the service refused it
    (nothing of it is then stored). Returned: the batch's events as numbered, on
    PostgreSQL, for ``feed.offer`` once committed (else none: the feed reads them).
    """
    batch = _Batch(session, jobs)
    await batch.load()
    await batch.run()
    # The events last, numbered now: the caller's commit follows at once.
    if isinstance(batch.sql, _DriverStatements):
        return await store_now(session, batch.sql.driver)
    number_at_once(session)
    return []


class ChatWriter:
    """One process's writer of chat messages to one database (see the module's text)."""

    def __init__(
        self, db: Database, window: float = WINDOW_SECONDS, max_batch: int = MAX_BATCH
    ) -> None:
        self.db = db
        self.window = window
        self.max_batch = max_batch
        self._queue: list[tuple[Job, asyncio.Future[Posted]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0  # how many transactions, for the benchmarks
        self._tally = _Tally()

    async def buyer_message(
        self,
        *,
        shop: Shop,
        customer: Customer,
        text: str,
        client_id: str | None = None,
        now: datetime | None = None,
    ) -> Posted:
        cleaned = check_text(text)
        check_client_id(client_id)
        return await self._submit(BuyerJob(shop, customer, cleaned, client_id, now or utcnow()))

    async def agent_reply(
        self,
        *,
        agent: StaffAccount,
        conversation_id: int,
        text: str,
        client_id: str | None = None,
        typing_ms: int | None = None,
        now: datetime | None = None,
        session_key: str | None = None,
        session_max_age: timedelta | None = None,
        typed_chars: int | None = None,
    ) -> Posted:
        cleaned = check_text(text)
        check_client_id(client_id)
        job = ReplyJob(agent, conversation_id, cleaned, client_id, typing_ms, now or utcnow())
        job.session_key, job.session_max_age = session_key, session_max_age
        job.typed_chars = typed_chars
        return await self._submit(job)

    async def _submit(self, job: Job) -> Posted:
        if self._stopping:
            raise NotStored(say("the server is stopping; send it again"))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="xiaoer-chat-writer")
        future: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._wake.set()
        # A caller that goes away (its socket closed) does not take the batch with it.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                if self._stopping:
                    return
                continue
            if self.window and len(self._queue) < self.max_batch:
                await asyncio.sleep(self.window)  # let the messages of the moment join
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            if self._queue:
                self._wake.set()
            await self._write(batch)

    async def _store(self, jobs: list[Job]) -> None:
        """One transaction for the batch. On SQLite, a write that finds the file taken by
        another process (another server on it, a command) may fail at once rather than
        wait, when the transaction read first; the batch, rolled back whole, is then
        tried again a few times before its messages are given up as not stored."""
        for attempt in range(SQLITE_ATTEMPTS):
            try:
                async with self.db.session() as session:
                    events = await write_batch(session, jobs)
                    await session.commit()
                    # At once, before the feed can hear the commit's notice and read them.
                    offer(self.db, events)
                return
            except OperationalError as error:
                locked = self.db.dialect == "sqlite" and "database is locked" in str(error)
                if not locked or attempt == SQLITE_ATTEMPTS - 1:
                    raise
                for job in jobs:
                    job.result, job.error = None, None
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _write(self, batch: list[tuple[Job, asyncio.Future[Posted]]]) -> None:
        jobs = [job for job, _ in batch]
        started = time.perf_counter()
        try:
            await self._store(jobs)
        except Exception:
            log.exception("a batch of %d chat messages could not be stored", len(jobs))
            failed = NotStored(
                say("the message could not be stored just now; it will be sent again")
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(failed)
            return
        finally:
            self.batches += 1
            self._tally.add(len(jobs), time.perf_counter() - started)
        for job, future in batch:
            if future.done():
                continue
            if job.error is not None:
                future.set_exception(job.error)
            else:
                assert job.result is not None
                future.set_result(job.result)

    async def stop(self, grace: float = 5.0) -> None:
        """Store what was handed over already (for ``grace`` seconds at most), then stop."""
        self._stopping = True
        if self._task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for _, future in self._queue:
            if not future.done():
                future.set_exception(NotStored(say("the server is stopping; send it again")))
        self._queue.clear()


class _Tally:
    """What the writer did lately, logged now and then: how a busy day is going."""

    EVERY = 10.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.since = time.monotonic()
        self.batches = self.messages = 0
        self.seconds = self.slowest = 0.0

    def add(self, messages: int, seconds: float) -> None:
        self.batches += 1
        self.messages += messages
        self.seconds += seconds
        self.slowest = max(self.slowest, seconds)
        if time.monotonic() - self.since >= self.EVERY:
            log.info(
                "chat writer: %d messages in %d batches (%.1f a batch), %.1f ms a batch, "
                "the slowest %.1f ms",
                self.messages,
                self.batches,
                self.messages / self.batches,
                self.seconds * 1000 / self.batches,
                self.slowest * 1000,
            )
            self._reset()


_writers: dict[Database, ChatWriter] = {}


def chat_writer(db: Database) -> ChatWriter:
    """This process's writer for ``db``."""
    writer = _writers.get(db)
    if writer is None:
        writer = _writers[db] = ChatWriter(db)
    return writer


async def stop_writer(db: Database) -> None:
    writer = _writers.pop(db, None)
    if writer is not None:
        await writer.stop()
