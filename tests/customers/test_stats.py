"""Given the small customer base, when the stats are refreshed, then each person's
orders, spending, refunds, reviews, categories and levels are summed from the orders."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.customers.models import CustomerStats
from xiaoer.customers.stats import level_of, price_level_of, refresh
from xiaoer.shops.models import Shop

from .world import NOW, people


async def _stats(db: Database, shop: Shop) -> dict[int, CustomerStats]:
    async with db.session() as session:
        rows = await session.scalars(select(CustomerStats).where(CustomerStats.shop_id == shop.id))
        return {r.customer_id: r for r in rows}


async def test_refresh_sums_each_person(db: Database, shop: Shop) -> None:
    policy = Policy()
    async with db.session() as session:
        world = await people(session, shop)
        assert await refresh(session, shop.id, policy, now=NOW) == 4
        await session.commit()
    stats = await _stats(db, shop)
    wang = stats[world.ids["wang"]]
    assert (wang.orders, wang.spent_fen, wang.refunds, wang.refund_fen) == (2, 17000, 1, 3000)
    assert (wang.reviews, wang.bad_reviews, wang.categories) == (1, 1, ["茶叶"])
    assert wang.price_level == "low" and wang.level == "member"  # 2 orders, 170 yuan
    li = stats[world.ids["li"]]
    assert (li.orders, li.spent_fen, li.price_level, li.level) == (1, 40000, "high", "")
    assert li.last_paid_at is not None and (NOW - li.last_paid_at).days == 200
    zhao = stats[world.ids["zhao"]]
    assert (zhao.orders, zhao.spent_fen, zhao.first_paid_at, zhao.categories) == (0, 0, None, [])

    # Merging the JD account into 王芳 gives her its order; refreshing those two persons
    # drops the JD row and adds its order to hers.
    async with db.session() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == world.ids["wang-jd"])
            .values(merged_into_id=world.ids["wang"])
        )
        persons = [world.ids["wang"], world.ids["wang-jd"]]
        assert await refresh(session, shop.id, policy, persons, now=NOW) == 1
        await session.commit()
    stats = await _stats(db, shop)
    assert world.ids["wang-jd"] not in stats
    wang = stats[world.ids["wang"]]
    assert (wang.orders, wang.spent_fen, wang.price_level) == (3, 37000, "middle")
    # her payments 20, 60 and 300 days ago: the second and third latest are kept
    assert wang.last_paid_at is not None and (NOW - wang.last_paid_at).days == 20
    assert wang.second_paid_at is not None and (NOW - wang.second_paid_at).days == 60
    assert wang.third_paid_at is not None and (NOW - wang.third_paid_at).days == 300
    assert stats[world.ids["li"]].second_paid_at is None


@pytest.mark.database_free
def test_levels_need_both_orders_and_spending() -> None:
    policy = Policy()  # member 2 orders; silver 4 and 1000 yuan; gold 8 and 3000 yuan
    assert level_of(policy, 1, 10**9) == ""
    assert level_of(policy, 2, 0) == "member"
    assert level_of(policy, 9, 150000) == "silver"
    assert level_of(policy, 8, 300000) == "gold"
    assert price_level_of(policy, 0, 0) == ""
    assert price_level_of(policy, 2, 19998) == "low"
    assert price_level_of(policy, 1, 10000) == "middle"
    assert price_level_of(policy, 1, 30000) == "high"
