"""Given the small customer base on 2026-06-15, when the recent orders are counted or a
phone is searched by its last digits, then the set-wise shapes the benchmark asked for
pick exactly the persons the per-person ones did: none, some or all of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.customers.filters import parse_rule, people
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop

from .world import NOW, People
from .world import people as world_people


async def _pick(db: Database, shop: Shop, world: People, rule: list[dict[str, Any]],
                search: str = "") -> set[str]:  # fmt: skip
    names = {v: k for k, v in world.ids.items()}
    query = people(shop.id, parse_rule(rule), NOW, search).with_only_columns(Customer.id)
    async with db.session() as session:
        return {names[i] for i in await session.scalars(query)}


def _recent(op: str, value: int) -> list[dict[str, Any]]:
    return [{"field": "recent_orders", "op": op, "value": value, "days": 90}]


async def test_recent_orders_count_none_as_zero_before_and_after_a_merge(
    db: Database, shop: Shop
) -> None:
    # given: 王芳 and her JD account bought once each in 90 days, 李雷 and 赵敏 not at all
    async with db.session() as session:
        world = await world_people(session, shop)
        await refresh(session, shop.id, Policy(), now=NOW)
        await session.commit()
    everyone = {"wang", "wang-jd", "li", "zhao"}
    # when / then
    assert await _pick(db, shop, world, _recent(">=", 0)) == everyone
    assert await _pick(db, shop, world, _recent(">=", 1)) == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, _recent("=", 1)) == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, _recent("=", 0)) == {"li", "zhao"}
    assert await _pick(db, shop, world, _recent("<=", 0)) == {"li", "zhao"}
    assert await _pick(db, shop, world, _recent("<=", 1)) == everyone

    # counts past the stats' three latest payments read the window's orders
    assert await _pick(db, shop, world, _recent(">=", 4)) == set()
    assert await _pick(db, shop, world, _recent("<=", 3)) == everyone
    assert await _pick(db, shop, world, _recent("=", 3)) == set()

    # given: the JD account merged into 王芳, whose two orders are now one person's, and
    # the two persons' stats refreshed as a merge does
    async with db.session() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == world.ids["wang-jd"])
            .values(merged_into_id=world.ids["wang"])
        )
        await refresh(session, shop.id, Policy(), [world.ids["wang"], world.ids["wang-jd"]],
                      now=NOW)  # fmt: skip
        await session.commit()
    # then
    assert await _pick(db, shop, world, _recent("=", 2)) == {"wang"}
    assert await _pick(db, shop, world, _recent(">=", 2)) == {"wang"}
    assert await _pick(db, shop, world, _recent(">=", 3)) == set()
    assert await _pick(db, shop, world, _recent("<=", 1)) == {"li", "zhao"}
    assert await _pick(db, shop, world, _recent("=", 0)) == {"li", "zhao"}


async def test_a_phone_is_found_by_its_last_digits_on_any_account(db: Database, shop: Shop) -> None:
    # given: 王芳's JD account shares her phone 13800000001
    async with db.session() as session:
        world = await world_people(session, shop)
        await session.commit()
    # when / then: four digits or more, the end of the number; fewer, its start only
    assert await _pick(db, shop, world, [], search="0001") == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, [], search="00000001") == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, [], search="13800000001") == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, [], search="90001") == set()
    assert await _pick(db, shop, world, [], search="001") == set()
    assert await _pick(db, shop, world, [], search="1380") == {"wang", "wang-jd", "li", "zhao"}
