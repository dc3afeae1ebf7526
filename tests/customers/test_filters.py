"""Given the small customer base on 2026-06-15, when a rule is evaluated, then exactly
the persons it describes are picked; when a rule is malformed, it is refused with the
condition and the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.core.texts import message_of
from xiaoer.customers.filters import RuleError, matching_ids, parse_rule, people
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop

from .world import NOW, People
from .world import people as world_people


async def _pick(db: Database, shop: Shop, world: People, rule: list[dict[str, object]],
                search: str = "") -> set[str]:  # fmt: skip
    names = {v: k for k, v in world.ids.items()}
    async with db.session() as session:
        if search:
            query = people(shop.id, parse_rule(rule), NOW, search).with_only_columns(Customer.id)
            ids = list(await session.scalars(query))
        else:
            ids = await matching_ids(session, shop.id, parse_rule(rule), NOW)
    return {names[i] for i in ids}


async def test_rules_pick_the_persons_they_describe(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        world = await world_people(session, shop)
        await refresh(session, shop.id, Policy(), now=NOW)
        await session.commit()
    twice_in_90 = [{"field": "recent_orders", "op": ">=", "value": 2, "days": 90}]
    assert await _pick(db, shop, world, twice_in_90) == set()  # one order on each account
    assert await _pick(db, shop, world, [{"field": "spent", "op": ">=", "value": 300}]) == {"li"}
    lapsed = [{"field": "days_since_last", "op": ">=", "value": 180}]
    assert await _pick(db, shop, world, lapsed) == {"li", "zhao"}
    assert await _pick(db, shop, world, [{"field": "category", "op": "has", "value": "茶具"}]) == {
        "li"
    }
    on_jd = [{"field": "channel", "op": "in", "value": ["jd"]}]
    assert await _pick(db, shop, world, on_jd) == {"wang-jd"}
    assert await _pick(db, shop, world, [], search="0002") == {"li"}
    assert await _pick(db, shop, world, [], search="wa") == {"wang", "wang-jd"}
    assert await _pick(db, shop, world, [], search="100%") == set()

    # Once the JD account is merged into 王芳, she has bought twice in 90 days, on JD too.
    async with db.session() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == world.ids["wang-jd"])
            .values(merged_into_id=world.ids["wang"])
        )
        await refresh(
            session, shop.id, Policy(), [world.ids["wang"], world.ids["wang-jd"]], now=NOW
        )
        await session.commit()
    assert await _pick(db, shop, world, twice_in_90) == {"wang"}
    assert await _pick(db, shop, world, on_jd) == {"wang"}
    assert await _pick(db, shop, world, [], search="wang-jd") == {"wang"}
    both = [*twice_in_90, {"field": "spent", "op": ">=", "value": 300}]
    assert await _pick(db, shop, world, both) == {"wang"}  # 370 yuan once merged


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "orders"}, "a rule is a list of conditions"),
        ([{"field": "age", "op": ">=", "value": 3}], "condition 1: no field 'age'"),
        ([{"field": "orders", "op": "in", "value": 3}], "condition 1: orders takes >= <= ="),
        ([{"field": "spent", "op": ">=", "value": "lots"}], "condition 1: expected a whole number"),
        (
            [
                {"field": "orders", "op": ">=", "value": 1},
                {"field": "recent_orders", "op": ">=", "value": 2, "days": 0},
            ],
            "condition 2: expected a number from 1 to 3650",
        ),
        ([{"field": "tag", "op": "has", "value": ""}], "condition 1: expected a word"),
        ([{"field": "greetings", "op": "=", "value": "yes"}], "condition 1: expected yes or no"),
    ],
)
def test_a_bad_rule_says_which_condition_and_why(rule: object, message: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_rule(rule)
    assert message_of(raised.value) == message
