"""The demo shop's warehouse, made through the services as the back office makes it.

Two warehouses and a damaged corner, stocked by purchase receipts; a finished
stock-take of the second warehouse (one difference counted again before it posted);
the audit queue with orders passed, one held and the rest waiting; parcels packed and
shipped with waybills (their buyers told in their chats), tracked on their way — one
signed for, one stuck with the carrier as a problem parcel with its case — and one
passed order late to leave the warehouse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Sku
from xiaoer.core.clock import as_utc
from xiaoer.core.db import Database
from xiaoer.fulfilment.audit import AuditError, sync_queue
from xiaoer.fulfilment.audit_actions import do_hold, do_pass
from xiaoer.fulfilment.carriers import BY_CODE
from xiaoer.fulfilment.ledger import StockError
from xiaoer.fulfilment.models import (
    AuditStatus,
    LocationKind,
    OrderAudit,
    ProductionSlip,
    Shipment,
    ShipmentLine,
    SlipStatus,
    Stage,
)
from xiaoer.fulfilment.production import do_mark_made
from xiaoer.fulfilment.shipping import do_pack, do_ship
from xiaoer.fulfilment.stock import Qty, do_add_location, do_receive
from xiaoer.fulfilment.stocktake import do_enter_counts, do_post_take, do_start_take, lines_of
from xiaoer.fulfilment.tracking import Scan, do_record_scans
from xiaoer.orders.models import Order
from xiaoer.staff.models import StaffAccount

OVERRIDE = "已与买家核对备注与地址"  # the auditor's reason when passing over a warning


@dataclass(frozen=True)
class WarehouseSummary:
    locations: int
    receipts: int
    passed: int
    shipped: int
    held: int


async def _staff(session: AsyncSession, staff_id: int) -> StaffAccount:
    account = await session.get(StaffAccount, staff_id)
    assert account is not None
    return account


async def _stock_up(
    session: AsyncSession, rng: random.Random, shop_id: int, keeper: StaffAccount
) -> tuple[int, int, int]:
    """The catalogue's stock figures become two receipts, most of it in the first
    warehouse; the ids of the two sellable places and how many receipts."""
    rows = await session.execute(select(Sku.id, Sku.stock).where(Sku.shop_id == shop_id))
    figures: dict[int, int] = {sku: units for sku, units in rows}
    # The ledger is the only way stock comes in: the figures start at nothing.
    await session.execute(update(Sku).where(Sku.shop_id == shop_id).values(stock=0))
    first = await do_add_location(session, keeper, code="A", name="一号仓", position=1)
    second = await do_add_location(session, keeper, code="B", name="二号仓", position=2)
    await do_add_location(session, keeper, code="damaged", name="残次区",
                          kind=LocationKind.damaged.value, position=9)  # fmt: skip
    into_first = [Qty(sku, units - units // 3) for sku, units in sorted(figures.items()) if units]
    into_second = [Qty(sku, units // 3) for sku, units in sorted(figures.items()) if units // 3]
    await do_receive(session, keeper, location_id=first.id, lines=into_first,
                     number=f"RK{rng.randint(100000, 999999)}", supplier="绍兴柯桥布艺厂",
                     note="季度补货")  # fmt: skip
    await do_receive(session, keeper, location_id=second.id, lines=into_second,
                     number=f"RK{rng.randint(100000, 999999)}", supplier="杭州余杭纺织",
                     note="季度补货")  # fmt: skip
    return first.id, second.id, 2


async def _count_second_warehouse(
    session: AsyncSession, keeper: StaffAccount, location_id: int
) -> None:
    """A stock-take of the second warehouse: one unit short on a shelf, four on
    another (over the recount threshold: counted again, three), then posted."""
    take = await do_start_take(session, keeper, location_id=location_id, note="月末盘点")
    views = [view.line for view in await lines_of(session, take)]
    counts = {line.sku_id: line.expected for line in views}
    stocked = [line for line in views if line.expected >= 5]
    if len(stocked) >= 2:
        counts[stocked[0].sku_id] -= 1
        counts[stocked[1].sku_id] -= 4
    await do_enter_counts(session, keeper, take.id, counts)
    if len(stocked) >= 2:
        await do_enter_counts(
            session, keeper, take.id, {stocked[1].sku_id: stocked[1].expected - 3}
        )
    await do_post_take(session, keeper, take.id)


def _waybill(carrier: str, n: int) -> str:
    """The demo's ``n``-th waybill, of the carrier's shape (``docs/api.md`` pushes scans
    for the second: SF100000000002)."""
    digits = f"{100000000000 + n:012d}"
    shaped = {"SF": "SF" + digits, "YTO": "YT" + digits + "0", "EMS": "1" + digits,
              "POSTB": "9" + digits, "JD": "JD" + digits + "0", "JTSD": "JT" + digits + "0",
              "DBL": "DPK" + digits}  # fmt: skip
    return shaped.get(carrier, digits + "0")


async def _pack_and_ship(
    session: AsyncSession, keeper: StaffAccount, parcel: Shipment, at: datetime, n: int
) -> None:
    lines = list(
        await session.scalars(select(ShipmentLine).where(ShipmentLine.shipment_id == parcel.id))
    )
    slips = await session.scalars(
        select(ProductionSlip.id).where(
            ProductionSlip.order_id.in_({line.order_id for line in lines}),
            ProductionSlip.status == SlipStatus.sent.value,
        )
    )
    for slip in list(slips):  # made to order: production finished it the day before
        await do_mark_made(session, keeper, slip, now=at - timedelta(hours=20))
    for line in lines:
        await do_pack(session, keeper, parcel, line.sku_code, line.quantity, now=at)
    carrier = parcel.carrier if parcel.carrier in BY_CODE else "SF"
    await do_ship(session, keeper, parcel, carrier, _waybill(carrier, n), now=at)


def _scans(shipped: datetime, stages: Sequence[tuple[float, Stage, str, str]]) -> list[Scan]:
    return [
        Scan(shipped + timedelta(hours=h), stage, place, text) for h, stage, place, text in stages
    ]


# The road of the parcels the demo tracks: hours after shipping, stage, place, words.
SIGNED = [
    (2, Stage.picked_up, "浙江杭州", "快递员已揽收"),
    (9, Stage.in_transit, "杭州转运中心", "已发往上海转运中心"),
    (20, Stage.out_for_delivery, "上海浦东", "派件员正在派送"),
    (23, Stage.signed, "上海浦东", "已签收，签收人：本人"),
]
ON_THE_WAY = [
    (3, Stage.picked_up, "浙江杭州", "快递员已揽收"),
    (11, Stage.in_transit, "杭州转运中心", "已发往成都转运中心"),
]
STUCK = [
    (2, Stage.picked_up, "浙江杭州", "快递员已揽收"),
    (30, Stage.problem, "武汉转运中心", "包裹外包装破损，待处理"),
]


async def seed_warehouse(
    db: Database, rng: random.Random, shop_id: int, base: datetime, staff_ids: dict[str, int]
) -> WarehouseSummary:
    async with db.session() as session:
        keeper = await _staff(session, staff_ids["warehouse"])
        _first, second, receipts = await _stock_up(session, rng, shop_id, keeper)
        await session.commit()
    async with db.session() as session:
        keeper = await _staff(session, staff_ids["warehouse"])
        await _count_second_warehouse(session, keeper, second)
        await session.commit()
    async with db.session() as session:
        auditor = await _staff(session, staff_ids["auditor"])
        keeper = await _staff(session, staff_ids["warehouse"])
        await sync_queue(session, shop_id, now=base)
        queued = await session.execute(
            select(OrderAudit.order_id, Order.paid_at, Order.owner_id)
            .join(Order, Order.id == OrderAudit.order_id)
            .where(OrderAudit.shop_id == shop_id, OrderAudit.status == AuditStatus.waiting.value)
            .order_by(Order.paid_at, Order.id)
        )
        waiting = [(row.order_id, row.paid_at, row.owner_id) for row in queued]
        passed: list[Shipment] = []
        for order_id, paid_at, _owner in waiting[:10]:
            at = max(paid_at or base, base - timedelta(days=4)) + timedelta(hours=1)
            try:
                async with session.begin_nested():
                    passed.extend(
                        await do_pass(
                            session, auditor, order_id, override=OVERRIDE, now=min(at, base)
                        )
                    )
            except (AuditError, StockError):
                continue  # short of stock: it waits in the queue, as it would
        held = 0
        for order_id, _paid, owner in waiting[10:]:
            if owner is None:
                continue
            await do_hold(session, auditor, order_id, reason="买家要求改地址，等客服确认新地址",
                          owner_id=owner, now=base)  # fmt: skip
            held = 1
            break
        # The oldest passed parcel stays on the shelf: late to leave. The next four ship.
        shipped = passed[1:5]
        for n, parcel in enumerate(shipped, start=1):
            at = min(base - timedelta(hours=30), as_utc(parcel.created_at) + timedelta(hours=2))
            await _pack_and_ship(session, keeper, parcel, at, n)
        roads = [SIGNED, ON_THE_WAY, STUCK]
        for parcel, road in zip(shipped, roads, strict=False):
            assert parcel.shipped_at is not None
            await do_record_scans(session, parcel, _scans(as_utc(parcel.shipped_at), road),
                                  source="demo", now=base)  # fmt: skip
        await session.commit()
    return WarehouseSummary(
        locations=3, receipts=receipts, passed=len(passed), shipped=len(shipped), held=held
    )
