"""A buyer looked up by the exact nick or phone (``buyers.service``, the groups' members
by contact) reads an index on PostgreSQL: the customer list's search indexes, whose
pattern operators answer "=", since the equality indexes of their own went (0039)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop


async def _plan(db: Database, where: str, shop_id: int, value: str) -> str:
    async with db.session() as session:
        rows = await session.execute(
            text(f"EXPLAIN SELECT id FROM customer WHERE shop_id = :shop AND {where}"),
            {"shop": shop_id, "value": value},
        )
        return "\n".join(row[0] for row in rows)


async def test_an_exact_nick_or_phone_reads_the_search_indexes(db: Database, shop: Shop) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite's search index is the plain (shop, column) index already")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with db.session() as session:
        await session.execute(
            insert(Customer),
            [
                {
                    "shop_id": shop.id, "channel": "taobao", "buyer_id": f"buyer{n:05d}",
                    "nick": f"buyer{n:05d}", "phone": f"139{n:08d}", "tags": [],
                    "created_at": now,
                }
                for n in range(5000)
            ],
        )  # fmt: skip
        await session.execute(text("ANALYZE customer"))
        await session.commit()
    nick = await _plan(db, "nick = :value", shop.id, "buyer01234")
    assert "ix_customer_search_nick" in nick, nick
    phone = await _plan(db, "phone = :value", shop.id, "13900001234")
    assert "ix_customer_search_phone" in phone, phone
