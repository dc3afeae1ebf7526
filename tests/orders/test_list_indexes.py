"""The orders list's flag index holds only the orders with a colour (migration 0044): an
imported order, which has none, writes no entry there. Grey is read from
``ix_order_list_created``, which carries the flag on PostgreSQL. The owner's filters
beside it count and list what they name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.orders.listing import OrderFilter, conditions, orders_page, orders_total
from xiaoer.orders.models import Order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

ZONE = ZoneInfo("Asia/Shanghai")
ORDERS = 3000


def _owner(n: int, agents: list[int]) -> int | None:
    return None if n % 3 == 0 else agents[n % 2]


def _flag(n: int) -> int:
    return 0 if n % 4 == 0 else n % 5 + 1


@pytest.fixture
async def filled(db: Database, shop: Shop, make_staff: MakeStaff) -> list[StaffAccount]:
    staff = [await make_staff("mei"), await make_staff("lan")]
    staff.append(await make_staff("boss", "supervisor"))
    agents = [staff[0].id, staff[1].id]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with db.session() as session:
        await session.execute(
            insert(Order),
            [
                {
                    "shop_id": shop.id, "platform_order_id": str(10_000 + n),
                    "total_fen": 100 + n, "owner_id": _owner(n, agents), "flag": _flag(n),
                    "created_at": start + timedelta(minutes=n),
                }
                for n in range(ORDERS)
            ],
        )  # fmt: skip
        await session.execute(text('ANALYZE "order"'))
        await session.commit()
    return staff


def _expected(agents: list[int], owner: object, flag: int | None) -> tuple[int, int]:
    chosen = [
        n for n in range(ORDERS)
        if (owner == "any" or _owner(n, agents) == owner)
        and (flag is None or _flag(n) == flag)
    ]  # fmt: skip
    return len(chosen), sum(100 + n for n in chosen)


@pytest.mark.parametrize(
    ("agent", "flag"),
    [("none", None), (0, None), (1, None), ("any", 0), ("any", 3), ("none", 0), (1, 0), (0, 2)],
)
async def test_owner_and_flag_filters_count_and_list_what_they_name(
    db: Database, filled: list[StaffAccount], agent: object, flag: int | None
) -> None:
    agents = [filled[0].id, filled[1].id]
    owner = None if agent == "none" else agents[agent] if isinstance(agent, int) else "any"
    chosen = OrderFilter(
        unowned=agent == "none", agent_id=owner if isinstance(owner, int) else None, flag=flag
    )
    async with db.session() as session:
        total = await orders_total(session, filled[2], chosen)
        page, _ = await orders_page(session, filled[2], chosen)
    assert total == _expected(agents, owner, flag)
    newest = [
        n for n in reversed(range(ORDERS))
        if (owner == "any" or _owner(n, agents) == owner) and (flag is None or _flag(n) == flag)
    ][:50]  # fmt: skip
    assert [int(o.platform_order_id) - 10_000 for o in page] == newest


async def _plan(db: Database, query: object) -> str:
    compiled = query.compile(  # type: ignore[attr-defined]
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    async with db.session() as session:
        # the plan a shop's million orders get, on a few thousand: no scan of the table
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            await session.execute(text(f"SET LOCAL {setting} = off"))
        return "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))


async def test_a_colour_reads_the_flag_index_and_grey_the_creation_index(
    db: Database, shop: Shop, filled: list[StaffAccount]
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the plans asked for are PostgreSQL's")
    async with db.engine.connect() as connection:  # the visibility map, as autovacuum sets it
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text('VACUUM ANALYZE "order"'))

    def page(chosen: OrderFilter) -> object:
        return (
            select(Order.id)
            .where(*conditions(shop.id, ZONE, chosen))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(50)
        )

    assert "ix_order_list_flag" in await _plan(db, page(OrderFilter(flag=3)))
    # grey, most of a shop's orders: counted from the index that carries the flag alone
    grey = select(func.count(), func.sum(Order.total_fen)).where(
        *conditions(shop.id, ZONE, OrderFilter(flag=0))
    )
    assert "Index Only Scan using ix_order_list_created" in await _plan(db, grey)
    # what the flag's index holds: only the coloured orders
    async with db.session() as session:
        held = await session.scalar(text(
            "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_order_list_flag'"
        ))  # fmt: skip
    assert held == "(flag <> 0)"
