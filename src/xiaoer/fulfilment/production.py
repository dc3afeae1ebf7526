"""Production slips (制作单, O9): a custom order's exact spec, sent when it passes audit.

The slip copies what production needs at the moment of passing — the seller note's
fields and the custom items with their codes, options and quantities — so a later
edit of the note cannot change what was sent. Production marks it made; until then
the order's parcel may not be packed (:func:`production_ready`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.fulfilment.models import OrderAudit, ProductionSlip, SlipStatus
from xiaoer.fulfilment.roles import AUDITORS, WAREHOUSE
from xiaoer.orders.models import Order, OrderItem
from xiaoer.staff.models import StaffAccount


class SlipError(ValueError):
    pass


class SlipNotFound(NotFound):
    pass


class SlipForbidden(NotPermitted):
    pass


SLIP_READERS = tuple(dict.fromkeys((*AUDITORS, *WAREHOUSE)))


async def _custom_items(session: AsyncSession, order_id: int) -> list[OrderItem]:
    return list(
        await session.scalars(
            select(OrderItem)
            .join(Sku, Sku.id == OrderItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(OrderItem.order_id == order_id, Product.custom_made.is_(True))
            .order_by(OrderItem.id)
        )
    )


async def slip_for_custom(
    session: AsyncSession,
    order: Order,
    audit: OrderAudit | None,
    staff: StaffAccount,
    now: datetime | None = None,
) -> ProductionSlip | None:
    """The order's slip when it has custom items (one per order; passing again after
    a split keeps the slip already sent)."""
    now = now or utcnow()
    items = await _custom_items(session, order.id)
    if not items:
        return None
    sent = await session.scalar(
        select(ProductionSlip).where(
            ProductionSlip.order_id == order.id,
            ProductionSlip.status != SlipStatus.cancelled.value,
        )
    )
    if sent is not None:
        return sent
    checks = audit.checks if audit is not None else {}
    spec: dict[str, Any] = {
        "order": order.platform_order_id,
        "receiver": order.receiver_name,
        "note": checks.get("note"),
        "note_text": checks.get("note_text", ""),
        "items": [
            {"code": i.sku_code, "title": i.title, "options": i.sku_text, "quantity": i.quantity}
            for i in items
        ],
        "ship_by": audit.ship_by.isoformat() if audit is not None and audit.ship_by else None,
    }
    slip = ProductionSlip(
        shop_id=order.shop_id, order_id=order.id, spec=spec, status=SlipStatus.sent.value,
        created_by=staff.id, created_at=now,
    )  # fmt: skip
    session.add(slip)
    await session.flush()
    await record_event(
        session, order.shop_id, "slip.sent",
        {"slip_id": slip.id, "order_id": order.id, "by": staff.id}, at=now,
    )  # fmt: skip
    return slip


async def cancel_slips(session: AsyncSession, order_id: int) -> None:
    """The order will not ship: its slips not yet made are withdrawn."""
    await session.execute(
        update(ProductionSlip)
        .where(ProductionSlip.order_id == order_id, ProductionSlip.status == SlipStatus.sent.value)
        .values(status=SlipStatus.cancelled.value)
    )


async def production_ready(session: AsyncSession, order_id: int) -> bool:
    """Whether the order's goods are ready to pack: no slip of it still in production."""
    waiting = await session.scalar(
        select(ProductionSlip.id)
        .where(ProductionSlip.order_id == order_id, ProductionSlip.status == SlipStatus.sent.value)
        .limit(1)
    )
    return waiting is None


def check_may_read_slips(staff: StaffAccount) -> None:
    if not staff.has_role(*SLIP_READERS):
        raise SlipForbidden(say("production slips are for auditors, the warehouse and leaders"))


async def slip_for(
    session: AsyncSession, staff: StaffAccount, slip_id: int
) -> tuple[ProductionSlip, Order]:
    slip = await session.get(ProductionSlip, slip_id)
    if slip is None or slip.shop_id != staff.shop_id:
        raise SlipNotFound(say("no production slip {slip_id} in this shop", slip_id=slip_id))
    check_may_read_slips(staff)
    order = await session.get(Order, slip.order_id)
    assert order is not None
    return slip, order


async def do_mark_made(
    session: AsyncSession, staff: StaffAccount, slip_id: int, now: datetime | None = None
) -> ProductionSlip:
    """Production finished the goods: the warehouse (or a leader) marks the slip made."""
    now = now or utcnow()
    slip, order = await slip_for(session, staff, slip_id)
    if not staff.has_role(*WAREHOUSE):
        raise SlipForbidden(say("the warehouse or a leader marks a slip made"))
    if slip.status == SlipStatus.made.value:
        return slip
    if slip.status != SlipStatus.sent.value:
        raise SlipError(say("this slip was withdrawn: its order will not ship"))
    slip.status, slip.made_at = SlipStatus.made.value, now
    await record_audit(
        session, shop_id=order.shop_id, actor=staff.number or staff.username, entity="order",
        entity_id=order.platform_order_id, action="slip_made",
        before={"slip": SlipStatus.sent.value}, after={"slip": slip.status}, at=now,
    )  # fmt: skip
    await record_event(
        session, order.shop_id, "slip.made",
        {"slip_id": slip.id, "order_id": order.id, "by": staff.id}, at=now,
    )  # fmt: skip
    return slip


@dataclass(frozen=True)
class SlipRow:
    slip: ProductionSlip
    order: Order


async def slips_of(
    session: AsyncSession, staff: StaffAccount, status: str = "", *, limit: int, offset: int = 0
) -> list[SlipRow]:
    """The shop's slips, those still in production first, then the newest."""
    check_may_read_slips(staff)
    query = (
        select(ProductionSlip, Order)
        .join(Order, Order.id == ProductionSlip.order_id)
        .where(ProductionSlip.shop_id == staff.shop_id)
    )
    if status:
        query = query.where(ProductionSlip.status == status)
    query = query.order_by(ProductionSlip.id.desc()).limit(limit).offset(offset)
    return [SlipRow(s, o) for s, o in (await session.execute(query)).all()]
