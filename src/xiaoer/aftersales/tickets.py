"""Tickets (工单): one per after-sales case, from opening to its cause and outcome.

A ticket is opened from a conversation, a phone call, an e-mail, an imported refund
or review, or by hand. It waits in its team's queue, first come first served, until
an agent takes it; it carries a due time from the policy (a timer: when it passes the
ticket goes to the supervisor by itself), internal notes, and a timeline in which
every step is a templated line (who, when, what, why). It is escalated with a reason,
merged into another when it is a duplicate, and closed with a cause from the shop's
list and an outcome. Where the shop wants it, the buyer is told in their chat.

Every change is a ``do_*`` here that checks who may (:func:`check_may_see`,
:func:`check_may_work`) and leaves a timeline line and a ``ticket.moved`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import (
    OPEN_TICKET,
    Refund,
    Ticket,
    TicketCause,
    TicketKind,
    TicketLine,
    TicketSource,
    TicketStatus,
)
from xiaoer.aftersales.refund_states import OPEN as OPEN_REFUND
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.hooks import MailThread, on_mail_thread
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say, to_data
from xiaoer.core.timers import cancel_timer, schedule_timer, timer_handler
from xiaoer.http.i18n import Translator
from xiaoer.orders.models import Order, OrderItem
from xiaoer.reception.access import check_may_act as check_may_act_in_chat
from xiaoer.reception.access import load_conversation
from xiaoer.reception.models import Conversation, Message
from xiaoer.reception.service import do_add_automatic_reply
from xiaoer.staff.models import StaffAccount, Team, is_leader

DUE = "ticket.due"
# Buyers read the shop's words in Chinese, whatever the agent's own language.
BUYERS = Translator("zh")
MAX_NOTE = 2000
MAX_SUBJECT = 200

# How a case may end; the page offers them, the close checks them.
OUTCOMES = (
    "refunded", "exchanged", "resent", "explained", "refused", "review_changed", "appealed",
    "other",
)  # fmt: skip

# The causes a new shop starts with (S6); the shop edits the list. (name, about the
# goods' quality, caused by an agent)
DEFAULT_CAUSES: tuple[tuple[str, bool, bool], ...] = (
    ("质量问题", True, False),
    ("描述不符", True, False),
    ("尺码不合适", False, False),
    ("不喜欢/七天无理由", False, False),
    ("发错货/漏发", False, False),
    ("物流破损/延误", False, False),
    ("客服承诺或解释有误", False, True),
    ("其他", False, False),
)


class TicketError(ValueError):
    """A ticket change that cannot be made; the message says why."""


class TicketNotFound(TicketError, NotFound):
    """No such ticket in the account's shop, or not one the account may see."""


class TicketForbidden(TicketError, NotPermitted):
    """The account may not do this to the ticket."""


# --- who may -------------------------------------------------------------------------


def works_aftersales(staff: StaffAccount) -> bool:
    """The after-sales team's agents and every leader work the tickets."""
    return is_leader(staff) or (staff.has_role("agent") and staff.team == Team.aftersale.value)


def check_may_work(staff: StaffAccount) -> None:
    if not works_aftersales(staff):
        raise TicketForbidden(say("only after-sales agents, supervisors and managers work tickets"))


def may_see(staff: StaffAccount, ticket: Ticket) -> bool:
    """Leaders see every ticket of the shop; an agent of the ticket's team sees the
    team's tickets; any other agent the ones they opened or own."""
    if ticket.shop_id != staff.shop_id:
        return False
    if is_leader(staff):
        return True
    if not staff.has_role("agent"):
        return False
    return staff.team == ticket.team or staff.id in (ticket.created_by, ticket.owner_id)


def check_may_see(staff: StaffAccount, ticket: Ticket) -> None:
    if not may_see(staff, ticket):
        raise TicketNotFound(say("no ticket {ticket_id}", ticket_id=ticket.id))


def may_act(staff: StaffAccount, ticket: Ticket) -> bool:
    """The owner acts on their ticket, a leader on any; nobody on a finished one."""
    if ticket.status not in OPEN_TICKET or not may_see(staff, ticket):
        return False
    return is_leader(staff) or ticket.owner_id == staff.id


def check_may_act(staff: StaffAccount, ticket: Ticket) -> None:
    check_may_see(staff, ticket)
    if ticket.status not in OPEN_TICKET:
        raise TicketError(say("the ticket is finished"))
    if not may_act(staff, ticket):
        raise TicketForbidden(say("only the ticket's owner or a supervisor works on it"))


async def ticket_for(session: AsyncSession, staff: StaffAccount, ticket_id: int) -> Ticket:
    """The ticket, if the account may see it; the same refusal for absent and hidden."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not may_see(staff, ticket):
        raise TicketNotFound(say("no ticket {ticket_id}", ticket_id=ticket_id))
    return ticket


# --- the policy's times ----------------------------------------------------------------


def due_hours(policy: Policy, kind: TicketKind) -> int:
    rules = policy.aftersales
    return {
        TicketKind.refund: rules.refund_due_hours,
        TicketKind.complaint: rules.complaint_due_hours,
        TicketKind.review: rules.review_due_hours,
        TicketKind.inquiry: rules.inquiry_due_hours,
    }[kind]


# --- the timeline -----------------------------------------------------------------------


async def add_line(
    session: AsyncSession,
    ticket: Ticket,
    by: StaffAccount | None,
    action: str,
    what: Text,
    *,
    why: str = "",
    internal: bool = False,
    at: datetime | None = None,
) -> TicketLine:
    """A line of the ticket's timeline; ``what`` is stored as its template and values."""
    line = TicketLine(
        shop_id=ticket.shop_id,
        ticket_id=ticket.id,
        at=at or utcnow(),
        by_id=by.id if by is not None else None,
        action=action,
        what=to_data(what),
        why=why,
        internal=internal,
    )
    session.add(line)
    return line


async def timeline_of(
    session: AsyncSession, staff: StaffAccount, ticket: Ticket
) -> list[TicketLine]:
    check_may_see(staff, ticket)
    rows = await session.scalars(
        select(TicketLine).where(TicketLine.ticket_id == ticket.id).order_by(TicketLine.id)
    )
    return list(rows)


async def _moved(
    session: AsyncSession,
    ticket: Ticket,
    by: StaffAccount | None,
    action: str,
    at: datetime,
    was_owner: int | None = None,
) -> None:
    ticket.updated_at = at
    await record_event(
        session,
        ticket.shop_id,
        "ticket.moved",
        {"ticket_id": ticket.id, "kind": ticket.kind, "status": ticket.status,
         "action": action, "team": ticket.team, "owner_id": ticket.owner_id,
         "was_owner_id": was_owner, "by": by.id if by is not None else None},
        at=at,
    )  # fmt: skip


async def tell_buyer(
    session: AsyncSession, ticket: Ticket, text: Text, *, at: datetime | None = None
) -> bool:
    """Tell the buyer in their chat how their case moves, where the shop wants it and
    the case came from a chat; returns whether it was told."""
    if ticket.conversation_id is None:
        return False
    policy = await policy_on(session, ticket.shop_id)
    if not policy.aftersales.tell_buyer_progress:
        return False
    conversation = await session.get(Conversation, ticket.conversation_id)
    if conversation is None:
        return False
    await do_add_automatic_reply(
        session, conversation, BUYERS.text(text), source="aftersales",
        meta={"ticket_id": ticket.id}, now=at,
    )  # fmt: skip
    return True


async def conversation_of(
    session: AsyncSession, staff: StaffAccount, ticket: Ticket, limit: int
) -> tuple[Conversation | None, list[Message]]:
    """The chat the case came from and its newest ``limit`` messages, oldest first: the
    ticket carries them, so whoever may see the ticket reads them."""
    check_may_see(staff, ticket)
    if ticket.conversation_id is None:
        return None, []
    conversation = await session.get(Conversation, ticket.conversation_id)
    if conversation is None:
        return None, []
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return conversation, list(reversed(list(rows)))


# --- opening -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """What a new ticket is about; every id is checked against the shop."""

    kind: TicketKind
    source: TicketSource
    subject: str
    order_id: int | None = None
    conversation_id: int | None = None
    customer_id: int | None = None
    refund_id: int | None = None
    priority: int = 0
    words: str = ""  # a complaint's buyer words, kept as said


async def _check_opening(session: AsyncSession, shop_id: int, opening: Opening) -> Opening:
    subject = opening.subject.strip()
    if not subject:
        raise TicketError(say("give the case a subject"))
    if not 0 <= opening.priority <= 2:
        raise TicketError(say("the priority is 0 (normal), 1 (high) or 2 (urgent)"))
    customer_id = opening.customer_id
    if opening.order_id is not None:
        order = await session.get(Order, opening.order_id)
        if order is None or order.shop_id != shop_id:
            raise TicketError(say("no order {order_id}", order_id=opening.order_id))
        customer_id = customer_id or order.customer_id
    if opening.refund_id is not None:
        refund = await session.get(Refund, opening.refund_id)
        if refund is None or refund.shop_id != shop_id:
            raise TicketError(say("no such refund"))
    return Opening(
        opening.kind, opening.source, subject[:MAX_SUBJECT], opening.order_id,
        opening.conversation_id, customer_id, opening.refund_id, opening.priority,
        opening.words.strip()[:MAX_NOTE],
    )  # fmt: skip


async def open_ticket(
    session: AsyncSession,
    shop_id: int,
    opening: Opening,
    *,
    by: StaffAccount | None,
    now: datetime | None = None,
) -> Ticket:
    """A new ticket in the after-sales queue with its due timer (flushed, not committed).
    The callers check who may: :func:`do_open_ticket`, the conversation's agent, an import."""
    moment = now or utcnow()
    opening = await _check_opening(session, shop_id, opening)
    policy = await policy_on(session, shop_id)
    ticket = Ticket(
        shop_id=shop_id,
        kind=opening.kind.value,
        source=opening.source.value,
        status=TicketStatus.queued.value,
        team=Team.aftersale.value,
        priority=opening.priority,
        subject=opening.subject,
        order_id=opening.order_id,
        conversation_id=opening.conversation_id,
        customer_id=opening.customer_id,
        refund_id=opening.refund_id,
        created_by=by.id if by is not None else None,
        created_at=moment,
        queued_at=moment,
        due_at=moment + timedelta(hours=due_hours(policy, opening.kind)),
        steps={},
        updated_at=moment,
    )
    session.add(ticket)
    await session.flush()
    await add_line(
        session, ticket, by, "opened",
        say("opened from {source}: {subject}", source=SOURCE_SAID[opening.source],
            subject=opening.subject),
        at=moment,
    )  # fmt: skip
    await schedule_timer(
        session, shop_id=shop_id, kind=DUE, subject=str(ticket.id), due_at=ticket.due_at,
        none_open=True,
    )  # fmt: skip
    if opening.kind is TicketKind.complaint:
        from xiaoer.aftersales.complaints import on_opened

        await on_opened(session, ticket, by, opening.words, policy, moment)
    await _moved(session, ticket, by, "opened", moment)
    return ticket


async def do_open_ticket(
    session: AsyncSession, staff: StaffAccount, opening: Opening, *, now: datetime | None = None
) -> Ticket:
    """A ticket opened by hand or from a phone call, by the after-sales team."""
    check_may_work(staff)
    if opening.source not in (TicketSource.hand, TicketSource.phone):
        raise TicketError(say("by hand a ticket is opened from a call or as it is"))
    if opening.conversation_id is not None:
        raise TicketError(say("a ticket from a chat is opened in the workbench"))
    return await open_ticket(session, staff.shop_id, opening, by=staff, now=now)


async def do_open_from_conversation(
    session: AsyncSession,
    staff: StaffAccount,
    conversation_id: int,
    *,
    kind: TicketKind,
    subject: str,
    order_id: int | None = None,
    words: str = "",
    now: datetime | None = None,
) -> Ticket:
    """One click in the workbench: the agent in the chat opens a ticket carrying the
    buyer, the order and the conversation's messages (the case page shows them)."""
    conversation = await load_conversation(session, staff, conversation_id)
    check_may_act_in_chat(staff, conversation)
    if order_id is not None:
        order = await session.get(Order, order_id)
        if order is None or order.shop_id != staff.shop_id:
            raise TicketError(say("no order {order_id}", order_id=order_id))
    opening = Opening(
        kind, TicketSource.chat, subject, order_id, conversation.id, conversation.customer_id,
        words=words,
    )  # fmt: skip
    ticket = await open_ticket(session, staff.shop_id, opening, by=staff, now=now)
    await tell_buyer(
        session, ticket, say("we have opened case {ticket_id} for you; an after-sales "
                             "colleague follows it up", ticket_id=ticket.id), at=now,
    )  # fmt: skip
    return ticket


@on_mail_thread
async def _mail_to_ticket(session: AsyncSession, thread: MailThread) -> None:
    """A new mail thread at the after-sales team's mailbox opens a ticket; a mail in the
    thread of an open ticket is a line on its timeline."""
    conversation = await session.get(Conversation, thread.conversation_id)
    if conversation is None:
        return
    ticket = await session.scalar(
        select(Ticket).where(
            Ticket.conversation_id == conversation.id, Ticket.status.in_(OPEN_TICKET)
        )
    )
    moment = utcnow()
    if ticket is not None:
        await add_line(session, ticket, None, "mail", say("the buyer wrote by e-mail"),
                       why=thread.subject, at=moment)  # fmt: skip
        await _moved(session, ticket, None, "mail", moment)
    elif thread.new and conversation.team == Team.aftersale.value:
        opening = Opening(
            TicketKind.inquiry, TicketSource.email, thread.subject or thread.address,
            conversation_id=conversation.id, customer_id=thread.customer_id,
        )  # fmt: skip
        await open_ticket(session, thread.shop_id, opening, by=None, now=moment)


# --- the queue and the work -------------------------------------------------------------


async def queue_of(
    session: AsyncSession, staff: StaffAccount, *, limit: int = 50, after: int | None = None
) -> list[Ticket]:
    """The team's waiting tickets, first come first served."""
    check_may_work(staff)
    query = select(Ticket).where(
        Ticket.shop_id == staff.shop_id,
        Ticket.team == Team.aftersale.value,
        Ticket.status == TicketStatus.queued.value,
    )
    if after is not None:
        mark = await session.get(Ticket, after)
        if mark is not None:
            query = query.where(
                or_(Ticket.queued_at > mark.queued_at,
                    and_(Ticket.queued_at == mark.queued_at, Ticket.id > mark.id))
            )  # fmt: skip
    rows = await session.scalars(query.order_by(Ticket.queued_at, Ticket.id).limit(limit))
    return list(rows)


async def _claim(
    session: AsyncSession, staff: StaffAccount, ticket: Ticket, moment: datetime
) -> bool:
    """Take a queued ticket only if it is still queued: two agents never both get it."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == TicketStatus.queued.value)
        .values(status=TicketStatus.taken.value, owner_id=staff.id, taken_at=moment,
                updated_at=moment)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if not getattr(result, "rowcount", 0):
        return False
    await session.refresh(ticket)
    await add_line(session, ticket, staff, "taken", say("taken by {name}", name=staff.name),
                   at=moment)  # fmt: skip
    await _followed(session, ticket, staff, moment)
    await _moved(session, ticket, staff, "taken", moment)
    return True


async def do_take(
    session: AsyncSession, staff: StaffAccount, ticket_id: int, *, now: datetime | None = None
) -> Ticket:
    """Take a waiting ticket out of the queue."""
    check_may_work(staff)
    ticket = await ticket_for(session, staff, ticket_id)
    if ticket.status != TicketStatus.queued.value or not await _claim(
        session, staff, ticket, now or utcnow()
    ):
        raise TicketError(say("the ticket is not waiting in the queue any more"))
    return ticket


async def do_take_next(
    session: AsyncSession, staff: StaffAccount, *, now: datetime | None = None
) -> Ticket | None:
    """Take the oldest waiting ticket of the team; None when the queue is empty."""
    check_may_work(staff)
    moment = now or utcnow()
    for _ in range(5):  # another agent may take the same one first
        first = await session.scalar(
            select(Ticket)
            .where(Ticket.shop_id == staff.shop_id, Ticket.team == Team.aftersale.value,
                   Ticket.status == TicketStatus.queued.value)
            .order_by(Ticket.queued_at, Ticket.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )  # fmt: skip
        if first is None:
            return None
        if await _claim(session, staff, first, moment):
            return first
    return None


async def mine(session: AsyncSession, staff: StaffAccount) -> list[Ticket]:
    """The caller's open tickets, the most urgent due time first."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.shop_id == staff.shop_id, Ticket.owner_id == staff.id,
               Ticket.status.in_(OPEN_TICKET))
        .order_by(Ticket.due_at, Ticket.id)
    )  # fmt: skip
    return list(rows)


async def do_note(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    text: str,
    *,
    now: datetime | None = None,
) -> TicketLine:
    """An internal note: on the timeline, never to the buyer. Anyone who may see the
    ticket notes on it, so a colleague can leave what they know."""
    ticket = await ticket_for(session, staff, ticket_id)
    body = text.strip()
    if not body:
        raise TicketError(say("the note is empty"))
    if len(body) > MAX_NOTE:
        raise TicketError(say("a note is at most {limit} characters", limit=MAX_NOTE))
    moment = now or utcnow()
    line = await add_line(session, ticket, staff, "note", say("note"), why=body,
                          internal=True, at=moment)  # fmt: skip
    await _moved(session, ticket, staff, "note", moment)
    return line


async def do_escalate(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> Ticket:
    """To the supervisor in one click, with the reason (S7)."""
    ticket = await ticket_for(session, staff, ticket_id)
    check_may_act(staff, ticket)
    if not reason.strip():
        raise TicketError(say("say why the supervisor should take over"))
    if ticket.status == TicketStatus.escalated.value:
        raise TicketError(say("the ticket is with the supervisor already"))
    await _escalate(session, ticket, staff, reason.strip()[:500], now or utcnow())
    return ticket


async def _escalate(
    session: AsyncSession, ticket: Ticket, by: StaffAccount | None, reason: str, at: datetime
) -> None:
    ticket.status = TicketStatus.escalated.value
    ticket.escalated_at = at
    ticket.escalation = reason
    what = say("escalated to the supervisor") if by else say("overdue: escalated by itself")
    await add_line(session, ticket, by, "escalated", what, why=reason, at=at)
    await _moved(session, ticket, by, "escalated", at)


async def _followed(session: AsyncSession, ticket: Ticket, by: StaffAccount, at: datetime) -> None:
    from xiaoer.aftersales.complaints import mark_followed

    await mark_followed(session, ticket, by, at)


@timer_handler(DUE)
async def _due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """The due time passed with the ticket still open: the supervisor has it now."""
    ticket = await session.get(Ticket, int(timer.subject))
    if ticket is None or ticket.status not in (TicketStatus.queued.value, TicketStatus.taken.value):
        return
    await _escalate(session, ticket, None, "due time passed", now)


async def do_assign(
    session: AsyncSession,
    leader: StaffAccount,
    ticket_id: int,
    owner_id: int,
    *,
    now: datetime | None = None,
) -> Ticket:
    """The supervisor gives the ticket to an agent of the after-sales team (or keeps it)."""
    ticket = await ticket_for(session, leader, ticket_id)
    if not is_leader(leader):
        raise TicketForbidden(say("only a supervisor or a manager gives tickets out"))
    check_may_act(leader, ticket)
    owner = await session.get(StaffAccount, owner_id)
    if owner is None or owner.shop_id != leader.shop_id or not owner.active:
        raise TicketError(say("no such colleague"))
    if not works_aftersales(owner):
        raise TicketError(say("{name} does not work after-sales tickets", name=owner.name))
    moment = now or utcnow()
    was = ticket.owner_id
    ticket.owner_id = owner.id
    ticket.status = TicketStatus.taken.value
    ticket.taken_at = ticket.taken_at or moment
    await add_line(session, ticket, leader, "assigned", say("given to {name}", name=owner.name),
                   at=moment)  # fmt: skip
    await _followed(session, ticket, leader, moment)
    await _moved(session, ticket, leader, "assigned", moment, was_owner=was)
    return ticket


async def do_merge(
    session: AsyncSession,
    staff: StaffAccount,
    duplicate_id: int,
    into_id: int,
    *,
    now: datetime | None = None,
) -> Ticket:
    """Fold a duplicate into the ticket that goes on; the duplicate's refund and timeline
    stay readable from it."""
    if duplicate_id == into_id:
        raise TicketError(say("a ticket is not a duplicate of itself"))
    duplicate = await ticket_for(session, staff, duplicate_id)
    check_may_act(staff, duplicate)
    into = await ticket_for(session, staff, into_id)
    if into.status not in OPEN_TICKET:
        raise TicketError(say("ticket {ticket_id} is finished", ticket_id=into.id))
    if duplicate.customer_id and into.customer_id and duplicate.customer_id != into.customer_id:
        raise TicketError(say("the two tickets are about different buyers"))
    moment = now or utcnow()
    duplicate.status = TicketStatus.merged.value
    duplicate.merged_into = into.id
    duplicate.closed_at, duplicate.closed_by = moment, staff.id
    into.order_id = into.order_id or duplicate.order_id
    into.conversation_id = into.conversation_id or duplicate.conversation_id
    into.refund_id = into.refund_id or duplicate.refund_id
    into.priority = max(into.priority, duplicate.priority)
    await cancel_timer(session, shop_id=staff.shop_id, kind=DUE, subject=str(duplicate.id),
                       now=moment)  # fmt: skip
    await add_line(session, duplicate, staff, "merged",
                   say("merged into ticket {ticket_id}", ticket_id=into.id), at=moment)  # fmt: skip
    await add_line(session, into, staff, "merged",
                   say("ticket {ticket_id} merged into this one", ticket_id=duplicate.id),
                   at=moment)  # fmt: skip
    await _moved(session, duplicate, staff, "merged", moment)
    await _moved(session, into, staff, "merged", moment)
    return into


# --- closing --------------------------------------------------------------------------------


async def causes_of(
    session: AsyncSession, shop_id: int, *, all_of_them: bool = False
) -> list[TicketCause]:
    """The shop's causes in their order (retired ones too with ``all_of_them``); a shop
    without any gets the defaults first."""
    known = await session.scalar(
        select(func.count()).select_from(TicketCause).where(TicketCause.shop_id == shop_id)
    )
    if not known:
        for position, (name, quality, agent) in enumerate(DEFAULT_CAUSES):
            session.add(TicketCause(shop_id=shop_id, name=name, about_quality=quality,
                                    agent_caused=agent, position=position))  # fmt: skip
        await session.flush()
    query = select(TicketCause).where(TicketCause.shop_id == shop_id)
    if not all_of_them:
        query = query.where(TicketCause.active.is_(True))
    return list(await session.scalars(query.order_by(TicketCause.position, TicketCause.id)))


async def do_save_cause(
    session: AsyncSession,
    leader: StaffAccount,
    *,
    name: str,
    about_quality: bool,
    agent_caused: bool,
    cause_id: int | None = None,
    active: bool = True,
) -> TicketCause:
    """Add or edit a cause of the shop's list; a used cause is retired, never deleted."""
    if not is_leader(leader):
        raise TicketForbidden(say("only a supervisor or a manager edits the causes"))
    label = name.strip()
    if not label or len(label) > 40:
        raise TicketError(say("a cause is named in 1 to 40 characters"))
    await causes_of(session, leader.shop_id)
    clash = await session.scalar(
        select(TicketCause).where(TicketCause.shop_id == leader.shop_id, TicketCause.name == label)
    )
    if cause_id is None:
        if clash is not None:
            raise TicketError(say("the cause {name} is on the list already", name=label))
        last = await session.scalar(
            select(func.max(TicketCause.position)).where(TicketCause.shop_id == leader.shop_id)
        )
        cause = TicketCause(shop_id=leader.shop_id, name=label, position=int(last or 0) + 1)
        session.add(cause)
    else:
        found = await session.get(TicketCause, cause_id)
        if found is None or found.shop_id != leader.shop_id:
            raise TicketNotFound(say("no such cause"))
        if clash is not None and clash.id != found.id:
            raise TicketError(say("the cause {name} is on the list already", name=label))
        cause = found
        cause.name = label
    cause.about_quality, cause.agent_caused, cause.active = about_quality, agent_caused, active
    await session.flush()
    return cause


async def do_close(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    *,
    cause_id: int,
    outcome: str,
    result: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Close the case with a cause of the shop's list and an outcome. A refund case
    closes once its refund is finished; a complaint once its five steps are done."""
    ticket = await ticket_for(session, staff, ticket_id)
    check_may_act(staff, ticket)
    cause = await session.get(TicketCause, cause_id)
    if cause is None or cause.shop_id != staff.shop_id or not cause.active:
        raise TicketError(say("choose a cause from the shop's list"))
    if outcome not in OUTCOMES:
        raise TicketError(say("choose an outcome from the list"))
    if ticket.refund_id is not None:
        refund = await session.get(Refund, ticket.refund_id)
        if refund is not None and RefundStatus(refund.status) in OPEN_REFUND:
            raise TicketError(say("the refund is still open: finish it before closing the case"))
    if ticket.kind == TicketKind.complaint.value or (
        ticket.kind == TicketKind.review.value and outcome != "appealed"
    ):  # an appealed review's record is its appeal packet
        from xiaoer.aftersales.complaints import check_steps_done

        check_steps_done(ticket)
    moment = now or utcnow()
    ticket.status = TicketStatus.closed.value
    ticket.cause_id, ticket.outcome, ticket.result = cause.id, outcome, result.strip()[:1000]
    ticket.closed_at, ticket.closed_by = moment, staff.id
    ticket.next_reply_at = None
    await cancel_timer(session, shop_id=ticket.shop_id, kind=DUE, subject=str(ticket.id),
                       now=moment)  # fmt: skip
    from xiaoer.aftersales.complaints import NEXT_REPLY

    await cancel_timer(session, shop_id=ticket.shop_id, kind=NEXT_REPLY, subject=str(ticket.id),
                       now=moment)  # fmt: skip
    await add_line(
        session, ticket, staff, "closed",
        say("closed: {cause}, {outcome}", cause=cause.name, outcome=OUTCOME_SAID[outcome]),
        why=ticket.result, at=moment,
    )  # fmt: skip
    await _moved(session, ticket, staff, "closed", moment)
    from xiaoer.aftersales.imported import after_review_closed

    await after_review_closed(session, ticket, cause, moment)
    await tell_buyer(session, ticket,
                     say("your case {ticket_id} is finished; thank you for your patience",
                         ticket_id=ticket.id), at=moment)  # fmt: skip
    return ticket


# --- lists for the pages -------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    status: str = ""
    kind: str = ""
    owner_id: int | None = None
    q: str = ""
    overdue: bool = False
    cause_id: int | None = None
    closed_from: datetime | None = None  # closed within [closed_from, closed_to)
    closed_to: datetime | None = None
    courier: str | None = None  # the order's courier ("" for none)
    product: str | None = None  # the title of the order's first item


async def tickets_of(
    session: AsyncSession,
    staff: StaffAccount,
    chosen: Filter,
    *,
    now: datetime | None = None,
    limit: int = 50,
    before: int | None = None,
) -> list[Ticket]:
    """The tickets the account may see that match the filter, newest first, a page at a
    time (``before``: the last id of the previous page)."""
    check_may_work(staff)
    query = select(Ticket).where(Ticket.shop_id == staff.shop_id)
    if not is_leader(staff):
        query = query.where(Ticket.team == staff.team)
    if chosen.status:
        query = query.where(Ticket.status == chosen.status)
    if chosen.kind:
        query = query.where(Ticket.kind == chosen.kind)
    if chosen.owner_id is not None:
        query = query.where(Ticket.owner_id == chosen.owner_id)
    if chosen.overdue:
        query = query.where(Ticket.status.in_(OPEN_TICKET), Ticket.due_at < (now or utcnow()))
    if chosen.cause_id is not None:
        query = query.where(Ticket.cause_id == chosen.cause_id)
    if chosen.closed_from is not None:
        query = query.where(Ticket.closed_at >= chosen.closed_from)
    if chosen.closed_to is not None:
        query = query.where(Ticket.closed_at < chosen.closed_to)
    if chosen.courier is not None:
        query = query.where(
            Ticket.order_id.in_(
                select(Order.id).where(Order.shop_id == staff.shop_id,
                                       Order.courier == chosen.courier)
            )
        )  # fmt: skip
    if chosen.product is not None:
        first_items = select(func.min(OrderItem.id)).group_by(OrderItem.order_id)
        query = query.where(
            Ticket.order_id.in_(
                select(OrderItem.order_id).where(OrderItem.id.in_(first_items),
                                                 OrderItem.title == chosen.product)
            )
        )  # fmt: skip
    words = chosen.q.strip()
    if words:
        matches = [Ticket.subject.contains(words)]
        if words.isdigit():
            matches.append(Ticket.id == int(words))
            matches.append(Ticket.order_id.in_(
                select(Order.id).where(Order.shop_id == staff.shop_id,
                                       Order.platform_order_id == words)
            ))  # fmt: skip
        query = query.where(or_(*matches))
    if before is not None:
        query = query.where(Ticket.id < before)
    rows = await session.scalars(query.order_by(Ticket.id.desc()).limit(limit))
    return list(rows)


async def escalated(
    session: AsyncSession, staff: StaffAccount, limit: int = 50
) -> tuple[list[Ticket], int]:
    """The oldest escalations first, at most ``limit``, and how many there are."""
    if not is_leader(staff):
        return [], 0
    where = (Ticket.shop_id == staff.shop_id, Ticket.status == TicketStatus.escalated.value)
    rows = await session.scalars(
        select(Ticket).where(*where).order_by(Ticket.escalated_at, Ticket.id).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
    return list(rows), int(total or 0)


async def major_complaints(session: AsyncSession, staff: StaffAccount) -> list[Ticket]:
    """Open major complaints, the newest first: the leaders' at once (S3)."""
    if not is_leader(staff):
        return []
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.shop_id == staff.shop_id, Ticket.major.is_(True),
               Ticket.status.in_(OPEN_TICKET))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(50)
    )  # fmt: skip
    return list(rows)


async def overdue(
    session: AsyncSession, staff: StaffAccount, now: datetime, limit: int = 50
) -> tuple[list[Ticket], int]:
    """Open cases past their due time, the longest overdue first, and how many there are."""
    if not is_leader(staff):
        return [], 0
    where = (Ticket.shop_id == staff.shop_id, Ticket.status.in_(OPEN_TICKET), Ticket.due_at < now)
    rows = await session.scalars(
        select(Ticket).where(*where).order_by(Ticket.due_at, Ticket.id).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
    return list(rows), int(total or 0)


async def tickets_of_refunds(
    session: AsyncSession, shop_id: int, refund_ids: Sequence[int]
) -> dict[int, Ticket]:
    if not refund_ids:
        return {}
    rows = await session.scalars(
        select(Ticket).where(Ticket.shop_id == shop_id, Ticket.refund_id.in_(refund_ids))
    )
    return {ticket.refund_id: ticket for ticket in rows if ticket.refund_id is not None}


SOURCE_SAID: dict[TicketSource, Text] = {
    TicketSource.chat: say("a chat"),
    TicketSource.phone: say("a phone call"),
    TicketSource.email: say("an e-mail"),
    TicketSource.refund_import: say("the refund report"),
    TicketSource.review_import: say("the review report"),
    TicketSource.hand: say("the desk"),
}
OUTCOME_SAID: dict[str, Text] = {
    "refunded": say("refunded"),
    "exchanged": say("exchanged"),
    "resent": say("sent again"),
    "explained": say("explained to the buyer"),
    "refused": say("refused with reasons"),
    "review_changed": say("review changed"),
    "appealed": say("appealed to the platform"),
    "other": say("other outcome"),
}
