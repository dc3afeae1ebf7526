"""Given the small customer base of 2026-06-15, when the list is searched, filtered and
paged, then exactly the persons asked for are shown, 50 a page, newest first, phones
masked for agents; a filter that cannot be read says why and filters nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert, update
from starlette.datastructures import QueryParams

from tests.conftest import MakeStaff, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.customers.filters import people
from xiaoer.customers.listing import (
    PAGE,
    count_capped,
    list_page,
    page_numbers,
    parse_filter,
)
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

from .world import NOW
from .world import people as world_people


@pytest.mark.database_free
def test_the_form_becomes_conditions_of_the_rule_language() -> None:
    # given a filled form
    query = QueryParams(
        "q=wa&orders_min=2&spent_max=300&recent_min=2&last_min=180&level=none&level=gold"
        "&channel=jd&city=杭州, 上海&tag=老客&greetings=yes&page=3"
    )
    # when it is read
    chosen = parse_filter(query)
    # then every input is a condition, the search and page kept
    assert chosen.errors == {}
    assert chosen.q == "wa" and chosen.page == 3
    found = {(c.field, c.op, c.value, c.days) for c in chosen.conditions}
    assert found == {
        ("orders", ">=", 2, 0),
        ("spent", "<=", 300, 0),
        ("recent_orders", ">=", 2, 90),
        ("days_since_last", ">=", 180, 0),
        ("level", "in", ("", "gold"), 0),
        ("channel", "in", ("jd",), 0),
        ("city", "in", ("杭州", "上海"), 0),
        ("tag", "has", "老客", 0),
        ("greetings", "=", True, 0),
    }
    assert ("page", "4") in chosen.query_items(page="4")


@pytest.mark.database_free
def test_a_filter_that_cannot_be_read_says_why_and_filters_nothing() -> None:
    chosen = parse_filter(
        QueryParams("orders_min=两&recent_min=1&recent_days=99999&greetings=maybe&page=x")
    )
    assert set(chosen.errors) == {"orders_min", "recent_days", "greetings", "page"}
    assert str(chosen.errors["orders_min"]) == "expected a whole number"
    assert chosen.conditions == [] and chosen.page == 1
    assert chosen.typed["orders_min"] == "两"  # kept to be shown again
    assert "recent_min" in parse_filter(QueryParams("recent_days=30")).errors


@pytest.mark.database_free
def test_page_links_show_the_ends_and_the_pages_around() -> None:
    assert page_numbers(1, 1) == [1]
    assert page_numbers(10, 200) == [1, 7, 8, 9, 10, 11, 12, 13, 200]


async def test_the_list_pages_fifty_newest_first_and_caps_its_count(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given 120 buyers
    async with db.session() as session:
        await session.execute(
            insert(Customer),
            [{"shop_id": shop.id, "channel": "taobao", "buyer_id": f"b{n:03d}",
              "nick": f"buyer{n:03d}", "phone": f"1390000{n:04d}"} for n in range(120)],
        )  # fmt: skip
        await session.commit()
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        staff = await session.get(StaffAccount, agent.id)
        assert staff is not None
        # when the first and the last page are read
        first = await list_page(session, staff, parse_filter({}), now=NOW)
        last = await list_page(session, staff, parse_filter({"page": "9"}), now=NOW)
        # then 50 newest first, the last page holds the rest, the phone masked
        assert [r.person.nick for r in first.rows[:2]] == ["buyer119", "buyer118"]
        assert len(first.rows) == PAGE and first.count.value == 120 and not first.count.capped
        assert first.rows[0].phone == "139****0119"
        assert last.page == 3 and len(last.rows) == 20 and last.rows[-1].person.nick == "buyer000"
        # and a count stops at its cap
        capped = await count_capped(session, people(shop.id, [], NOW), cap=100)
        assert capped.capped and capped.value == 100


async def test_the_list_searches_and_filters_through_the_page(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    # given the small customer base, its stats refreshed
    async with db.session() as session:
        world = await world_people(session, shop)
        await session.execute(
            update(Customer).where(Customer.id == world.ids["li"]).values(tags=["老客", "VIP"])
        )
        await refresh(session, shop.id, Policy(), now=NOW)
        await session.commit()
    await make_staff("mei", "agent")
    await make_staff("sup", "supervisor")
    await make_staff("aud", "auditor")
    assert (await sign_in(client, "mei")).status_code == 303

    # when an agent reads the list: everyone, linked to their file, phones masked
    page = await client.get("/customers")
    assert page.status_code == 200
    table = page.text.split('id="customers"')[1]
    for key in ("wang", "li", "zhao", "wang-jd"):
        assert f'href="/customers/{world.ids[key]}"' in table
    assert "138****0001" in table and "13800000001" not in table
    assert "共 4 位客户" in page.text
    assert "export.xlsx" not in page.text  # exports are the leaders'

    # then a search by phone tail, by nick prefix, and filters narrow it
    async def shown(query: str) -> set[str]:
        answer = await client.get(f"/customers?{query}")
        assert answer.status_code == 200, answer.text
        names = {v: k for k, v in world.ids.items()}
        rows = answer.text.split('id="customers"')[1] if 'id="customers"' in answer.text else ""
        return {names[i] for i in names if f'data-customer="{i}"' in rows}

    assert await shown("q=0002") == {"li"}
    assert await shown("q=wa") == {"wang", "wang-jd"}
    assert await shown("spent_min=300") == {"li"}
    assert await shown("orders_min=2") == {"wang"}
    assert await shown("orders_max=0") == {"zhao"}
    assert await shown("channel=jd") == {"wang-jd"}
    assert await shown("city=杭州+北京") == {"wang", "zhao"}
    assert await shown("category=茶具") == {"li"}
    assert await shown("tag=老客") == {"li"}
    assert await shown("tag=老") == set()  # a whole tag, not a part of one
    assert await shown("price_level=high") == {"li"}
    assert await shown("level=none") == {"li", "wang-jd", "zhao"}  # members from 2 orders
    assert await shown("level=member") == {"wang"}
    assert await shown("greetings=no") == set()

    # and a bad input is named beside its field, filtering nothing
    bad = await client.get("/customers?spent_min=很多&q=wa")
    assert bad.status_code == 422
    assert 'id="error-spent_min"' in bad.text and "应为整数" in bad.text
    assert 'value="很多"' in bad.text

    # a supervisor sees phones in full; the back office is refused
    await client.post("/logout", data={})
    client.cookies.clear()
    assert (await sign_in(client, "sup")).status_code == 303
    assert "13800000001" in (await client.get("/customers")).text
    client.cookies.clear()
    assert (await sign_in(client, "aud")).status_code == 303
    assert (await client.get("/customers")).status_code == 403
