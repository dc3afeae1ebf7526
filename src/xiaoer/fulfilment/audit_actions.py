"""What the auditor does with an order of the queue (F1): pass it to the warehouse,
hold it for a person to clear, merge one buyer's orders into one parcel, split one
over two locations.

Passing reserves the stock in the ledger, each order's lines under its own document,
and makes the parcels (``Shipment``) the warehouse picks: from the lowest-placed
location that holds every line, else split over several. A custom order also goes to
production with its slip (:mod:`xiaoer.fulfilment.production`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment import ledger
from xiaoer.fulfilment.audit import (
    OPEN,
    AuditError,
    AuditForbidden,
    actor_label,
    carrier_code,
    check_may_audit,
    lock_row,
    queue_row,
    refresh,
    row_for_auditor,
    shipments_with,
    take_back,
)
from xiaoer.fulfilment.audit_rules import NEVER_OVERRIDDEN, blocking
from xiaoer.fulfilment.models import (
    AuditStatus,
    LocationKind,
    MoveKind,
    OrderAudit,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    StockLocation,
)
from xiaoer.fulfilment.production import slip_for_custom
from xiaoer.fulfilment.roles import AUDITORS
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

# --- passing: reserve, parcels, production ----------------------------------------------


async def _group(session: AsyncSession, lead: Order) -> list[Order]:
    """The lead order and those merged into it."""
    merged = list(
        await session.scalars(
            select(Order)
            .join(OrderAudit, OrderAudit.order_id == Order.id)
            .where(
                OrderAudit.merged_into == lead.id,
                OrderAudit.status == AuditStatus.merged.value,
            )
            .order_by(Order.id)
        )
    )
    return [lead, *merged]


async def _items(session: AsyncSession, orders: Sequence[Order]) -> list[OrderItem]:
    return list(
        await session.scalars(
            select(OrderItem)
            .where(OrderItem.order_id.in_([o.id for o in orders]))
            .order_by(OrderItem.order_id, OrderItem.id)
        )
    )


async def locations_of(session: AsyncSession, shop_id: int) -> list[StockLocation]:
    return list(
        await session.scalars(
            select(StockLocation)
            .where(
                StockLocation.shop_id == shop_id,
                StockLocation.kind == LocationKind.stock.value,
                StockLocation.active.is_(True),
            )
            .order_by(StockLocation.position, StockLocation.id)
        )
    )


Plan = dict[int, list[tuple[OrderItem, int]]]  # location → (item, units)


def plan_lines(
    items: Sequence[OrderItem], available: dict[int, dict[int, int]], locations: Sequence[int]
) -> Plan | None:
    """Where each line ships from: the first location (in order) that holds every
    line, else each line from the first locations that have it. None when short."""
    stocked = [i for i in items if i.sku_id is not None]
    need: dict[int, int] = defaultdict(int)
    for item in stocked:
        assert item.sku_id is not None
        need[item.sku_id] += item.quantity
    if not locations:
        return None if stocked else {}
    for loc in locations:
        if all(available.get(sku, {}).get(loc, 0) >= n for sku, n in need.items()):
            return {loc: [(item, item.quantity) for item in items]}
    left = {sku: dict(places) for sku, places in available.items()}
    plan: Plan = defaultdict(list)
    for item in stocked:
        assert item.sku_id is not None
        wanted = item.quantity
        for loc in locations:
            have = left.get(item.sku_id, {}).get(loc, 0)
            take = min(have, wanted)
            if take > 0:
                plan[loc].append((item, take))
                left[item.sku_id][loc] = have - take
                wanted -= take
            if not wanted:
                break
        if wanted:
            return None
    first = next(iter(plan)) if plan else locations[0]
    plan[first].extend((item, item.quantity) for item in items if item.sku_id is None)
    return dict(plan)


async def _reserve_and_ship(
    session: AsyncSession,
    staff: StaffAccount,
    lead: Order,
    group: Sequence[Order],
    plan: Plan,
    ship_by: datetime | None,
    deliver_by: datetime | None,
    now: datetime,
) -> list[Shipment]:
    actor = ledger.Actor(staff.id, actor_label(staff))
    by_order: dict[int, list[ledger.Line]] = defaultdict(list)
    for loc, lines in plan.items():
        for item, units in lines:
            if item.sku_id is not None:
                by_order[item.order_id].append(ledger.Line(item.sku_id, loc, units))
    for order in group:
        if by_order.get(order.id):
            await ledger.post(
                session, order.shop_id, MoveKind.reserve, by_order[order.id],
                document=ledger.Document("order", order.id, order.platform_order_id, order.id),
                actor=actor, reason="audit passed", now=now,
            )  # fmt: skip
    shop = await session.get(Shop, lead.shop_id)
    carrier = carrier_code(lead.courier or (shop.default_courier if shop else ""))
    shipments: list[Shipment] = []
    for loc, lines in plan.items():
        shipment = Shipment(
            shop_id=lead.shop_id, order_id=lead.id, location_id=loc,
            status=ShipmentStatus.picking.value, carrier=carrier, ship_by=ship_by,
            deliver_by=deliver_by, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(shipment)
        await session.flush()
        session.add_all(
            ShipmentLine(
                shipment_id=shipment.id,
                order_id=item.order_id,
                order_item_id=item.id,
                sku_id=item.sku_id,
                sku_code=item.sku_code,
                quantity=units,
            )
            for item, units in lines
        )
        shipments.append(shipment)
    await session.flush()
    return shipments


async def _check_manual_plan(
    session: AsyncSession, shop_id: int, items: Sequence[OrderItem], chosen: dict[int, int]
) -> Plan:
    locations = {loc.id for loc in await locations_of(session, shop_id)}
    plan: Plan = defaultdict(list)
    for item in items:
        loc = chosen.get(item.id)
        if loc is None:
            raise AuditError(say("choose where {title} ships from", title=item.title))
        if loc not in locations:
            raise AuditError(say("choose a stock location of this shop"))
        plan[loc].append((item, item.quantity))
    return dict(plan)


async def _pass_group(
    session: AsyncSession,
    staff: StaffAccount,
    audit: OrderAudit,
    lead: Order,
    *,
    override: str,
    chosen: dict[int, int] | None,
    now: datetime,
) -> list[Shipment]:
    group = await _group(session, lead)
    rows = {
        a.order_id: a
        for a in await session.scalars(
            select(OrderAudit).where(OrderAudit.order_id.in_([o.id for o in group]))
        )
    }
    await refresh(session, lead.shop_id, [(rows[o.id], o) for o in group if o.id in rows])
    merged_rows = [rows[o.id] for o in group[1:] if o.id in rows]
    for row in merged_rows:  # judged as open rows, they stay merged
        row.status = AuditStatus.merged.value
    standing = [f for row in [audit, *merged_rows] for f in blocking(row.flags)]
    hard = [f for f in standing if f["rule"] in NEVER_OVERRIDDEN]
    if hard:
        raise AuditError(say("the stock is short: it cannot pass until goods come in"))
    if standing and not override.strip():
        raise AuditError(say("a rule flags this order: pass it only with a reason for overriding"))
    items = await _items(session, group)
    if chosen is not None:
        plan = await _check_manual_plan(session, lead.shop_id, items, chosen)
    else:
        sku_ids = [i.sku_id for i in items if i.sku_id is not None]
        available = await ledger.available(session, lead.shop_id, sku_ids) if sku_ids else {}
        locations = [loc.id for loc in await locations_of(session, lead.shop_id)]
        found = plan_lines(items, available, locations)
        if found is None:
            raise AuditError(say("the stock is short: it cannot pass until goods come in"))
        plan = found
    if not plan:
        raise AuditError(say("no stock location to ship from: add one first"))
    try:
        async with session.begin_nested():
            shipments = await _reserve_and_ship(
                session, staff, lead, group, plan, audit.ship_by, audit.deliver_by, now
            )
    except ledger.StockError as exc:
        raise AuditError(exc.args[0]) from exc
    for order in group:
        await slip_for_custom(session, order, rows.get(order.id), staff, now)
    return shipments


async def do_pass(
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    *,
    override: str = "",
    plan: dict[int, int] | None = None,
    now: datetime | None = None,
) -> list[Shipment]:
    """Pass the order (and those merged into it) to the warehouse: the stock reserved,
    its parcels made, custom goods sent to production. Refused while a blocking flag
    stands, unless ``override`` says why it may pass anyway."""
    now = now or utcnow()
    audit, order = await row_for_auditor(session, staff, order_id)
    if audit.status not in OPEN:
        raise AuditError(_not_open(order, audit))
    before = audit.status
    shipments = await _pass_group(
        session, staff, audit, order, override=override, chosen=plan, now=now
    )
    audit.status, audit.decided_by, audit.decided_at = AuditStatus.passed.value, staff.id, now
    audit.reason = override.strip()[:500]
    audit.updated_at = now
    await log_audit(session, staff, order, "audit_pass", before, audit, override, now)
    await record_event(
        session, order.shop_id, "audit.passed",
        {"order_id": order.id, "audit_id": audit.id, "shipments": [s.id for s in shipments],
         "override": bool(override.strip()), "by": staff.id},
        at=now,
    )  # fmt: skip
    return shipments


async def do_pass_clean(
    session: AsyncSession,
    staff: StaffAccount,
    order_ids: Sequence[int],
    now: datetime | None = None,
) -> int:
    """Pass each of the orders that waits with no flag at all (the page's "pass all
    clean"); the others stay. How many passed."""
    now = now or utcnow()
    check_may_audit(staff)
    passed = 0
    for order_id in order_ids:
        audit, order = await row_for_auditor(session, staff, order_id)
        if audit.status != AuditStatus.waiting.value:
            continue
        await refresh(session, staff.shop_id, [(audit, order)])
        if audit.flags:
            continue
        try:
            async with session.begin_nested():
                await do_pass(session, staff, order_id, now=now)
        except AuditError:
            continue
        passed += 1
    return passed


def _not_open(order: Order, audit: OrderAudit) -> str:
    return say("order {number} is no longer waiting in the audit", number=order.platform_order_id)


async def log_audit(
    session: AsyncSession, staff: StaffAccount, order: Order, action: str, before: str,
    audit: OrderAudit, reason: str, now: datetime, **after: Any,
) -> None:  # fmt: skip
    await record_audit(
        session, shop_id=order.shop_id, actor=actor_label(staff), entity="order",
        entity_id=order.platform_order_id, action=action, before={"audit": before},
        after={"audit": audit.status, **after}, reason=reason[:500], at=now,
    )  # fmt: skip


# --- holding ---------------------------------------------------------------------------


async def do_hold(
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    *,
    reason: str,
    owner_id: int | None = None,
    now: datetime | None = None,
) -> OrderAudit:
    """Hold the order with a reason and an owner, an agent of the shop who must clear
    it (the order's owner when none is named)."""
    now = now or utcnow()
    audit, order = await row_for_auditor(session, staff, order_id)
    if audit.status not in OPEN:
        raise AuditError(_not_open(order, audit))
    reason = " ".join(reason.split())
    if not reason:
        raise AuditError(say("say why the order is held"))
    owner_id = owner_id if owner_id is not None else order.owner_id
    if owner_id is None:
        raise AuditError(say("choose who must clear the hold"))
    owner = await session.get(StaffAccount, owner_id)
    if owner is None or owner.shop_id != order.shop_id or not owner.active:
        raise AuditError(say("choose who must clear the hold"))
    if not owner.has_role("agent", *AUDITORS):
        raise AuditError(say("a hold is cleared by an agent, an auditor or a leader"))
    before = audit.status
    audit.status, audit.reason, audit.owner_id = AuditStatus.held.value, reason[:500], owner.id
    audit.decided_by, audit.decided_at, audit.updated_at = staff.id, now, now
    await log_audit(session, staff, order, "audit_hold", before, audit, reason, now,
               owner=owner.number or owner.username)  # fmt: skip
    await record_event(
        session, order.shop_id, "audit.held",
        {"order_id": order.id, "number": order.platform_order_id, "audit_id": audit.id,
         "owner_id": owner.id, "by": staff.id},
        at=now,
    )  # fmt: skip
    return audit


async def do_release_hold(
    session: AsyncSession, staff: StaffAccount, order_id: int, *, now: datetime | None = None
) -> OrderAudit:
    """Back to waiting: by the hold's owner (done what it asked) or an auditor."""
    now = now or utcnow()
    audit, order = await queue_row(session, staff, order_id)
    if not (staff.has_role(*AUDITORS) or audit.owner_id == staff.id):
        raise AuditForbidden(say("only the hold's owner or an auditor clears a hold"))
    audit = await lock_row(session, audit)
    if audit.status != AuditStatus.held.value:
        raise AuditError(say("order {number} is not held", number=order.platform_order_id))
    audit.status, audit.updated_at = AuditStatus.waiting.value, now
    await refresh(session, order.shop_id, [(audit, order)])
    await log_audit(session, staff, order, "audit_release", AuditStatus.held.value, audit, "", now)
    await record_event(
        session, order.shop_id, "audit.released",
        {"order_id": order.id, "audit_id": audit.id, "owner_id": audit.owner_id, "by": staff.id},
        at=now,
    )  # fmt: skip
    return audit


# --- merge and split --------------------------------------------------------------------


def _same_place(a: Order, b: Order) -> bool:
    def norm(text: str) -> str:
        return "".join(text.split())

    return (
        norm(a.receiver_name) == norm(b.receiver_name)
        and norm(a.receiver_phone) == norm(b.receiver_phone)
        and norm(a.receiver_address) == norm(b.receiver_address)
    )


async def do_merge(
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    others: Sequence[int],
    *,
    now: datetime | None = None,
) -> list[int]:
    """One buyer's paid orders to one address ship in one parcel: the others ride in
    ``order_id``'s (the lead). Refused across buyers or addresses."""
    now = now or utcnow()
    audit, lead = await row_for_auditor(session, staff, order_id)
    if audit.status not in OPEN:
        raise AuditError(_not_open(lead, audit))
    ids = [i for i in dict.fromkeys(others) if i != lead.id]
    if not ids:
        raise AuditError(say("choose the orders to merge into this one"))
    rows = [await row_for_auditor(session, staff, i) for i in ids]
    for row, order in rows:
        if row.status not in OPEN:
            raise AuditError(_not_open(order, row))
        if order.customer_id != lead.customer_id or order.customer_id is None:
            raise AuditError(
                say("order {number} is another buyer's", number=order.platform_order_id)
            )
        if not _same_place(order, lead):
            raise AuditError(
                say("order {number} goes to another address", number=order.platform_order_id)
            )
    for row, order in rows:
        before = row.status
        row.status, row.merged_into, row.updated_at = AuditStatus.merged.value, lead.id, now
        row.decided_by, row.decided_at = staff.id, now
        await log_audit(session, staff, order, "audit_merge", before, row, "", now,
                   into=lead.platform_order_id)  # fmt: skip
    # those merged into the others come along
    await session.execute(
        update(OrderAudit)
        .where(OrderAudit.merged_into.in_(ids))
        .values(merged_into=lead.id, updated_at=now)
    )
    merged = [order.id for _, order in rows]
    await record_event(
        session, lead.shop_id, "audit.merged",
        {"order_id": lead.id, "merged": merged, "by": staff.id}, at=now,
    )  # fmt: skip
    return merged


async def do_split(
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    plan: dict[int, int],
    *,
    override: str = "",
    now: datetime | None = None,
) -> list[Shipment]:
    """Ship the order's lines from the locations chosen (item id → location), one
    parcel per location. A waiting order passes so (``override`` as for a pass); a
    passed one whose parcels are not yet packed has them made again."""
    now = now or utcnow()
    audit, order = await row_for_auditor(session, staff, order_id)
    if audit.status in OPEN:
        return await do_pass(session, staff, order_id, plan=plan, override=override, now=now)
    if audit.status != AuditStatus.passed.value:
        raise AuditError(_not_open(order, audit))
    parcels = await shipments_with(session, order.id)
    lines = list(
        await session.scalars(
            select(ShipmentLine).where(ShipmentLine.shipment_id.in_([s.id for s in parcels]))
        )
    )
    live = [s for s in parcels if s.status != ShipmentStatus.cancelled.value]
    if any(s.status != ShipmentStatus.picking.value for s in live) or any(
        line.packed for line in lines
    ):
        raise AuditError(say("the parcel is being packed: it can no longer be split"))
    group = await _group(session, order)
    items = await _items(session, group)
    chosen = await _check_manual_plan(session, order.shop_id, items, plan)
    actor = ledger.Actor(staff.id, actor_label(staff))
    try:
        async with session.begin_nested():
            for member in group:
                await take_back(session, member, "split by the auditor", actor, now, relead=False)
            shipments = await _reserve_and_ship(
                session, staff, order, group, chosen, audit.ship_by, audit.deliver_by, now
            )
    except ledger.StockError as exc:
        raise AuditError(exc.args[0]) from exc
    await log_audit(session, staff, order, "audit_split", audit.status, audit, "", now,
               shipments=[s.id for s in shipments])  # fmt: skip
    await record_event(
        session, order.shop_id, "audit.split",
        {"order_id": order.id, "shipments": [s.id for s in shipments], "by": staff.id}, at=now,
    )  # fmt: skip
    return shipments


async def merge_candidates(
    session: AsyncSession, staff: StaffAccount, audit: OrderAudit, order: Order
) -> list[Order]:
    """The buyer's other orders waiting in the queue to the same address: what the
    check page offers to merge."""
    check_may_audit(staff)
    if audit.status not in OPEN or order.customer_id is None:
        return []
    others = await session.scalars(
        select(Order)
        .join(OrderAudit, OrderAudit.order_id == Order.id)
        .where(
            Order.shop_id == order.shop_id,
            Order.customer_id == order.customer_id,
            Order.id != order.id,
            OrderAudit.status.in_(OPEN),
        )
        .order_by(Order.id)
        .limit(20)
    )
    return [other for other in others if _same_place(other, order)]
