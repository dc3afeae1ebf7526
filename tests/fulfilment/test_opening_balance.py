"""Migration 0027 opens the ledger with the stock figures a shop had before."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from tests.conftest import create_scratch_database, drop_scratch_database, insert_old_shop
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade_async


async def test_migration_0027_opens_the_ledger_with_the_stock_already_kept(
    tmp_path: Path,
) -> None:
    url = create_scratch_database(tmp_path, "opening")
    database = Database(url)
    try:
        await upgrade_async(url, "0026")
        async with database.session() as session:  # the tables as 0026 left them
            shop_id = await insert_old_shop(session, "old", "老店")
            await session.execute(
                text("INSERT INTO product (shop_id, code, title, category, price_fen, "
                     "description, custom_made, active, created_at, size_chart) VALUES "
                     "(:s, 'P', '窗帘', '', 100, '', false, true, CURRENT_TIMESTAMP, '[]')"),
                {"s": shop_id},
            )  # fmt: skip
            product = await session.scalar(text("SELECT id FROM product"))
            for code, stock in (("A", 7), ("B", 0)):
                await session.execute(
                    text("INSERT INTO sku (shop_id, product_id, code, attributes, price_fen, "
                         "stock) VALUES (:s, :p, :c, '{}', 100, :n)"),
                    {"s": shop_id, "p": product, "c": code, "n": stock},
                )  # fmt: skip
            await session.commit()
        await upgrade_async(url)
        async with database.session() as session:
            levels = (
                await session.execute(
                    text("SELECT s.code, l.on_hand, l.reserved, s.stock FROM stock_level l "
                         "JOIN sku s ON s.id = l.sku_id")
                )
            ).all()  # fmt: skip
            assert [tuple(row) for row in levels] == [("A", 7, 0, 7)]
            moves = await session.execute(
                text("SELECT kind, on_hand_delta, document_ref FROM stock_move")
            )
            assert [tuple(row) for row in moves] == [("receive", 7, "opening")]
            places = await session.scalar(select(func.count()).select_from(text("stock_location")))
            assert places == 1
    finally:
        await database.dispose()
        drop_scratch_database(url)
