"""``xiaoer stock rebuild``: the projections recomputed from the ledger and checked.

One ``GROUP BY`` over ``stock_move`` gives what every ``stock_level`` row and every
``sku.stock`` must be; each difference is reported (SKU, location, what it was, what it
is) and, unless only checking, written back. On PostgreSQL the ledger is locked against
new moves for the while (``SHARE`` mode: readers go on), so the sums and the rows
compared are of one moment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.fulfilment.models import LocationKind, StockLevel, StockLocation, StockMove


@dataclass(frozen=True)
class Drift:
    shop_id: int
    sku: str  # the SKU's code
    location: str  # the location's code; "" for the SKU's sellable stock (sku.stock)
    field: str  # on_hand, reserved, stock
    was: int
    is_: int

    def as_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "location": self.location, "field": self.field,
                "was": self.was, "is": self.is_}  # fmt: skip


@dataclass
class RebuildReport:
    levels: int = 0  # level rows the ledger gives
    drift: list[Drift] = field(default_factory=list)
    fixed: bool = False


async def rebuild(
    session: AsyncSession, shop_id: int | None = None, *, fix: bool = True
) -> RebuildReport:
    """Recompute ``stock_level`` and ``sku.stock`` of one shop (or all) from the ledger;
    report each difference and, with ``fix``, correct it. The caller commits."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        await session.execute(text("LOCK TABLE stock_move IN SHARE MODE"))
    sums_query = select(
        StockMove.shop_id,
        StockMove.sku_id,
        StockMove.location_id,
        func.sum(StockMove.on_hand_delta),
        func.sum(StockMove.reserved_delta),
    ).group_by(StockMove.shop_id, StockMove.sku_id, StockMove.location_id)
    levels_query = select(
        StockLevel.id, StockLevel.shop_id, StockLevel.sku_id, StockLevel.location_id,
        StockLevel.on_hand, StockLevel.reserved,
    )  # fmt: skip
    skus_query = select(Sku.id, Sku.shop_id, Sku.code, Sku.stock)
    places_query = select(StockLocation.id, StockLocation.code, StockLocation.kind)
    if shop_id is not None:
        sums_query = sums_query.where(StockMove.shop_id == shop_id)
        levels_query = levels_query.where(StockLevel.shop_id == shop_id)
        skus_query = skus_query.where(Sku.shop_id == shop_id)
        places_query = places_query.where(StockLocation.shop_id == shop_id)
    should: dict[tuple[int, int], tuple[int, int, int]] = {}
    for shop, sku, loc, hand, held in (await session.execute(sums_query)).all():
        should[(sku, loc)] = (shop, int(hand or 0), int(held or 0))
    have = {(row.sku_id, row.location_id): row for row in (await session.execute(levels_query))}
    skus = {row.id: row for row in await session.execute(skus_query)}
    places = {row.id: row for row in await session.execute(places_query)}
    sellable = {pid for pid, row in places.items() if row.kind == LocationKind.stock.value}

    report = RebuildReport(levels=len(should))
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    now = utcnow()
    for key in sorted(set(should) | set(have)):
        sku, loc = key
        row = have.get(key)
        shop, hand, held = should.get(key, (row.shop_id if row is not None else 0, 0, 0))
        code, place = skus[sku].code if sku in skus else str(sku), places[loc].code
        if row is None:
            if hand or held:
                report.drift.append(Drift(shop, code, place, "on_hand", 0, hand))
                if held:
                    report.drift.append(Drift(shop, code, place, "reserved", 0, held))
            inserts.append({"shop_id": shop, "sku_id": sku, "location_id": loc,
                            "on_hand": hand, "reserved": held, "updated_at": now})  # fmt: skip
            continue
        if row.on_hand != hand:
            report.drift.append(Drift(shop, code, place, "on_hand", row.on_hand, hand))
        if row.reserved != held:
            report.drift.append(Drift(shop, code, place, "reserved", row.reserved, held))
        if row.on_hand != hand or row.reserved != held:
            updates.append({"level_id": row.id, "on_hand": hand, "reserved": held,
                            "updated_at": now})  # fmt: skip

    free: dict[int, int] = defaultdict(int)
    for (sku, loc), (_, hand, held) in should.items():
        if loc in sellable:
            free[sku] += hand - held
    stock_updates: list[dict[str, Any]] = []
    for sku, item in sorted(skus.items()):
        if item.stock != free.get(sku, 0):
            report.drift.append(Drift(item.shop_id, item.code, "", "stock", item.stock, free[sku]))
            stock_updates.append({"sku_key": sku, "stock": free[sku]})

    if fix and (updates or inserts or stock_updates):
        connection = await session.connection()
        if updates:
            level = cast(Table, StockLevel.__table__)
            await connection.execute(
                update(level)
                .where(level.c.id == bindparam("level_id"))
                .values(on_hand=bindparam("on_hand"), reserved=bindparam("reserved"),
                        updated_at=bindparam("updated_at")),
                updates,
            )  # fmt: skip
        if inserts:
            await connection.execute(insert(cast(Table, StockLevel.__table__)), inserts)
        if stock_updates:
            sku_table = cast(Table, Sku.__table__)
            await connection.execute(
                update(sku_table)
                .where(sku_table.c.id == bindparam("sku_key"))
                .values(stock=bindparam("stock")),
                stock_updates,
            )
        report.fixed = True
        for shop in sorted({d.shop_id for d in report.drift}):
            found = [d.as_json() for d in report.drift if d.shop_id == shop]
            await record_event(session, shop, "stock.rebuilt",
                               {"drift": len(found), "first": found[:20]})  # fmt: skip
    return report
