"""Tickets for what the seller centre's reports bring in, and what follows a bad review.

After a refund report is imported, every refund still open on the platform that has no
ticket gets one (source: the refund report), queued by when the buyer asked; after a
review report, every neutral or bad review without a ticket gets one, given to the agent
the sale is credited to (S4). Both passes look for what has no ticket rather than at the
import's new rows, so an interrupted run is made good by the next. They write in bulk:
a report of 100,000 rows must not wait on 10,000 single inserts.

A bad review closed under a cause an agent caused is checked again when the policy's
days have passed since the review: still neutral or bad, it becomes the agent's P4 fine
(``violation.bad_review_not_changed``), and the payroll takes its sale out (P3).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import (
    Refund,
    Review,
    ReviewRating,
    Ticket,
    TicketCause,
    TicketKind,
    TicketLine,
    TicketSource,
    TicketStatus,
)
from xiaoer.aftersales.refund_states import OPEN as OPEN_REFUND
from xiaoer.aftersales.refund_states import STATUS_SAID, RefundStatus
from xiaoer.aftersales.tickets import DUE, SOURCE_SAID, due_hours
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, Database
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say, to_data
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.orders.models import CreditRole, Order, SalesCredit
from xiaoer.sellercentre.ingest import driver_of, take_ids
from xiaoer.staff.models import Team

BATCH = 10_000
REVIEW_CHECK = "review.check"
NOT_GOOD = (ReviewRating.neutral.value, ReviewRating.bad.value)
RATING_WORDS = {ReviewRating.neutral.value: "中评", ReviewRating.bad.value: "差评"}


async def _write(
    session: AsyncSession, shop_id: int, tickets: list[dict[str, Any]], now: datetime
) -> list[int]:
    """Insert the tickets, their first timeline line and their due timers; their ids.
    PostgreSQL takes the ids from the sequence and COPYs the rows; elsewhere one
    multi-row insert per table. The line says where the ticket came from; its subject
    is on the ticket."""
    if not tickets:
        return []
    source = SOURCE_SAID[TicketSource(tickets[0]["source"])]
    what = to_data(say("opened from {source}", source=source))
    postgres = (await session.connection()).dialect.name == "postgresql"
    if not postgres:
        ids = list(
            await session.scalars(
                insert(TICKET).returning(TICKET.c.id, sort_by_parameter_order=True), tickets
            )
        )
        await session.execute(insert(Base.metadata.tables["ticket_line"]), [
            {"shop_id": shop_id, "ticket_id": ticket_id, "at": now, "by_id": None,
             "action": "opened", "what": what, "why": "", "internal": False}
            for ticket_id in ids
        ])  # fmt: skip
        await session.execute(insert(Base.metadata.tables["timer"]), [
            {"shop_id": shop_id, "kind": DUE, "subject": str(ticket_id), "due_at": t["due_at"],
             "payload": {}, "created_at": now, "attempts": 0}
            for ticket_id, t in zip(ids, tickets, strict=True)
        ])  # fmt: skip
        return ids
    ids = await take_ids(session, "ticket", len(tickets))
    empty, what_json = "{}", json.dumps(what, ensure_ascii=False)
    columns = [c for c in tickets[0] if c != "steps"]
    driver = await driver_of(session)
    await driver.copy_records_to_table(
        "ticket",
        records=[(i, *(t[c] for c in columns), empty) for i, t in zip(ids, tickets, strict=True)],
        columns=["id", *columns, "steps"],
    )
    line_ids = await take_ids(session, "ticket_line", len(ids))
    await driver.copy_records_to_table(
        "ticket_line",
        records=[
            (li, shop_id, ti, now, "opened", what_json, "", False)
            for li, ti in zip(line_ids, ids, strict=True)
        ],
        columns=["id", "shop_id", "ticket_id", "at", "action", "what", "why", "internal"],
    )
    timer_ids = await take_ids(session, "timer", len(ids))
    await driver.copy_records_to_table(
        "timer",
        records=[
            (mi, shop_id, DUE, str(ti), t["due_at"], empty, now, 0)
            for mi, ti, t in zip(timer_ids, ids, tickets, strict=True)
        ],
        columns=[
            "id",
            "shop_id",
            "kind",
            "subject",
            "due_at",
            "payload",
            "created_at",
            "attempts",
        ],
    )
    return ids


TICKET = Base.metadata.tables["ticket"]


def _ticket(shop_id: int, kind: TicketKind, source: TicketSource, subject: str,
            queued_at: datetime, due_at: datetime, now: datetime,
            **ties: Any) -> dict[str, Any]:  # fmt: skip
    owner = ties.pop("owner_id", None)
    return {
        "shop_id": shop_id, "kind": kind.value, "source": source.value,
        "status": (TicketStatus.taken if owner else TicketStatus.queued).value,
        "team": Team.aftersale.value, "priority": 0, "subject": subject[:200],
        "owner_id": owner, "taken_at": now if owner else None,
        "created_at": now, "queued_at": queued_at, "due_at": due_at, "escalation": "",
        "outcome": "", "result": "", "steps": {}, "major": False, "updated_at": now,
        "order_id": ties.get("order_id"), "customer_id": ties.get("customer_id"),
        "refund_id": ties.get("refund_id"), "review_id": ties.get("review_id"),
    }  # fmt: skip


async def open_refund_tickets(db: Database, shop_id: int, now: datetime | None = None) -> int:
    """A ticket for every refund open on the platform that has none; how many."""
    moment = now or utcnow()
    opened = 0
    async with db.session() as session:
        policy = await policy_on(session, shop_id)
        hours = timedelta(hours=due_hours(policy, TicketKind.refund))
        has_ticket = exists().where(Ticket.refund_id == Refund.id)
        query = (
            select(Refund.id, Refund.order_id, Refund.reason, Refund.applied_at,
                   Refund.created_at, Refund.deadline_at, Order.platform_order_id,
                   Order.customer_id)
            .join(Order, Order.id == Refund.order_id)
            .where(Refund.shop_id == shop_id,
                   Refund.status.in_([s.value for s in OPEN_REFUND]), ~has_ticket)
            .order_by(Refund.id)
        )  # fmt: skip
        rows = list(await session.execute(query))
        for start in range(0, len(rows), BATCH):
            tickets = []
            for rid, oid, reason, applied, created, deadline, number, customer in rows[
                start : start + BATCH
            ]:
                due = moment + hours
                if deadline is not None and deadline < due:
                    due = max(moment, deadline)  # the platform's deadline comes first
                tickets.append(_ticket(
                    shop_id, TicketKind.refund, TicketSource.refund_import,
                    f"{reason or '退款'}（{number}）", applied or created, due, moment,
                    order_id=oid, customer_id=customer, refund_id=rid,
                ))  # fmt: skip
            opened += len(await _write(session, shop_id, tickets, moment))
        if opened:
            await record_event(session, shop_id, "tickets.opened",
                               {"source": "refund_import", "count": opened}, at=moment)  # fmt: skip
        await session.commit()
    return opened


async def note_moved_refunds(
    db: Database, shop_id: int, refund_ids: list[int], now: datetime | None = None
) -> int:
    """A timeline line on each ticket whose refund a later report moved; how many."""
    moment = now or utcnow()
    noted = 0
    async with db.session() as session:
        for start in range(0, len(refund_ids), BATCH):
            rows = await session.execute(
                select(Ticket.id, Refund.status)
                .join(Refund, Refund.id == Ticket.refund_id)
                .where(Ticket.shop_id == shop_id,
                       Ticket.refund_id.in_(refund_ids[start : start + BATCH]))
            )  # fmt: skip
            lines = [
                {"shop_id": shop_id, "ticket_id": ticket_id, "at": moment, "by_id": None,
                 "action": "refund import", "internal": False, "why": "",
                 "what": to_data(say("the refund report says: {status}",
                                     status=STATUS_SAID[RefundStatus(status)]))}
                for ticket_id, status in rows
            ]  # fmt: skip
            if lines:
                await session.execute(insert(TicketLine), lines)
                noted += len(lines)
        await session.commit()
    return noted


async def open_review_tickets(db: Database, shop_id: int, now: datetime | None = None) -> int:
    """A ticket for every neutral or bad review that has none, given to the agent the
    sale is credited to (queued when nobody is); how many."""
    moment = now or utcnow()
    opened = 0
    async with db.session() as session:
        policy = await policy_on(session, shop_id)
        due = moment + timedelta(hours=due_hours(policy, TicketKind.review))
        has_ticket = exists().where(Ticket.review_id == Review.id)
        owner = (
            select(SalesCredit.agent_id)
            .where(SalesCredit.order_id == Review.order_id,
                   SalesCredit.role == CreditRole.owner.value)
            .order_by(SalesCredit.id)
            .limit(1)
            .scalar_subquery()
        )  # fmt: skip
        query = (
            select(Review.id, Review.order_id, Review.rating, Review.content,
                   Review.reviewed_at, Order.platform_order_id, Order.customer_id, owner)
            .join(Order, Order.id == Review.order_id)
            .where(Review.shop_id == shop_id, Review.rating.in_(NOT_GOOD), ~has_ticket)
            .order_by(Review.id)
        )  # fmt: skip
        rows = list(await session.execute(query))
        for start in range(0, len(rows), BATCH):
            tickets = [
                _ticket(
                    shop_id, TicketKind.review, TicketSource.review_import,
                    f"{RATING_WORDS[rating]}（{number}）：{content[:80]}", reviewed or moment,
                    due, moment, order_id=oid, customer_id=customer, review_id=rid,
                    owner_id=agent,
                )
                for rid, oid, rating, content, reviewed, number, customer, agent in rows[
                    start : start + BATCH
                ]
            ]  # fmt: skip
            opened += len(await _write(session, shop_id, tickets, moment))
        if opened:
            await record_event(session, shop_id, "tickets.opened",
                               {"source": "review_import", "count": opened}, at=moment)  # fmt: skip
        await session.commit()
    return opened


async def after_review_closed(session: AsyncSession, ticket: Ticket, cause: TicketCause,
                              at: datetime) -> None:  # fmt: skip
    """A review case closed under a cause an agent caused is looked at again when the
    policy's days since the review have passed."""
    if ticket.review_id is None or not cause.agent_caused or ticket.owner_id is None:
        return
    review = await session.get(Review, ticket.review_id)
    if review is None or review.rating not in NOT_GOOD:
        return
    policy = await policy_on(session, ticket.shop_id)
    when = (review.reviewed_at or at) + timedelta(days=policy.aftersales.bad_review_change_days)
    await schedule_timer(session, shop_id=ticket.shop_id, kind=REVIEW_CHECK,
                         subject=str(ticket.id), due_at=max(when, at))  # fmt: skip


@timer_handler(REVIEW_CHECK)
async def _check_review(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """The days are over: a review the agent caused that is still neutral or bad is
    their fine (P4), and its sale leaves their commission (P3, in the payroll)."""
    from xiaoer.aftersales.tickets import add_line

    ticket = await session.get(Ticket, int(timer.subject))
    if ticket is None or ticket.review_id is None or ticket.owner_id is None:
        return
    review = await session.get(Review, ticket.review_id)
    if review is None or review.rating not in NOT_GOOD:
        return
    await add_line(session, ticket, None, "review unchanged",
                   say("the review is still unchanged: the agent's fine and deduction"),
                   at=now)  # fmt: skip
    await record_event(
        session, ticket.shop_id, "violation.bad_review_not_changed",
        {"rule": "P3", "fine_rule": "bad_review_not_changed", "agent_id": ticket.owner_id,
         "order_id": ticket.order_id, "ticket_id": ticket.id, "review_id": review.id},
        topic="violation", at=now,
    )  # fmt: skip
