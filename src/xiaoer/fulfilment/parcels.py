"""Following parcels: who may see one, its timeline, an agent's own orders' health (O10),
the supervisor's late and problem parcels, the chase and the buyer's "not received".

An agent sees the parcels of the orders they own (``order.owner_id``); the leaders
and the back office (auditors, warehouse) every parcel of the shop. Another shop's
parcel, and for an agent a colleague's, is not found.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Ticket
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent
from xiaoer.fulfilment.parcel_problems import Problem, raise_problem
from xiaoer.fulfilment.roles import STOCK_READERS
from xiaoer.orders.models import Order
from xiaoer.staff.models import Role, StaffAccount, is_leader

PAGE = 50
MAX_EXPORT = 20_000
MAX_NOTE = 500
WAITING = (ShipmentStatus.picking.value, ShipmentStatus.packed.value)


class ParcelError(ValueError):
    """A change to a parcel that cannot be made; the message says why."""


class ParcelNotFound(ParcelError, NotFound):
    """No such parcel in the account's shop, or not one the account may see."""


class ParcelForbidden(ParcelError, NotPermitted):
    """The account may not do this to the parcel."""


# --- who may ------------------------------------------------------------------------------


def sees_every_parcel(staff: StaffAccount) -> bool:
    return staff.has_role(*STOCK_READERS)


def may_see(staff: StaffAccount, shipment: Shipment, order: Order) -> bool:
    if shipment.shop_id != staff.shop_id or order.shop_id != staff.shop_id:
        return False
    if sees_every_parcel(staff):
        return True
    return staff.has_role(Role.agent.value) and order.owner_id == staff.id


async def parcel_for(
    session: AsyncSession, staff: StaffAccount, shipment_id: int
) -> tuple[Shipment, Order]:
    """The parcel and its lead order, if the account may see them; the same refusal for
    absent and hidden."""
    shipment = await session.get(Shipment, shipment_id)
    order = await session.get(Order, shipment.order_id) if shipment is not None else None
    if shipment is None or order is None or not may_see(staff, shipment, order):
        raise ParcelNotFound(say("no parcel {shipment_id}", shipment_id=shipment_id))
    return shipment, order


def check_may_act(staff: StaffAccount, order: Order) -> None:
    """The order's own agent, or a leader, acts for its buyer on a parcel."""
    if is_leader(staff):
        return
    if staff.has_role(Role.agent.value) and order.owner_id == staff.id:
        return
    raise ParcelForbidden(say("only the order's own agent or a supervisor does this"))


# --- one parcel -------------------------------------------------------------------------


@dataclass
class ParcelView:
    shipment: Shipment
    order: Order
    orders: list[Order]
    scans: list[TrackingEvent]
    ticket: Ticket | None
    may_act: bool


async def parcel_view(session: AsyncSession, staff: StaffAccount, shipment_id: int) -> ParcelView:
    """The parcel's page: its scans newest first, its orders and its case."""
    shipment, order = await parcel_for(session, staff, shipment_id)
    scans = list(
        await session.scalars(
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment.id)
            .order_by(TrackingEvent.at.desc(), TrackingEvent.id.desc())
        )
    )
    order_ids = set(
        await session.scalars(
            select(ShipmentLine.order_id).where(ShipmentLine.shipment_id == shipment.id)
        )
    ) | {order.id}
    orders = list(
        await session.scalars(select(Order).where(Order.id.in_(order_ids)).order_by(Order.id))
    )
    ticket = await session.get(Ticket, shipment.ticket_id) if shipment.ticket_id else None
    try:
        check_may_act(staff, order)
        acts = True
    except ParcelForbidden:
        acts = False
    return ParcelView(shipment, order, orders, scans, ticket, acts)


# --- late, problem: the kinds of trouble --------------------------------------------------


class Trouble(enum.StrEnum):
    late_ship = "late_ship"  # not shipped, past its ship-by time
    late_delivery = "late_delivery"  # on its way, past its deliver-by time
    problem = "problem"  # a problem parcel (疑难件)


def trouble_clause(kind: Trouble | None, now: datetime) -> Any:
    late_ship = and_(Shipment.status.in_(WAITING), Shipment.ship_by < now)
    late_delivery = and_(Shipment.status == ShipmentStatus.shipped.value, Shipment.deliver_by < now)
    problem = Shipment.problem != ""
    if kind is Trouble.late_ship:
        return late_ship
    if kind is Trouble.late_delivery:
        return late_delivery
    if kind is Trouble.problem:
        return problem
    return or_(late_ship, late_delivery, problem)


def troubles_of(shipment: Shipment, now: datetime) -> list[Trouble]:
    found = []
    if shipment.status in WAITING and shipment.ship_by and as_utc(shipment.ship_by) < now:
        found.append(Trouble.late_ship)
    if (
        shipment.status == ShipmentStatus.shipped.value
        and shipment.deliver_by
        and as_utc(shipment.deliver_by) < now
    ):
        found.append(Trouble.late_delivery)
    if shipment.problem:
        found.append(Trouble.problem)
    return found


@dataclass
class ParcelFilter:
    kind: Trouble | None = None
    carrier: str = ""
    agent_id: int | None = None
    q: str = ""
    after: int | None = None  # the last shipment id of the page before

    @property
    def typed(self) -> dict[str, str]:
        return {
            "kind": self.kind.value if self.kind else "",
            "carrier": self.carrier,
            "agent": str(self.agent_id or ""),
            "q": self.q,
        }


def _filtered(query: Any, chosen: ParcelFilter) -> Any:
    if chosen.carrier:
        query = query.where(Shipment.carrier == chosen.carrier)
    if chosen.agent_id is not None:
        query = query.where(Order.owner_id == chosen.agent_id)
    if chosen.q:
        query = query.where(or_(Shipment.waybill == chosen.q, Order.platform_order_id == chosen.q))
    return query


def check_may_supervise(staff: StaffAccount) -> None:
    if not sees_every_parcel(staff):
        raise ParcelForbidden(say("agents follow their own orders' parcels on their health page"))


async def troubled_parcels(
    session: AsyncSession,
    staff: StaffAccount,
    chosen: ParcelFilter,
    *,
    now: datetime | None = None,
    limit: int = PAGE,
) -> list[tuple[Shipment, Order]]:
    """The shop's late and problem parcels, newest first, a page at a time."""
    check_may_supervise(staff)
    moment = now or utcnow()
    query: Any = _filtered(
        select(Shipment, Order)
        .join(Order, Order.id == Shipment.order_id)
        .where(Shipment.shop_id == staff.shop_id, trouble_clause(chosen.kind, moment)),
        chosen,
    )
    if chosen.after is not None:
        query = query.where(Shipment.id < chosen.after)
    rows = await session.execute(query.order_by(Shipment.id.desc()).limit(limit))
    return [(row[0], row[1]) for row in rows.all()]


async def trouble_counts(
    session: AsyncSession, staff: StaffAccount, chosen: ParcelFilter, now: datetime
) -> dict[str, int]:
    """How many parcels of each trouble match the filter (the kind aside)."""
    check_may_supervise(staff)
    sums = [func.sum(case((trouble_clause(kind, now), 1), else_=0)) for kind in Trouble]
    query = (
        select(*sums)
        .select_from(Shipment)
        .join(Order, Order.id == Shipment.order_id)
        .where(Shipment.shop_id == staff.shop_id)
    )
    row = (await session.execute(_filtered(query, ParcelFilter(
        carrier=chosen.carrier, agent_id=chosen.agent_id, q=chosen.q)))).one()  # fmt: skip
    return {kind.value: int(value or 0) for kind, value in zip(Trouble, row, strict=True)}


# --- an agent's own orders' health (O10) ------------------------------------------------------


class Health(enum.StrEnum):
    shipped_on_time = "shipped_on_time"
    late_to_ship = "late_to_ship"
    arrived_on_time = "arrived_on_time"
    arrived_late = "arrived_late"
    problem = "problem"


def health_clauses(now: datetime) -> dict[Health, Any]:
    shipped = Shipment.shipped_at.is_not(None)
    delivered = Shipment.delivered_at.is_not(None)
    return {
        Health.shipped_on_time: and_(
            shipped, or_(Shipment.ship_by.is_(None), Shipment.shipped_at <= Shipment.ship_by)
        ),
        Health.late_to_ship: or_(
            and_(shipped, Shipment.shipped_at > Shipment.ship_by),
            and_(Shipment.status.in_(WAITING), Shipment.ship_by < now),
        ),
        Health.arrived_on_time: and_(
            delivered,
            or_(Shipment.deliver_by.is_(None), Shipment.delivered_at <= Shipment.deliver_by),
        ),
        Health.arrived_late: or_(
            and_(delivered, Shipment.delivered_at > Shipment.deliver_by),
            and_(Shipment.status == ShipmentStatus.shipped.value, Shipment.deliver_by < now),
        ),
        Health.problem: Shipment.problem != "",
    }


def health_of_parcel(shipment: Shipment, now: datetime) -> list[Health]:
    def at(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    shipped, ship_by = at(shipment.shipped_at), at(shipment.ship_by)
    delivered, deliver_by = at(shipment.delivered_at), at(shipment.deliver_by)
    found = []
    if shipped is not None and (ship_by is None or shipped <= ship_by):
        found.append(Health.shipped_on_time)
    if (shipped is not None and ship_by is not None and shipped > ship_by) or (
        shipment.status in WAITING and ship_by is not None and ship_by < now
    ):
        found.append(Health.late_to_ship)
    if delivered is not None and (deliver_by is None or delivered <= deliver_by):
        found.append(Health.arrived_on_time)
    if (delivered is not None and deliver_by is not None and delivered > deliver_by) or (
        shipment.status == ShipmentStatus.shipped.value
        and deliver_by is not None
        and deliver_by < now
    ):
        found.append(Health.arrived_late)
    if shipment.problem:
        found.append(Health.problem)
    return found


@dataclass
class HealthView:
    counts: dict[str, int]
    rows: list[tuple[Shipment, Order, list[Health]]] = field(default_factory=list)
    agent_id: int | None = None
    show: Health | None = None
    next_after: int | None = None


def check_may_see_health(staff: StaffAccount) -> None:
    if not (is_leader(staff) or staff.has_role(Role.agent.value)):
        raise ParcelForbidden(say("the health page shows an agent's own orders"))


async def orders_health(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    agent_id: int | None = None,
    show: Health | None = None,
    after: int | None = None,
    now: datetime | None = None,
    limit: int = PAGE,
) -> HealthView:
    """The signed-in agent's orders' parcels (a leader: every agent's, or one's):
    shipped on time or late, arrived on time or late, problems; counts and the list."""
    check_may_see_health(staff)
    moment = now or utcnow()
    owner = agent_id if is_leader(staff) else staff.id
    clauses = health_clauses(moment)
    base = (
        select()
        .select_from(Shipment)
        .join(Order, Order.id == Shipment.order_id)
        .where(
            Shipment.shop_id == staff.shop_id,
            Shipment.status != ShipmentStatus.cancelled.value,
        )
    )
    if owner is not None:
        base = base.where(Order.owner_id == owner)
    counted = base.add_columns(
        func.count(), *(func.sum(case((clauses[h], 1), else_=0)) for h in Health)
    )
    total, *sums = (await session.execute(counted)).one()
    counts = {"parcels": int(total or 0)}
    counts.update({h.value: int(v or 0) for h, v in zip(Health, sums, strict=True)})
    listed = base.add_columns(Shipment, Order)
    if show is not None:
        listed = listed.where(clauses[show])
    if after is not None:
        listed = listed.where(Shipment.id < after)
    found = (await session.execute(listed.order_by(Shipment.id.desc()).limit(limit + 1))).all()
    rows = [(s, o, health_of_parcel(s, moment)) for s, o in found[:limit]]
    next_after = rows[-1][0].id if len(found) > limit else None
    return HealthView(counts, rows, owner, show, next_after)


# --- acting on a parcel ---------------------------------------------------------------------


async def do_chase(
    session: AsyncSession, staff: StaffAccount, shipment_id: int, *, now: datetime | None = None
) -> Shipment:
    """Chase the warehouse (催发货) on a late parcel of one's own order (O10)."""
    moment = now or utcnow()
    shipment, order = await parcel_for(session, staff, shipment_id)
    check_may_act(staff, order)
    troubles = troubles_of(shipment, moment)
    if Trouble.late_ship not in troubles and Trouble.late_delivery not in troubles:
        raise ParcelError(say("only a late parcel is chased"))
    before = {"chased_at": shipment.chased_at.isoformat() if shipment.chased_at else None}
    shipment.chased_at = moment
    await record_audit(
        session, shop_id=staff.shop_id, actor=staff.number or staff.username, entity="order",
        entity_id=str(order.id), action="parcel_chased", before=before,
        after={"chased_at": moment.isoformat(), "shipment_id": shipment.id}, at=moment,
    )  # fmt: skip
    await record_event(
        session, staff.shop_id, "parcel.chased",
        {"shipment_id": shipment.id, "order_id": order.id, "agent_id": order.owner_id,
         "by": staff.id, "late": [t.value for t in troubles]},
        at=moment,
    )  # fmt: skip
    return shipment


async def do_mark_not_received(
    session: AsyncSession,
    staff: StaffAccount,
    shipment_id: int,
    note: str = "",
    *,
    now: datetime | None = None,
) -> Ticket | None:
    """The buyer says a parcel signed for never came: it becomes a problem parcel."""
    moment = now or utcnow()
    shipment, order = await parcel_for(session, staff, shipment_id)
    check_may_act(staff, order)
    if shipment.status != ShipmentStatus.delivered.value:
        raise ParcelError(say("only a parcel signed for can be marked as not received"))
    if shipment.problem == Problem.not_received.value:
        raise ParcelError(say("the parcel is marked as not received already"))
    return await raise_problem(
        session, shipment, Problem.not_received, note.strip()[:MAX_NOTE], by=staff, now=moment
    )
