"""``xiaoer points rebuild``: the balances recomputed from the points ledger and checked.

One ``GROUP BY`` over ``points_move`` gives what every ``points_balance`` row must be;
each difference is reported (buyer, field, what it was, what it is) and, unless only
checking, written back. On PostgreSQL the ledger is locked against new moves for the
while (``SHARE`` mode: readers go on), so the sums and the rows compared are of one
moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.events import record_event
from xiaoer.customers.models import PointsBalance, PointsMove


@dataclass(frozen=True)
class Drift:
    shop_id: int
    customer_id: int
    field: str  # pending, usable
    was: int
    is_: int

    def as_json(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "field": self.field, "was": self.was,
                "is": self.is_}  # fmt: skip


@dataclass
class RebuildReport:
    balances: int = 0  # balance rows the ledger gives
    drift: list[Drift] = field(default_factory=list)
    fixed: bool = False


async def rebuild_points(
    session: AsyncSession, shop_id: int | None = None, *, fix: bool = True
) -> RebuildReport:
    """Recompute ``points_balance`` of one shop (or all) from the ledger; report each
    difference and, with ``fix``, correct it. The caller commits."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        await session.execute(text("LOCK TABLE points_move IN SHARE MODE"))
    sums_query = select(
        PointsMove.customer_id,
        PointsMove.shop_id,
        func.sum(PointsMove.pending),
        func.sum(PointsMove.usable),
    ).group_by(PointsMove.customer_id, PointsMove.shop_id)
    have_query = select(
        PointsBalance.customer_id, PointsBalance.shop_id, PointsBalance.pending,
        PointsBalance.usable,
    )  # fmt: skip
    if shop_id is not None:
        sums_query = sums_query.where(PointsMove.shop_id == shop_id)
        have_query = have_query.where(PointsBalance.shop_id == shop_id)
    should = {
        int(c): (int(s), int(p or 0), int(u or 0))
        for c, s, p, u in (await session.execute(sums_query)).all()
    }
    have = {int(r.customer_id): r for r in await session.execute(have_query)}
    report = RebuildReport(balances=len(should))
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for customer in sorted(set(should) | set(have)):
        row = have.get(customer)
        shop, pending, usable = should.get(customer, (row.shop_id if row else 0, 0, 0))
        if row is None:
            for name, value in (("pending", pending), ("usable", usable)):
                if value:
                    report.drift.append(Drift(shop, customer, name, 0, value))
            inserts.append({"customer_id": customer, "shop_id": shop, "pending": pending,
                            "usable": usable})  # fmt: skip
            continue
        if row.pending != pending:
            report.drift.append(Drift(shop, customer, "pending", row.pending, pending))
        if row.usable != usable:
            report.drift.append(Drift(shop, customer, "usable", row.usable, usable))
        if row.pending != pending or row.usable != usable:
            updates.append({"key": customer, "pending": pending, "usable": usable})
    if fix and (updates or inserts):
        connection = await session.connection()
        table = cast(Table, PointsBalance.__table__)
        if updates:
            await connection.execute(
                update(table)
                .where(table.c.customer_id == bindparam("key"))
                .values(pending=bindparam("pending"), usable=bindparam("usable")),
                updates,
            )
        if inserts:
            await connection.execute(insert(table), inserts)
        session.expire_all()
        report.fixed = True
        for shop in sorted({d.shop_id for d in report.drift}):
            found = [d.as_json() for d in report.drift if d.shop_id == shop]
            await record_event(session, shop, "points.rebuilt",
                               {"drift": len(found), "first": found[:20]})  # fmt: skip
    return report
