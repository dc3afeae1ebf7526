"""Complaints (S3): the handbook's five things made clear and one report, as steps.

A complaint ticket goes through five steps in order, none skipped: **listen** (the
buyer's words, kept as said), **ask** (the facts, in fields), **follow** (one owner
until it is solved: done when the ticket is taken or given to someone), **reply**
(the result, sent to the buyer) and **record** (the handling and the result kept for
the report). Closing needs all five.

A complaint is **major** when the order's amount reaches the policy's threshold, the
buyer's words name an authority or the press (policy words such as 12315 or 媒体), or
the buyer complained already within the month: the leaders are told at once. While
unresolved a complaint carries the next reply promised to the buyer; that promise is
a timer, and missing it is a violation of the owner (P4).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import OPEN_TICKET, Ticket, TicketKind
from xiaoer.aftersales.tickets import add_line, check_may_act, tell_buyer, ticket_for
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.orders.models import Order
from xiaoer.staff.models import StaffAccount

NEXT_REPLY = "complaint.next_reply"
STEPS = ("listen", "ask", "follow", "reply", "record")
# A neutral or bad review's case (S4): reach the buyer, find the cause, ask for a
# change, record how it ended.
REVIEW_STEPS = ("contact", "cause", "ask_change", "record")
STEPS_OF: dict[str, tuple[str, ...]] = {
    TicketKind.complaint.value: STEPS,
    TicketKind.review.value: REVIEW_STEPS,
}
# What each review step keeps, in a field of its own.
REVIEW_FIELDS = {"contact": "how", "cause": "cause", "ask_change": "answer"}
# The facts the ask step collects; each is a short field.
FACTS = ("what_happened", "when", "item", "wants")
MAX_FIELD = 1000
REPEAT_DAYS = 30

STEP_SAID: dict[str, Text] = {
    "listen": say("listened: the buyer's words kept"),
    "ask": say("asked: the facts recorded"),
    "follow": say("followed: one owner until solved"),
    "reply": say("replied: the result sent to the buyer"),
    "record": say("recorded: handling and result"),
    "contact": say("contacted the buyer"),
    "cause": say("found the cause"),
    "ask_change": say("asked the buyer to change the review"),
}


class ComplaintError(ValueError):
    """A step that cannot be done yet or lacks what it needs."""


def next_step(ticket: Ticket) -> str | None:
    done = ticket.steps or {}
    return next((step for step in STEPS_OF.get(ticket.kind, ()) if step not in done), None)


def check_steps_done(ticket: Ticket) -> None:
    missing = next_step(ticket)
    if missing is None:
        return
    if ticket.kind == TicketKind.review.value:
        raise ComplaintError(
            say("a review case closes after its four steps; next is {step}",
                step=STEP_SAID[missing])
        )  # fmt: skip
    raise ComplaintError(
        say("a complaint closes after its five steps; next is {step}", step=STEP_SAID[missing])
    )


def _mark(ticket: Ticket, step: str, by: StaffAccount | None, at: datetime, **fields: Any) -> None:
    steps = dict(ticket.steps or {})
    steps[step] = {"at": at.isoformat(), "by": by.id if by else None, **fields}
    ticket.steps = steps  # a new dict, so the JSON column is written


async def is_major(session: AsyncSession, ticket: Ticket, words: str, policy: Policy) -> list[str]:
    """Why the complaint is major (the policy's amount, words, a repeat), or nothing."""
    why: list[str] = []
    rules = policy.aftersales
    if ticket.order_id is not None:
        order = await session.get(Order, ticket.order_id)
        if order is not None and order.paid_fen >= rules.major_complaint_fen:
            why.append("amount")
    hits = [word for word in rules.major_complaint_words if word and word in words]
    if hits:
        why.append("words:" + ",".join(hits))
    if ticket.customer_id is not None:
        earlier = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.shop_id == ticket.shop_id, Ticket.customer_id == ticket.customer_id,
                   Ticket.kind == TicketKind.complaint.value, Ticket.id != ticket.id,
                   Ticket.created_at >= ticket.created_at - timedelta(days=REPEAT_DAYS))
        )  # fmt: skip
        if earlier:
            why.append("repeat")
    return why


async def on_opened(
    session: AsyncSession,
    ticket: Ticket,
    by: StaffAccount | None,
    words: str,
    policy: Policy,
    at: datetime,
) -> None:
    """A new complaint: its words heard, major or not, and its first promised reply."""
    if words:
        _mark(ticket, "listen", by, at, words=words)
        await add_line(session, ticket, by, "step", STEP_SAID["listen"], why=words, at=at)
    why = await is_major(session, ticket, words, policy)
    if why:
        ticket.major = True
        ticket.priority = 2
        await add_line(session, ticket, by, "major", say("major complaint: the leaders are told"),
                       why=", ".join(why), at=at)  # fmt: skip
        await record_event(
            session, ticket.shop_id, "complaint.major",
            {"ticket_id": ticket.id, "why": why, "order_id": ticket.order_id,
             "notify_within_minutes": policy.aftersales.major_complaint_notify_minutes},
            at=at,
        )  # fmt: skip
    await _promise(
        session, ticket, by, at + timedelta(hours=policy.aftersales.complaint_next_reply_hours), at
    )


async def _promise(
    session: AsyncSession, ticket: Ticket, by: StaffAccount | None, when: datetime, at: datetime
) -> None:
    ticket.next_reply_at = when
    await schedule_timer(session, shop_id=ticket.shop_id, kind=NEXT_REPLY, subject=str(ticket.id),
                         due_at=when)  # fmt: skip
    await add_line(session, ticket, by, "promised",
                   say("next reply promised by {when}", when=when.isoformat(timespec="minutes")),
                   at=at)  # fmt: skip


def _steps_of(ticket: Ticket) -> tuple[str, ...]:
    steps = STEPS_OF.get(ticket.kind)
    if not steps:
        raise ComplaintError(say("only a complaint or a review case has these steps"))
    return steps


async def do_step(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    step: str,
    fields: dict[str, str],
    *,
    now: datetime | None = None,
) -> Ticket:
    """Do the case's next step (a complaint's or a review's) with what it needs; the
    steps go in order."""
    ticket = await ticket_for(session, staff, ticket_id)
    check_may_act(staff, ticket)
    if step not in _steps_of(ticket):
        raise ComplaintError(say("no step {step!r}", step=step))
    expected = next_step(ticket)
    if expected != step:
        if expected is None or step in (ticket.steps or {}):
            raise ComplaintError(say("this step is done already"))
        raise ComplaintError(say("first: {step}", step=STEP_SAID[expected]))
    moment = now or utcnow()
    clean = {name: value.strip()[:MAX_FIELD] for name, value in fields.items() if value.strip()}
    if step == "listen" and "words" not in clean:
        raise ComplaintError(say("write down the buyer's words as they said them"))
    if step == "ask":
        missing = [name for name in FACTS if name not in clean]
        if missing:
            raise ComplaintError(
                say("the facts are incomplete: {fields}", fields=", ".join(missing))
            )
        clean = {name: clean[name] for name in FACTS}
    if step == "follow":
        if ticket.owner_id is None:
            raise ComplaintError(say("take the complaint first: one owner follows it"))
        clean = {"owner_id": str(ticket.owner_id)}
    if step == "reply":
        if "result" not in clean:
            raise ComplaintError(say("write the result the buyer is told"))
        await tell_buyer(session, ticket, say("about your complaint: {result}",
                                              result=clean["result"]), at=moment)  # fmt: skip
    if step == "record" and not ("handling" in clean and "result" in clean):
        raise ComplaintError(say("record how it was handled and how it ended"))
    if step in REVIEW_FIELDS:
        name = REVIEW_FIELDS[step]
        if name not in clean:
            raise ComplaintError(say("write what this step found"))
        clean = {name: clean[name]}
    _mark(ticket, step, staff, moment, **clean)
    detail = " · ".join(f"{name}: {value}" for name, value in clean.items() if name != "owner_id")
    await add_line(session, ticket, staff, "step", STEP_SAID[step], why=detail, at=moment)
    return ticket


async def mark_followed(
    session: AsyncSession, ticket: Ticket, by: StaffAccount, at: datetime
) -> None:
    """Taking or giving out a complaint whose words and facts are in is its follow step."""
    if ticket.kind != TicketKind.complaint.value or next_step(ticket) != "follow":
        return
    _mark(ticket, "follow", by, at, owner_id=str(ticket.owner_id))
    await add_line(session, ticket, by, "step", STEP_SAID["follow"], at=at)


async def do_promise(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    when: datetime,
    *,
    now: datetime | None = None,
) -> Ticket:
    """Promise the buyer the next reply by ``when`` (a timer)."""
    ticket = await ticket_for(session, staff, ticket_id)
    check_may_act(staff, ticket)
    if ticket.kind != TicketKind.complaint.value:
        raise ComplaintError(say("only a complaint carries a promised reply"))
    moment = now or utcnow()
    if when <= moment:
        raise ComplaintError(say("the promised reply is in the future"))
    if when > moment + timedelta(days=30):
        raise ComplaintError(say("promise the next reply within 30 days"))
    await _promise(session, ticket, staff, when, moment)
    return ticket


@timer_handler(NEXT_REPLY)
async def _missed(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """The promised reply did not come: a violation of the owner, and a new promise is
    due (the complaint still needs its answer)."""
    ticket = await session.get(Ticket, int(timer.subject))
    if ticket is None or ticket.status not in OPEN_TICKET:
        return
    await add_line(session, ticket, None, "missed", say("the promised reply was missed"), at=now)
    if ticket.owner_id is not None:
        await record_event(
            session, ticket.shop_id, "violation.complaint_reply_missed",
            {"rule": "S3", "fine_rule": "complaint_reply_missed", "agent_id": ticket.owner_id,
             "ticket_id": ticket.id, "promised_at": timer.due_at.isoformat()},
            topic="violation", at=now,
        )  # fmt: skip
    policy = await policy_on(session, ticket.shop_id)
    ticket.next_reply_at = now + timedelta(hours=policy.aftersales.complaint_next_reply_hours)
    await schedule_timer(session, shop_id=ticket.shop_id, kind=NEXT_REPLY,
                         subject=str(ticket.id), due_at=ticket.next_reply_at,
                         none_open=True)  # fmt: skip
