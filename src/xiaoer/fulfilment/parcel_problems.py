"""Problem parcels (疑难件, F5): found by rules, answered with a solution first.

The rules: no scan for the policy's ``no_scan_hours`` since the last one (or since
shipping); returned to the sender; stuck at a station (out for delivery longer than
``station_hours`` without a signature); the carrier's own 疑难 status; signed for but
the buyer says it never came (a person marks it). The time rules are timers, set again
on every scan, so nothing polls: ``parcel.no_scan`` and ``parcel.station``. A third,
``parcel.deliver_by``, tells the buyer of a delay when the promised day passes
without a signature, before they ask.

A problem opens an after-sales ticket whose subject starts with the solution offered
(send again or refund: the buyer hears the remedy before any search for whose fault it
was), links it to the parcel, and tells the buyer in their chat what happened, what we
do and by when we answer.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Ticket, TicketKind, TicketSource
from xiaoer.aftersales.tickets import Opening, add_line, open_ticket
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, local, utcnow
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import cancel_timers, schedule_timer, timer_handler
from xiaoer.fulfilment.carriers import carrier_name
from xiaoer.fulfilment.models import Shipment, ShipmentStatus, Stage
from xiaoer.fulfilment.notices import do_tell_buyer
from xiaoer.http.i18n import Translator
from xiaoer.orders.models import Order
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount

NO_SCAN = "parcel.no_scan"
STATION = "parcel.station"
DELIVER_BY = "parcel.deliver_by"
# Buyers and the after-sales desk read the shop's words in Chinese.
SHOP_WORDS = Translator("zh")


class Problem(enum.StrEnum):
    no_scan = "no_scan"  # no scan for the policy's hours
    returned = "returned"  # back to the sender
    stuck = "stuck"  # out for delivery too long without a signature
    carrier = "carrier"  # the carrier's own 疑难 status
    not_received = "not_received"  # signed for, but the buyer says it never came


# What happened, as the buyer and the ticket read it.
PROBLEM_SAID: dict[Problem, Text] = {
    Problem.no_scan: say("has had no tracking update for a while"),
    Problem.returned: say("is on its way back to us"),
    Problem.stuck: say("has waited at the delivery station longer than it should"),
    Problem.carrier: say("was reported as a problem parcel by the carrier"),
    Problem.not_received: say("shows as signed for, but has not reached you"),
}


def carrier_words(shipment: Shipment) -> str:
    return f"{carrier_name(shipment.carrier)} {shipment.waybill}".strip()


# --- following a parcel with timers -------------------------------------------------------


async def _hours(session: AsyncSession, shop_id: int) -> tuple[int, int]:
    rules = (await policy_on(session, shop_id)).fulfilment
    return rules.no_scan_hours, rules.station_hours


def _subject(shipment: Shipment) -> str:
    return str(shipment.id)


async def follow_shipped(
    session: AsyncSession, shipment: Shipment, *, now: datetime | None = None
) -> None:
    """Start following a parcel that has just shipped: the no-scan deadline from now,
    and the delay notice at its deliver-by time. Shipping calls it."""
    moment = now or utcnow()
    no_scan_hours, _ = await _hours(session, shipment.shop_id)
    since = as_utc(shipment.last_scan_at or shipment.shipped_at or moment)
    await schedule_timer(
        session, shop_id=shipment.shop_id, kind=NO_SCAN, subject=_subject(shipment),
        due_at=since + timedelta(hours=no_scan_hours),
    )  # fmt: skip
    if shipment.deliver_by is not None and shipment.delay_told_at is None:
        await schedule_timer(
            session, shop_id=shipment.shop_id, kind=DELIVER_BY, subject=_subject(shipment),
            due_at=as_utc(shipment.deliver_by),
        )  # fmt: skip


async def follow_scan(session: AsyncSession, shipment: Shipment, now: datetime) -> None:
    """After a new scan of a parcel still on its way: the no-scan deadline from its last
    scan, and, out for delivery, the station deadline from that scan."""
    no_scan_hours, station_hours = await _hours(session, shipment.shop_id)
    last = as_utc(shipment.last_scan_at or shipment.shipped_at or now)
    await schedule_timer(
        session, shop_id=shipment.shop_id, kind=NO_SCAN, subject=_subject(shipment),
        due_at=last + timedelta(hours=no_scan_hours),
    )  # fmt: skip
    if shipment.last_stage == Stage.out_for_delivery.value:
        await schedule_timer(
            session, shop_id=shipment.shop_id, kind=STATION, subject=_subject(shipment),
            due_at=last + timedelta(hours=station_hours),
        )  # fmt: skip
    else:
        await cancel_timers(
            session, shop_id=shipment.shop_id, kinds=[STATION], subjects=[_subject(shipment)],
            now=now,
        )  # fmt: skip


async def stop_following(session: AsyncSession, shipment: Shipment, now: datetime) -> None:
    """The parcel arrived or came back: no deadline of its journey is open any more."""
    await cancel_timers(
        session, shop_id=shipment.shop_id, kinds=[NO_SCAN, STATION, DELIVER_BY],
        subjects=[_subject(shipment)], now=now,
    )  # fmt: skip


# --- a problem found --------------------------------------------------------------------


async def _reply_by(session: AsyncSession, shipment: Shipment, ticket: Ticket) -> str:
    zone = await shop_zone(session, shipment.shop_id)
    return local(ticket.due_at, zone.key).strftime("%m-%d %H:%M")


async def raise_problem(
    session: AsyncSession,
    shipment: Shipment,
    problem: Problem,
    detail: str = "",
    *,
    by: StaffAccount | None = None,
    now: datetime | None = None,
) -> Ticket | None:
    """Mark the parcel a problem, open its case with the solution first and tell the
    buyer. A parcel that is a problem already keeps its case: the new finding is a line
    of it. Returns the parcel's ticket."""
    moment = now or utcnow()
    order = await session.get(Order, shipment.order_id)
    assert order is not None
    what = PROBLEM_SAID[problem]
    if shipment.problem:
        ticket = await session.get(Ticket, shipment.ticket_id) if shipment.ticket_id else None
        if ticket is not None and shipment.problem != problem.value:
            await add_line(
                session, ticket, by, "note",
                say("the parcel {parcel} also {what}", parcel=carrier_words(shipment), what=what),
                why=detail[:500], at=moment,
            )  # fmt: skip
        return ticket
    before = {"problem": shipment.problem}
    shipment.problem = problem.value
    shipment.problem_at = moment
    subject = SHOP_WORDS.text(
        say("solution first: send again or refund — parcel {parcel} {what}",
            parcel=carrier_words(shipment), what=what)
    )  # fmt: skip
    ticket = await open_ticket(
        session, shipment.shop_id,
        Opening(TicketKind.refund, TicketSource.hand, subject, order_id=order.id, priority=1),
        by=by, now=moment,
    )  # fmt: skip
    if detail:
        await add_line(
            session, ticket, by, "note", say("the carrier says: {detail}", detail=detail[:500]),
            internal=True, at=moment,
        )  # fmt: skip
    shipment.ticket_id = ticket.id
    actor = (by.number or by.username) if by is not None else "system"
    await record_audit(
        session, shop_id=shipment.shop_id, actor=actor, entity="order", entity_id=str(order.id),
        action="parcel_problem", before=before,
        after={"problem": problem.value, "shipment_id": shipment.id, "ticket_id": ticket.id},
        reason=detail[:200], at=moment,
    )  # fmt: skip
    await record_event(
        session, shipment.shop_id, "parcel.problem",
        {"shipment_id": shipment.id, "order_id": order.id, "problem": problem.value,
         "ticket_id": ticket.id, "agent_id": order.owner_id},
        at=moment,
    )  # fmt: skip
    told = await do_tell_buyer(
        session, order, f"delay:{shipment.id}",
        SHOP_WORDS.text(
            say("Sorry, your parcel {parcel} {what}. We are already on it and will send it "
                "again or refund you, as you prefer; we will reply by {reply_by}.",
                parcel=carrier_words(shipment), what=what,
                reply_by=await _reply_by(session, shipment, ticket))
        ),
        now=moment,
    )  # fmt: skip
    if told is not None and shipment.delay_told_at is None:
        shipment.delay_told_at = moment
    return ticket


# --- the timers -------------------------------------------------------------------------


async def _on_its_way(session: AsyncSession, timer: Timer) -> Shipment | None:
    shipment = await session.get(Shipment, int(timer.subject))
    if shipment is None or shipment.shop_id != timer.shop_id:
        return None
    return shipment if shipment.status == ShipmentStatus.shipped.value else None


@timer_handler(NO_SCAN)
async def no_scan_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    shipment = await _on_its_way(session, timer)
    if shipment is None:
        return
    no_scan_hours, _ = await _hours(session, shipment.shop_id)
    since = as_utc(shipment.last_scan_at or shipment.shipped_at or now)
    due = since + timedelta(hours=no_scan_hours)
    if due > now:  # a scan came meanwhile: the deadline moved
        await schedule_timer(
            session, shop_id=shipment.shop_id, kind=NO_SCAN, subject=timer.subject, due_at=due,
            none_open=True,
        )  # fmt: skip
        return
    await raise_problem(session, shipment, Problem.no_scan, now=now)


@timer_handler(STATION)
async def station_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    shipment = await _on_its_way(session, timer)
    if shipment is None or shipment.last_stage != Stage.out_for_delivery.value:
        return
    await raise_problem(session, shipment, Problem.stuck, now=now)


@timer_handler(DELIVER_BY)
async def deliver_by_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """The promised day passed without a signature: tell the buyer before they ask."""
    shipment = await _on_its_way(session, timer)
    if shipment is None or shipment.delay_told_at is not None:
        return
    order = await session.get(Order, shipment.order_id)
    assert order is not None
    await do_tell_buyer(
        session, order, f"late:{shipment.id}",
        SHOP_WORDS.text(
            say("Sorry, your parcel {parcel} is taking longer than we promised. We are "
                "following it with the carrier and will tell you as soon as it moves.",
                parcel=carrier_words(shipment))
        ),
        now=now,
    )  # fmt: skip
    shipment.delay_told_at = now
    await record_event(
        session, shipment.shop_id, "parcel.late",
        {"shipment_id": shipment.id, "order_id": order.id, "agent_id": order.owner_id},
        at=now,
    )  # fmt: skip
