"""Causes and costs (S6): a month's closed cases by cause, product, agent and courier,
with what was paid back, the top causes week by week, and the supervisor's proposals.

Every figure names the filter that lists its cases on the ticket list, so a number on
the page is one click from the cases behind it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import (
    AftersalesProposal,
    Refund,
    Ticket,
    TicketCause,
    TicketStatus,
)
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.aftersales.tickets import TicketError, TicketForbidden
from xiaoer.core.clock import month_days, utcnow
from xiaoer.core.texts import say
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount, is_leader

TOP_CAUSES = 5
MAX_PROPOSALS = 4000
DIMENSIONS = ("cause", "product", "agent", "courier")


@dataclass
class Line:
    """One row of a dimension: its cases and what they paid back, and where they are."""

    label: str
    cases: int = 0
    refunded_fen: int = 0
    link: str = ""


@dataclass
class CostReport:
    month: str
    first: date
    last: date
    cases: int = 0
    refunded_fen: int = 0
    lines: dict[str, list[Line]] = field(default_factory=dict)
    weeks: list[str] = field(default_factory=list)  # the weeks' first days, MM-DD
    trend: dict[str, list[int]] = field(default_factory=dict)  # top cause → cases per week
    proposals: str = ""


def check_may_read(staff: StaffAccount) -> None:
    if not is_leader(staff):
        raise TicketForbidden(say("only a supervisor or a manager reads the causes and costs"))


def _days(month: str) -> tuple[date, date]:
    days = month_days(month)
    if days is None:
        raise TicketError(say("month {month!r}: expected YYYY-MM, e.g. 2026-11", month=month))
    return days


async def month_span(session: AsyncSession, shop_id: int, month: str) -> tuple[datetime, datetime]:
    first, last = _days(month)
    zone = await shop_zone(session, shop_id)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    return start, end


def _link(month: str, **what: object) -> str:
    return "/aftersales/tickets?" + urlencode({"status": "closed", "month": month, **what})


async def cost_report(session: AsyncSession, staff: StaffAccount, month: str) -> CostReport:
    """The month's closed cases (closed within it, by the shop's clock) in four cuts."""
    check_may_read(staff)
    first, last = _days(month)
    start, end = await month_span(session, staff.shop_id, month)
    first_item = (
        select(OrderItem.order_id, func.min(OrderItem.id).label("item_id"))
        .group_by(OrderItem.order_id)
        .subquery()
    )
    rows = await session.execute(
        select(Ticket.id, Ticket.closed_at, Ticket.owner_id, TicketCause.id, TicketCause.name,
               Order.courier, OrderItem.title, Refund.status, Refund.kind, Refund.amount_fen)
        .outerjoin(TicketCause, TicketCause.id == Ticket.cause_id)
        .outerjoin(Order, Order.id == Ticket.order_id)
        .outerjoin(first_item, first_item.c.order_id == Ticket.order_id)
        .outerjoin(OrderItem, OrderItem.id == first_item.c.item_id)
        .outerjoin(Refund, Refund.id == Ticket.refund_id)
        .where(Ticket.shop_id == staff.shop_id, Ticket.status == TicketStatus.closed.value,
               Ticket.closed_at >= start, Ticket.closed_at < end)
    )  # fmt: skip
    names = {
        s.id: s.name
        for s in await session.scalars(
            select(StaffAccount).where(StaffAccount.shop_id == staff.shop_id)
        )
    }
    report = CostReport(month, first, last)
    cuts: dict[str, dict[str, Line]] = {name: {} for name in DIMENSIONS}
    weekly: dict[str, Counter[int]] = defaultdict(Counter)
    for (_id, closed_at, owner, cause_id, cause, courier, title, status, kind,
         amount) in rows:  # fmt: skip
        paid_back = (
            int(amount)
            if status == RefundStatus.SUCCESS.value and kind in {k.value for k in MONEY_BACK}
            else 0
        )
        report.cases += 1
        report.refunded_fen += paid_back
        keys: dict[str, tuple[str, dict[str, object]]] = {
            "cause": (cause or "", {"cause": cause_id or ""}),
            "product": (title or "", {"product": title or ""}),
            "agent": (names.get(owner or 0, ""), {"owner": owner or ""}),
            "courier": (courier or "", {"courier": courier or ""}),
        }
        for dimension, (label, query) in keys.items():
            line = cuts[dimension].setdefault(label, Line(label, link=_link(month, **query)))
            line.cases += 1
            line.refunded_fen += paid_back
        week = (closed_at.astimezone(start.tzinfo).date() - first).days // 7 if closed_at else 0
        weekly[cause or ""][week] += 1
    for dimension, lines in cuts.items():
        report.lines[dimension] = sorted(
            lines.values(), key=lambda line: (-line.cases, -line.refunded_fen, line.label)
        )
    count = (last - first).days // 7 + 1
    report.weeks = [(first + timedelta(days=7 * n)).strftime("%m-%d") for n in range(count)]
    for line in report.lines["cause"][:TOP_CAUSES]:
        report.trend[line.label] = [weekly[line.label][n] for n in range(count)]
    proposal = await session.scalar(
        select(AftersalesProposal).where(
            AftersalesProposal.shop_id == staff.shop_id, AftersalesProposal.month == month
        )
    )
    report.proposals = proposal.text if proposal is not None else ""
    return report


async def do_save_proposals(
    session: AsyncSession, staff: StaffAccount, month: str, text: str
) -> AftersalesProposal:
    """The supervisor's proposals to cut the month's after-sales cost (S6)."""
    check_may_read(staff)
    _days(month)
    if len(text) > MAX_PROPOSALS:
        raise TicketError(say("proposals are at most {limit} characters", limit=MAX_PROPOSALS))
    proposal = await session.scalar(
        select(AftersalesProposal).where(
            AftersalesProposal.shop_id == staff.shop_id, AftersalesProposal.month == month
        )
    )
    if proposal is None:
        proposal = AftersalesProposal(shop_id=staff.shop_id, month=month)
        session.add(proposal)
    proposal.text = text.strip()
    proposal.updated_by, proposal.updated_at = staff.id, utcnow()
    await session.flush()
    return proposal
