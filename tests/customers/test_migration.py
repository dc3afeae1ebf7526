"""Given buyers with orders and chats stored before 0028, when the database is upgraded,
then every order and conversation still names its buyer (SQLite never rebuilds the
buyers' table, whose foreign keys would unlink or delete them) and each birthday is
kept as its year, month and day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from tests.conftest import create_scratch_database, drop_scratch_database
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade_async

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_0028_keeps_every_link_to_a_buyer_and_splits_the_birthday(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "file")
    database = Database(url)
    try:
        await upgrade_async(url, "0027")
        async with database.session() as session:  # the tables as 0027 left them
            await session.execute(
                text("INSERT INTO shop (code, name, platform, timezone, default_courier, "
                     "created_at) VALUES ('old', '老店', 'taobao', 'Asia/Shanghai', '', :at)"),
                {"at": AT},
            )  # fmt: skip
            shop = await session.scalar(text("SELECT id FROM shop"))
            buyer = await session.scalar(
                text("INSERT INTO customer (shop_id, channel, buyer_id, nick, name, phone, city, "
                     "gender, birthday, tags, created_at) VALUES (:shop, 'taobao', 'b', 'n', '', "
                     "'', '', '', :born, '[]', :at) RETURNING id"),
                {"shop": shop, "born": datetime(1990, 3, 9).date(), "at": AT},
            )  # fmt: skip
            await session.execute(
                text('INSERT INTO "order" (shop_id, platform_order_id, customer_id, buyer_nick, '
                     "status, source, goods_fen, postage_fen, total_fen, paid_fen, refunded_fen, "
                     "receiver_name, receiver_phone, receiver_address, buyer_message, "
                     "shipping_method, courier, tracking_number, cash_on_delivery, close_reason, "
                     "created_at, updated_at, flag) VALUES (:shop, 'A', :buyer, 'n', "
                     "'TRADE_FINISHED', 'import', 0, 0, 0, 0, 0, '', '', '', '', '', '', '', "
                     "false, '', :at, :at, 0)"),
                {"shop": shop, "buyer": buyer, "at": AT},
            )  # fmt: skip
            await session.commit()
        await upgrade_async(url)
        async with database.session() as session:
            linked = await session.scalar(text('SELECT customer_id FROM "order"'))
            born = (await session.execute(
                text("SELECT birth_year, birth_month, birth_day, birth_lunar, email, notes "
                     "FROM customer")
            )).one()  # fmt: skip
        assert linked == buyer
        assert tuple(born) == (1990, 3, 9, False, "", "")
    finally:
        await database.dispose()
        drop_scratch_database(url)
