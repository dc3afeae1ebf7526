"""The audit under load: the per-order hook stays one statement, and two auditors
passing the same order at once reserve its stock once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import MakeStaff
from tests.fulfilment.audit_helpers import paid_order, stock_floor
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.fulfilment.audit import AuditError, follow_status
from xiaoer.fulfilment.audit_actions import do_pass
from xiaoer.fulfilment.models import OrderAudit, Shipment, StockLevel
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order
from xiaoer.shops.models import Shop


@contextmanager
def counted(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements the session's connection runs meanwhile."""
    statements: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_the_hook_costs_one_statement_per_order(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        new = NewOrder(number="P-1", buyer_id="b-1", items=(NewItem("茶", 100),))
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await session.flush()
        order.status, order.paid_at = TradeStatus.WAIT_SELLER_SEND_GOODS.value, utcnow()
        await session.flush()
        with counted(session) as paid:
            await follow_status(session, order, TradeStatus.WAIT_BUYER_PAY, utcnow())
        assert len(paid) == 1 and paid[0].lstrip().upper().startswith("INSERT")
        with counted(session) as again:  # the platform says so twice: still one row
            await follow_status(session, order, TradeStatus.WAIT_BUYER_PAY, utcnow())
        assert len(again) == 1
        other = await do_create_order(session, shop_id=shop.id, new=NewOrder(
            number="P-2", buyer_id="b-2", items=(NewItem("茶", 100),)))  # fmt: skip
        await session.flush()
        other.status = TradeStatus.TRADE_CLOSED_BY_TAOBAO.value
        await session.flush()
        with counted(session) as closed:  # never queued: one read
            await follow_status(session, other, TradeStatus.WAIT_BUYER_PAY, utcnow())
        assert len(closed) == 1
        rows = await session.scalar(select(func.count()).select_from(OrderAudit))
        assert rows == 1


async def test_two_auditors_passing_one_order_at_once_reserve_it_once(
    db: Database, shop: Shop, make_staff: MakeStaff, on_postgres: bool
) -> None:
    if not on_postgres:
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    agent = await make_staff("mei", "agent")
    first = await make_staff("aud1", "auditor")
    second = await make_staff("aud2", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", writer=agent)
        await session.commit()
    start = asyncio.Event()

    async def auditor(who: Any) -> bool:
        async with db.session() as session:
            await start.wait()
            try:
                await do_pass(session, who, order.id)
                await asyncio.sleep(0.05)  # hold the row while the other waits for it
                await session.commit()
                return True
            except AuditError:
                await session.rollback()
                return False

    tasks = [asyncio.create_task(auditor(who)) for who in (first, second)]
    await asyncio.sleep(0.05)
    start.set()
    assert sorted(await asyncio.gather(*tasks)) == [False, True]
    async with db.session() as session:
        level = await session.scalar(
            select(StockLevel).where(
                StockLevel.sku_id == floor.skus["TEA-1"],
                StockLevel.location_id == floor.locations["A"],
            )
        )
        assert level is not None and level.reserved == 2
        parcels = await session.scalar(
            select(func.count()).select_from(Shipment).where(Shipment.order_id == order.id)
        )
        assert parcels == 1
        fresh = await session.get(Order, order.id)
        assert fresh is not None
