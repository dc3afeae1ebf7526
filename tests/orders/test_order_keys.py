"""An order's shop and buyer, and an item's order, hold as foreign keys do.

On SQLite they are foreign keys; on PostgreSQL triggers check them once per statement
and do their actions on delete (migration 0041). The same tests hold on both, and on
PostgreSQL two transactions at once: an order whose item is being written cannot be
deleted from under it, nor an item written for an order being deleted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.orders.models import Order, OrderItem
from xiaoer.sellercentre.ingest import driver_of
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
MISSING = 987_654


async def _buyer(db: Database, shop: Shop, nick: str) -> int:
    async with db.session() as session:
        buyer_id = await session.scalar(
            insert(Customer)
            .values(shop_id=shop.id, channel="taobao", buyer_id=nick, nick=nick, tags=[],
                    created_at=NOW)
            .returning(Customer.id)
        )  # fmt: skip
        await session.commit()
    assert buyer_id is not None
    return int(buyer_id)


async def _orders(
    db: Database, shop: Shop, numbers: list[str], customer_id: int | None = None
) -> list[int]:
    """The orders, written in one statement, each with two items (another)."""
    async with db.session() as session:
        ids = list(
            await session.scalars(
                insert(Order)
                .values([
                    {"shop_id": shop.id, "platform_order_id": n, "customer_id": customer_id,
                     "created_at": NOW}
                    for n in numbers
                ])
                .returning(Order.id)
            )
        )  # fmt: skip
        await session.execute(
            insert(OrderItem),
            [{"order_id": i, "title": f"item {k}", "price_fen": 100} for i in ids for k in (1, 2)],
        )
        await session.commit()
    return ids


async def _count(db: Database, query: object) -> int:
    async with db.session() as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


async def _refused(db: Database, statement: object) -> None:
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            await session.execute(statement)  # type: ignore[call-overload]
            await session.flush()
            await session.commit()


def _items_of(order_ids: list[int]) -> object:
    return select(func.count()).select_from(OrderItem).where(OrderItem.order_id.in_(order_ids))


async def test_an_item_of_an_order_that_does_not_exist_is_refused_with_its_statement(
    db: Database, shop: Shop
) -> None:
    [order_id] = await _orders(db, shop, ["1001"])
    rows = [{"order_id": order_id, "title": "fine", "price_fen": 1},
            {"order_id": MISSING, "title": "orphan", "price_fen": 1}]  # fmt: skip
    await _refused(db, insert(OrderItem).values(rows))
    assert await _count(db, _items_of([order_id, MISSING])) == 2  # the first two only
    await _refused(db, update(OrderItem).where(OrderItem.order_id == order_id)
                   .values(order_id=MISSING))  # fmt: skip
    assert await _count(db, _items_of([order_id])) == 2
    if db.dialect == "postgresql":  # an import's COPY, checked as a statement too
        async with db.session() as session:
            driver = await driver_of(session)
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await driver.copy_records_to_table(
                    "order_item",
                    records=[(order_id, "", "fine", "", 1, 1), (MISSING, "", "orphan", "", 1, 1)],
                    columns=("order_id", "sku_code", "title", "sku_text", "price_fen", "quantity"),
                )
        assert await _count(db, _items_of([order_id, MISSING])) == 2


async def test_an_order_of_a_shop_or_buyer_that_does_not_exist_is_refused(
    db: Database, shop: Shop
) -> None:
    buyer = await _buyer(db, shop, "lin")
    await _refused(db, insert(Order).values(shop_id=MISSING, platform_order_id="2001"))
    await _refused(db, insert(Order).values(shop_id=shop.id, platform_order_id="2002",
                                            customer_id=MISSING))  # fmt: skip
    fine = await _orders(db, shop, ["2003", "2004"], customer_id=buyer)
    await _orders(db, shop, ["2005"])  # no buyer: nothing to check
    await _refused(db, update(Order).where(Order.id == fine[0]).values(customer_id=MISSING))
    await _refused(db, update(Order).where(Order.id == fine[0]).values(shop_id=MISSING))
    assert await _count(db, select(func.count()).select_from(Order)) == 3
    other = await _buyer(db, shop, "wu")
    async with db.session() as session:  # a buyer that exists is taken
        await session.execute(update(Order).where(Order.id == fine[0]).values(customer_id=other))
        await session.commit()


async def test_deleting_an_order_a_buyer_or_a_shop_does_what_the_key_says(
    db: Database, shop: Shop
) -> None:
    buyer = await _buyer(db, shop, "zhao")
    first, second = await _orders(db, shop, ["3001", "3002"], customer_id=buyer)
    async with db.session() as session:
        await session.execute(delete(Order).where(Order.id == first))
        await session.commit()
    assert await _count(db, _items_of([first])) == 0
    assert await _count(db, _items_of([second])) == 2

    async with db.session() as session:  # the buyer's orders stay, with no buyer
        await session.execute(delete(Customer).where(Customer.id == buyer))
        await session.commit()
    async with db.session() as session:
        assert await session.scalar(select(Order.customer_id).where(Order.id == second)) is None

    async with db.session() as session:
        other = await do_create_shop(session, code="other", name="隔壁小铺")
        await session.commit()
    kept = await _orders(db, other, ["3003"])
    async with db.session() as session:  # the shop's orders and their items go with it
        await session.execute(delete(Shop).where(Shop.id == shop.id))
        await session.commit()
    assert await _count(db, select(func.count()).select_from(Order)) == 1
    assert await _count(db, _items_of([second])) == 0
    assert await _count(db, _items_of(kept)) == 2


async def test_a_referenced_id_is_not_changed(db: Database, shop: Shop) -> None:
    [order_id] = await _orders(db, shop, ["4001"])
    await _refused(db, update(Order).where(Order.id == order_id).values(id=MISSING))
    [bare] = await _orders(db, shop, ["4002"])
    async with db.session() as session:
        await session.execute(delete(OrderItem).where(OrderItem.order_id == bare))
        await session.execute(update(Order).where(Order.id == bare).values(id=MISSING))
        await session.commit()


async def test_an_order_and_the_writing_of_its_items_wait_for_each_other(
    db: Database, shop: Shop
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    first, second = await _orders(db, shop, ["5001", "5002"])

    # An item being written keeps its order: the order's deletion waits for it, and then
    # takes the new item with it.
    async with db.session() as writing, db.session() as deleting:
        await writing.execute(insert(OrderItem).values(order_id=first, title="late", price_fen=1))
        gone = asyncio.ensure_future(deleting.execute(delete(Order).where(Order.id == first)))
        await asyncio.sleep(0.5)
        assert not gone.done()
        await writing.commit()
        await gone
        await deleting.commit()
    assert await _count(db, _items_of([first])) == 0

    # An order being deleted: an item written for it waits, then is refused.
    async with db.session() as deleting, db.session() as writing:
        await deleting.execute(delete(Order).where(Order.id == second))
        added = asyncio.ensure_future(
            writing.execute(insert(OrderItem).values(order_id=second, title="x", price_fen=1))
        )
        await asyncio.sleep(0.5)
        assert not added.done()
        await deleting.commit()
        with pytest.raises(IntegrityError):
            await added
    assert await _count(db, _items_of([second])) == 0
