"""The audit queue (审单, F1): paid orders wait here until an auditor passes or holds them.

An order enters the queue when it is paid and waits to ship (a cash-on-delivery order
once the buyer confirmed it by phone): :func:`follow_status` adds its row with one
insert in the unit of work that changed the order, and :func:`sync_queue` adds in one
statement the rows of orders that arrived another way (a seller-centre import, or
before fulfilment existed). The rules (:mod:`xiaoer.fulfilment.audit_rules`) judge a
row when it is first shown and again when the auditor opens it; what the auditor
then does is in :mod:`xiaoer.fulfilment.audit_actions`.

An order that closes, or ships some other way than its audited parcel, leaves the
queue and gives back what it reserved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text as SqlText
from sqlalchemy import (
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import UTCDateTime
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.fulfilment import carriers, ledger
from xiaoer.fulfilment.audit_rules import evaluate
from xiaoer.fulfilment.models import (
    AuditStatus,
    MoveKind,
    OrderAudit,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from xiaoer.fulfilment.production import cancel_slips
from xiaoer.fulfilment.promises import promised_dates
from xiaoer.fulfilment.roles import AUDITORS
from xiaoer.orders.lifecycle import CLOSED, on_status_changed
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount


class AuditError(ValueError):
    """The audit cannot do this with the order as it stands."""


class AuditNotFound(NotFound):
    pass


class AuditForbidden(NotPermitted):
    pass


OPEN = (AuditStatus.waiting.value, AuditStatus.held.value)
UNSHIPPED = (ShipmentStatus.picking.value, ShipmentStatus.packed.value)
SHIPPED_STATES = frozenset(
    {
        TradeStatus.SELLER_CONSIGNED_PART,
        TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        TradeStatus.TRADE_BUYER_SIGNED,
        TradeStatus.TRADE_FINISHED,
    }
)

def carrier_code(name: str) -> str:
    """The code a parcel carries for a courier as the order or shop writes it ("" when
    it names no carrier we know: the warehouse picks one when it ships)."""
    return carriers.carrier_code(name) or ""


def actor_label(staff: StaffAccount) -> str:
    return staff.number or staff.username


# --- entering and leaving the queue ------------------------------------------------------


def _queues(order: Order) -> bool:
    """Paid and waiting to ship; cash on delivery only once confirmed by phone."""
    status = TradeStatus(order.status)
    if order.shipped_at is not None:
        return False
    if order.cash_on_delivery:
        return order.cod_confirmed_at is not None and status in (
            TradeStatus.WAIT_BUYER_PAY,
            TradeStatus.WAIT_SELLER_SEND_GOODS,
        )
    return status == TradeStatus.WAIT_SELLER_SEND_GOODS


def _insert_ignoring(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(OrderAudit)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(OrderAudit)


async def enqueue(session: AsyncSession, order: Order, now: datetime | None = None) -> None:
    """The order's row in the queue, if it has none: one insert, nothing read."""
    now = now or utcnow()
    if order.id is None:
        await session.flush()
    statement = _insert_ignoring(session).values(
        shop_id=order.shop_id, order_id=order.id, status=AuditStatus.waiting.value, flags=[],
        checks={}, reason="", created_at=now, updated_at=now,
    )  # fmt: skip
    await session.execute(statement.on_conflict_do_nothing(index_elements=["order_id"]))


@on_status_changed
async def follow_status(
    session: AsyncSession, order: Order, before: TradeStatus, now: datetime
) -> None:
    """Every change of an order's status: paid-waiting enters the queue; closed, or
    shipped by other means than its audited parcel, leaves it."""
    new = TradeStatus(order.status)
    if _queues(order):
        await enqueue(session, order, now)
    elif new in CLOSED:
        await leave_queue(session, order, now=now)
    elif new in SHIPPED_STATES and before not in SHIPPED_STATES:
        await leave_queue(session, order, shipped=True, now=now)


async def sync_queue(session: AsyncSession, shop_id: int, now: datetime | None = None) -> int:
    """Add the rows missing for the shop's paid orders waiting to ship (orders that
    arrived by import or before fulfilment): one INSERT … SELECT. How many were added."""
    now = now or utcnow()
    waiting = or_(
        and_(
            Order.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value,
            Order.cash_on_delivery.is_(false()),
        ),
        and_(
            Order.cash_on_delivery.is_(true()),
            Order.cod_confirmed_at.is_not(None),
            Order.status.in_(
                (TradeStatus.WAIT_BUYER_PAY.value, TradeStatus.WAIT_SELLER_SEND_GOODS.value)
            ),
        ),
    )
    chosen = select(
        Order.shop_id,
        Order.id,
        literal(AuditStatus.waiting.value),
        literal_column("'[]'", SqlText),
        literal_column("'{}'", SqlText),
        literal(""),
        literal(now, UTCDateTime),
        literal(now, UTCDateTime),
    ).where(
        Order.shop_id == shop_id,
        waiting,
        Order.shipped_at.is_(None),
        ~exists().where(OrderAudit.order_id == Order.id),
    )
    columns = ["shop_id", "order_id", "status", "flags", "checks", "reason", "created_at",
               "updated_at"]  # fmt: skip
    done = await session.execute(insert(OrderAudit).from_select(columns, chosen))
    return int(getattr(done, "rowcount", 0) or 0)


async def shipments_with(session: AsyncSession, order_id: int) -> list[Shipment]:
    """The parcels that carry any of the order's lines."""
    return list(
        await session.scalars(
            select(Shipment)
            .where(
                Shipment.id.in_(
                    select(ShipmentLine.shipment_id).where(ShipmentLine.order_id == order_id)
                )
            )
            .order_by(Shipment.id)
        )
    )


async def take_back(
    session: AsyncSession, order: Order, reason: str, actor: ledger.Actor, now: datetime,
    *, relead: bool = True,
) -> list[int]:  # fmt: skip
    """Release what the order's unshipped parcels hold of it and take its lines out of
    them; a parcel left empty is cancelled, one it led passes (``relead``) to the next
    order it carries. The parcels changed."""
    touched: list[int] = []
    for shipment in await shipments_with(session, order.id):
        if shipment.status not in UNSHIPPED:
            continue
        lines = list(
            await session.scalars(
                select(ShipmentLine).where(ShipmentLine.shipment_id == shipment.id)
            )
        )
        own = [line for line in lines if line.order_id == order.id]
        held = [
            ledger.Line(line.sku_id, shipment.location_id, line.quantity)
            for line in own
            if line.sku_id is not None
        ]
        if held:
            await ledger.post(
                session, order.shop_id, MoveKind.release, held,
                document=ledger.Document("order", order.id, order.platform_order_id, order.id),
                actor=actor, reason=reason, now=now,
            )  # fmt: skip
        await session.execute(
            delete(ShipmentLine).where(
                ShipmentLine.shipment_id == shipment.id, ShipmentLine.order_id == order.id
            )
        )
        rest = [line for line in lines if line.order_id != order.id]
        if not rest:
            shipment.status = ShipmentStatus.cancelled.value
        elif relead and shipment.order_id == order.id:
            shipment.order_id = rest[0].order_id
            await session.execute(
                update(OrderAudit)
                .where(OrderAudit.merged_into == order.id, OrderAudit.order_id != rest[0].order_id)
                .values(merged_into=rest[0].order_id)
            )
            await session.execute(
                update(OrderAudit)
                .where(OrderAudit.order_id == rest[0].order_id)
                .values(status=AuditStatus.passed.value, merged_into=None)
            )
        shipment.updated_at = now
        touched.append(shipment.id)
    return touched


async def leave_queue(
    session: AsyncSession, order: Order, *, shipped: bool = False, now: datetime | None = None
) -> None:
    """The order closed, or shipped (``shipped``) without its audited parcel: its row is
    cancelled and what it reserved released. Shipped through its own parcel (one that
    left already, or carries the order's waybill), nothing changes. An order that never
    queued costs one read."""
    now = now or utcnow()
    current = await session.scalar(select(OrderAudit.status).where(OrderAudit.order_id == order.id))
    if current is None or current == AuditStatus.cancelled.value:
        return
    if shipped and current in (AuditStatus.passed.value, AuditStatus.merged.value):
        waybill = order.tracking_number.strip()
        gone = (ShipmentStatus.shipped.value, ShipmentStatus.delivered.value)
        if any(
            s.status in gone or (waybill and s.waybill == waybill)
            for s in await shipments_with(session, order.id)
        ):
            return
    left = (
        await session.execute(
            update(OrderAudit)
            .where(
                OrderAudit.order_id == order.id,
                OrderAudit.status != AuditStatus.cancelled.value,
            )
            .values(status=AuditStatus.cancelled.value, updated_at=now)
            .returning(OrderAudit.id, OrderAudit.status)
        )
    ).first()
    if left is None:
        return
    reason = "order shipped elsewhere" if shipped else "order closed"
    touched = await take_back(session, order, reason, ledger.SYSTEM, now)
    await cancel_slips(session, order.id)
    # orders merged into this one wait again for their own audit
    await session.execute(
        update(OrderAudit)
        .where(OrderAudit.merged_into == order.id, OrderAudit.status == AuditStatus.merged.value)
        .values(status=AuditStatus.waiting.value, merged_into=None, checks={}, updated_at=now)
    )
    await record_event(
        session, order.shop_id, "audit.cancelled",
        {"order_id": order.id, "audit_id": left.id, "shipments": touched, "shipped": shipped},
        at=now,
    )  # fmt: skip


# --- the promise: ship by, deliver by ---------------------------------------------------


def promise_of(paid_at: datetime, zone: ZoneInfo, policy: Policy) -> tuple[datetime, datetime]:
    """The promise of :func:`promises.promised_dates` (the cut-off decides the day),
    shipping no later than the orders' own ship deadline after payment."""
    ship_by, deliver_by = promised_dates(policy, zone, paid_at)
    return min(ship_by, paid_at + timedelta(hours=policy.orders.ship_within_hours)), deliver_by


# --- judging the rows -------------------------------------------------------------------


async def refresh(
    session: AsyncSession, shop_id: int, rows: Sequence[tuple[OrderAudit, Order]]
) -> None:
    """Judge the open rows again: flags, checks and the promise."""
    open_rows = [(audit, order) for audit, order in rows if audit.status in OPEN]
    if not open_rows:
        return
    judged = await evaluate(session, shop_id, [order for _, order in open_rows])
    policy = await policy_on(session, shop_id)
    zone = await shop_zone(session, shop_id)
    for audit, order in open_rows:
        audit.flags, audit.checks = judged[order.id]
        if order.paid_at is not None or order.cod_confirmed_at is not None:
            paid = order.paid_at or order.cod_confirmed_at
            assert paid is not None
            audit.ship_by, audit.deliver_by = promise_of(paid, zone, policy)


async def refresh_unjudged(session: AsyncSession, shop_id: int, limit: int = 500) -> None:
    """Judge the open rows no rule has looked at yet (new, or waiting again)."""
    rows = (
        await session.execute(
            select(OrderAudit, Order)
            .join(Order, Order.id == OrderAudit.order_id)
            .where(
                OrderAudit.shop_id == shop_id,
                OrderAudit.status.in_(OPEN),
                cast(OrderAudit.checks, SqlText) == "{}",
            )
            .order_by(OrderAudit.id)
            .limit(limit)
        )
    ).all()
    await refresh(session, shop_id, [(a, o) for a, o in rows])


# --- who may ---------------------------------------------------------------------------


def check_may_audit(staff: StaffAccount) -> None:
    if not staff.has_role(*AUDITORS):
        raise AuditForbidden(say("only auditors and leaders audit orders"))


async def queue_row(
    session: AsyncSession, staff: StaffAccount, order_id: int
) -> tuple[OrderAudit, Order]:
    """The order's queue row in the reader's shop, or not found."""
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != staff.shop_id:
        raise AuditNotFound(say("no order {order_id} in this shop", order_id=order_id))
    audit = await session.scalar(select(OrderAudit).where(OrderAudit.order_id == order.id))
    if audit is None:
        await sync_queue(session, staff.shop_id)
        audit = await session.scalar(select(OrderAudit).where(OrderAudit.order_id == order.id))
    if audit is None:
        raise AuditNotFound(
            say("order {number} is not in the audit queue", number=order.platform_order_id)
        )
    return audit, order


def may_read(staff: StaffAccount, audit: OrderAudit) -> bool:
    """Auditors and leaders read every row of their shop; an agent the holds they own."""
    if staff.shop_id != audit.shop_id:
        return False
    return staff.has_role(*AUDITORS) or (staff.has_role("agent") and audit.owner_id == staff.id)


async def audit_for(
    session: AsyncSession, staff: StaffAccount, order_id: int
) -> tuple[OrderAudit, Order]:
    """The row and its order as the reader may see them; judged again when open."""
    audit, order = await queue_row(session, staff, order_id)
    if not may_read(staff, audit):
        raise AuditForbidden(say("this order's audit is the auditors'"))
    if staff.has_role(*AUDITORS):
        await refresh(session, staff.shop_id, [(audit, order)])
    return audit, order


async def row_for_auditor(
    session: AsyncSession, staff: StaffAccount, order_id: int
) -> tuple[OrderAudit, Order]:
    """The row for an auditor to act on, locked until the transaction ends: two
    auditors passing the same order one after the other, the second sees it passed."""
    audit, order = await queue_row(session, staff, order_id)
    check_may_audit(staff)
    return await lock_row(session, audit), order


async def lock_row(session: AsyncSession, audit: OrderAudit) -> OrderAudit:
    locked = await session.scalar(
        select(OrderAudit)
        .where(OrderAudit.id == audit.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


# --- the queue as a list -----------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    status: str = AuditStatus.waiting.value
    rule: str = ""
    owner_id: int | None = None
    q: str = ""
    page: int = 1


def _filtered(staff: StaffAccount, chosen: QueueFilter) -> Any:
    query = (
        select(OrderAudit, Order)
        .join(Order, Order.id == OrderAudit.order_id)
        .where(OrderAudit.shop_id == staff.shop_id)
    )
    if not staff.has_role(*AUDITORS):  # an agent: the holds they must clear
        query = query.where(OrderAudit.owner_id == staff.id)
    if chosen.status:
        query = query.where(OrderAudit.status == chosen.status)
    if chosen.owner_id is not None:
        query = query.where(OrderAudit.owner_id == chosen.owner_id)
    if chosen.rule:
        query = query.where(cast(OrderAudit.flags, SqlText).like(f'%"rule": "{chosen.rule}"%'))
    q = chosen.q.strip()
    if q:
        query = query.where(
            or_(Order.platform_order_id.startswith(q, autoescape=True),
                Order.buyer_nick.startswith(q, autoescape=True))
        )  # fmt: skip
    return query


async def queue_rows(
    session: AsyncSession, staff: StaffAccount, chosen: QueueFilter, *, limit: int, offset: int = 0
) -> list[tuple[OrderAudit, Order]]:
    """The filtered queue, the most urgent first (by payment time), a page at a time."""
    if not staff.has_role(*AUDITORS, "agent"):
        raise AuditForbidden(say("only auditors and leaders audit orders"))
    query = (
        _filtered(staff, chosen)
        .order_by(Order.paid_at.asc().nulls_last(), OrderAudit.id)
        .limit(limit)
        .offset(offset)
    )
    return [(a, o) for a, o in (await session.execute(query)).all()]


async def queue_counts(session: AsyncSession, staff: StaffAccount) -> dict[str, int]:
    query = select(OrderAudit.status, func.count()).where(OrderAudit.shop_id == staff.shop_id)
    if not staff.has_role(*AUDITORS):
        query = query.where(OrderAudit.owner_id == staff.id)
    rows = await session.execute(query.group_by(OrderAudit.status))
    return {status: int(n) for status, n in rows.all()}


async def parcels_of(
    session: AsyncSession, order_id: int
) -> list[tuple[Shipment, list[ShipmentLine]]]:
    """The order's parcels (not cancelled) with their lines, for the check page."""
    shipments = [
        s for s in await shipments_with(session, order_id)
        if s.status != ShipmentStatus.cancelled.value
    ]  # fmt: skip
    if not shipments:
        return []
    lines: dict[int, list[ShipmentLine]] = defaultdict(list)
    for line in await session.scalars(
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id.in_([s.id for s in shipments]))
        .order_by(ShipmentLine.id)
    ):
        lines[line.shipment_id].append(line)
    return [(s, lines[s.id]) for s in shipments]
