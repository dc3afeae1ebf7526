"""The orders list's search by waybill reads its index on PostgreSQL, which holds only
the orders that have a waybill (migration 0042); SQLite's LIKE, which ignores case, reads
no index of a column that does not, so there the search scans the shop's orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql

from xiaoer.core.db import Database
from xiaoer.orders.listing import OrderFilter, conditions
from xiaoer.orders.models import Order
from xiaoer.shops.models import Shop


async def test_a_waybill_search_reads_the_index_of_orders_with_a_waybill(
    db: Database, shop: Shop
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with db.session() as session:
        await session.execute(
            insert(Order),
            [
                {
                    "shop_id": shop.id, "platform_order_id": str(10_000 + n),
                    "buyer_nick": f"nick{n}", "receiver_name": f"name{n}",
                    "tracking_number": f"SF{n:012d}" if n % 3 else "",
                    "created_at": start + timedelta(minutes=n),
                }
                for n in range(3000)
            ],
        )  # fmt: skip
        await session.execute(text('ANALYZE "order"'))
        await session.commit()
    query = select(Order.id).where(*conditions(shop.id, ZoneInfo("Asia/Shanghai"),
                                               OrderFilter(q="sf000000000124")))  # fmt: skip
    async with db.session() as session:
        found = list(await session.scalars(query))
    assert len(found) == 1  # SF000000000124 (order 124 has a waybill: 124 % 3)
    if db.dialect != "postgresql":
        return
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    async with db.session() as session:
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_order_search_waybill" in plan, plan
