"""The ledger: moves within bounds, projections kept, the last units reserved once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.fulfilment.ledger import Document, Line, StockError, post
from xiaoer.fulfilment.models import LocationKind, MoveKind, StockLevel, StockLocation, StockMove
from xiaoer.shops.models import Shop


async def _stocked(db: Database, shop: Shop, units: int) -> tuple[int, int, int]:
    """A SKU with ``units`` received at a sellable place, and a damaged place."""
    async with db.session() as session:
        product = Product(shop_id=shop.id, code="P1", title="棉麻窗帘", price_fen=9900)
        session.add(product)
        await session.flush()
        sku = Sku(shop_id=shop.id, product_id=product.id, code="P1-W", price_fen=9900, stock=0)
        main = StockLocation(shop_id=shop.id, code="A", name="一号仓", position=1)
        broken = StockLocation(shop_id=shop.id, code="X", name="残次区", kind=LocationKind.damaged)
        session.add_all([sku, main, broken])
        await session.flush()
        await post(session, shop.id, MoveKind.receive, [Line(sku.id, main.id, units)],
                   document=Document("receipt", ref="R-1"))  # fmt: skip
        await session.commit()
        return sku.id, main.id, broken.id


async def _level(db: Database, sku_id: int, location_id: int) -> tuple[int, int, int]:
    async with db.session() as session:
        level = await session.scalar(
            select(StockLevel).where(
                StockLevel.sku_id == sku_id, StockLevel.location_id == location_id
            )
        )
        sku = await session.get(Sku, sku_id)
        assert level is not None and sku is not None
        return level.on_hand, level.reserved, sku.stock


async def test_moves_keep_their_projections(db: Database, shop: Shop) -> None:
    sku, main, broken = await _stocked(db, shop, 10)
    assert await _level(db, sku, main) == (10, 0, 10)
    order = Document("order", ref="3362")
    async with db.session() as session:
        await post(session, shop.id, MoveKind.reserve, [Line(sku, main, 4)], document=order)
        await post(session, shop.id, MoveKind.ship, [Line(sku, main, 3)], document=order)
        await post(session, shop.id, MoveKind.release, [Line(sku, main, 1)], document=order)
        await post(session, shop.id, MoveKind.return_, [Line(sku, broken, 1)],
                   document=Document("return", ref="refund 1"))  # fmt: skip
        await session.commit()
    assert await _level(db, sku, main) == (7, 0, 7)
    assert (await _level(db, sku, broken))[:2] == (1, 0)  # damaged goods are not for sale
    async with db.session() as session:
        sums = (
            await session.execute(
                select(func.sum(StockMove.on_hand_delta), func.sum(StockMove.reserved_delta)).where(
                    StockMove.sku_id == sku, StockMove.location_id == main
                )
            )
        ).one()
    assert tuple(sums) == (7, 0)


async def test_a_move_beyond_the_stock_is_refused_and_changes_nothing(
    db: Database, shop: Shop
) -> None:
    sku, main, _ = await _stocked(db, shop, 2)
    async with db.session() as session:
        with pytest.raises(StockError, match="not enough stock"):
            await post(session, shop.id, MoveKind.reserve, [Line(sku, main, 3)],
                       document=Document("order"))  # fmt: skip
        with pytest.raises(StockError, match="reserved"):
            await post(session, shop.id, MoveKind.ship, [Line(sku, main, 1)],
                       document=Document("shipment"))  # fmt: skip
        with pytest.raises(StockError, match="below"):
            await post(session, shop.id, MoveKind.adjust, [Line(sku, main, -3)],
                       document=Document("adjust"))  # fmt: skip
        with pytest.raises(StockError, match="positive"):
            await post(session, shop.id, MoveKind.receive, [Line(sku, main, -1)],
                       document=Document("receipt"))  # fmt: skip
        await session.rollback()
    assert await _level(db, sku, main) == (2, 0, 2)


async def test_another_shops_location_is_refused(db: Database, shop: Shop) -> None:
    sku, main, _ = await _stocked(db, shop, 2)
    async with db.session() as session:
        other = Shop(code="far", name="远方")
        session.add(other)
        await session.flush()
        with pytest.raises(StockError, match="location"):
            await post(session, other.id, MoveKind.receive, [Line(sku, main, 1)],
                       document=Document("receipt"))  # fmt: skip


async def test_two_workers_reserving_the_last_units_get_exactly_them(
    db: Database, shop: Shop, on_postgres: bool
) -> None:
    """Eight workers race for five units, two at a time: exactly two reservations win
    (four units), the rest are refused, and nothing is oversold."""
    if not on_postgres:
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    sku, main, _ = await _stocked(db, shop, 5)
    start = asyncio.Event()

    async def worker() -> bool:
        async with db.session() as session:
            await start.wait()
            try:
                await post(session, shop.id, MoveKind.reserve, [Line(sku, main, 2)],
                           document=Document("order"))  # fmt: skip
                await asyncio.sleep(0.05)  # hold the lock while the others queue behind it
                await session.commit()
                return True
            except StockError:
                await session.rollback()
                return False

    tasks = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.sleep(0.05)
    start.set()
    won = await asyncio.gather(*tasks)
    assert sum(won) == 2
    assert await _level(db, sku, main) == (5, 4, 1)
