"""Given the small customer base on 2026-06-15, when staff read a customer's file, then
they see what the orders, refunds and reviews say, and personal data only as their role
allows; when they edit it, bad values are refused with the field and the reason."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.core.texts import message_of
from xiaoer.customers.birthdays import Birthday, age_on, lunar_day_name, lunar_to_solar
from xiaoer.customers.edits import (
    do_edit_customer,
    do_greetings_off,
    do_greetings_on,
    parse_tags,
)
from xiaoer.customers.file import CustomerFileError, customer_file, heat_of
from xiaoer.customers.models import Campaign, CampaignCall, OnlineProfile
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop, shop_today

from .world import NOW, people


async def test_the_file_sums_the_orders_and_masks_for_an_agent(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given 王芳, born on lunar 8/15 1990, with two orders on Taobao (one refunded in part)
    manager = await make_staff("man", "manager")
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    wang = world.ids["wang"]
    # when the manager reads her file on 2026-06-15
    async with db.session() as session:
        seen = await customer_file(session, manager, wang, NOW)
    # then the lunar birthday, her age, the purchases and the review are there
    assert seen.birthday is not None and "农历八月十五" in seen.birthday.label()
    assert seen.age == 35
    assert seen.phone == "13800000001"
    assert (seen.orders, seen.spent_fen, seen.refunds, seen.refund_fen) == (2, 17000, 1, 3000)
    assert (seen.reviews, seen.bad_reviews, seen.categories) == (1, 1, ["茶叶"])
    assert (seen.level, seen.price_level) == ("member", "low")
    assert [o.id for o in seen.recent_orders] == [world.orders["w2"], world.orders["w1"]]
    assert seen.last_paid_at is not None and (NOW - seen.last_paid_at).days == 60
    assert seen.heat is None and seen.greetings_on
    # when an agent reads it, then the phone is masked and the birthday is its month
    async with db.session() as session:
        seen = await customer_file(session, agent, wang, NOW)
    assert seen.phone == "138****0001"
    assert seen.birthday is not None and seen.birthday.label() == "农历八月"
    assert seen.email == "" and not seen.may_merge and not seen.may_erase
    # unless she is on the agent's own open follow-up list: then the call needs the number
    async with db.session() as session:
        campaign = Campaign(shop_id=shop.id, name="回访")
        session.add(campaign)
        await session.flush()
        session.add(CampaignCall(campaign_id=campaign.id, shop_id=shop.id, customer_id=wang,
                                 agent_id=agent.id))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        seen = await customer_file(session, agent, wang, NOW)
    assert seen.phone == "13800000001"
    assert seen.birthday is not None and seen.birthday.day is None


async def test_another_shops_customer_is_not_found(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    manager = await make_staff("man", "manager")
    warehouse = await make_staff("war", "warehouse")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方")
        stranger = Customer(shop_id=far.id, channel="taobao", buyer_id="x", nick="x")
        session.add(stranger)
        await session.commit()
    async with db.session() as session:
        with pytest.raises(NotFound):
            await customer_file(session, manager, stranger.id, NOW)
        with pytest.raises(NotPermitted):
            await customer_file(session, warehouse, stranger.id, NOW)


async def test_edits_are_checked_audited_and_personal_fields_are_the_leaders(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    manager = await make_staff("man", "manager")
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    li = world.ids["li"]
    refused = [
        ({"birth_month": "8", "birth_day": "31", "birth_lunar": "1"}, "30 days"),
        ({"birth_month": "2", "birth_day": "30"}, "2/30 is not a day"),
        ({"birth_month": "4", "birth_day": "8", "birth_leap": "1"}, "leap month"),
        ({"birth_month": "13", "birth_day": "1"}, "1 to 12"),
        ({"birth_year": "1985", "birth_month": "", "birth_day": ""}, "month and day"),
        ({"birth_year": "2025", "birth_month": "6", "birth_day": "30", "birth_lunar": "1",
          "birth_leap": "1"}, "no such lunar date"),  # 2025's leap sixth month has 29 days
        ({"gender": "other"}, "gender"),
        ({"email": "not-an-address"}, "e-mail"),
        ({"tags": "a、" + "长" * 17}, "longer than 16"),
    ]  # fmt: skip
    for fields, reason in refused:
        async with db.session() as session:
            with pytest.raises(CustomerFileError) as caught:
                await do_edit_customer(session, manager, li, fields, now=NOW)
            assert reason in str(caught.value), (fields, caught.value)
    # an agent keeps tags and notes but not the birthday
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_edit_customer(session, agent, li, {"birth_month": "5", "birth_day": "1"})
        await do_edit_customer(
            session, agent, li, {"tags": "回头客, 爱喝茶 回头客", "notes": "喜欢红茶"}
        )
        await session.commit()
    async with db.session() as session:
        await do_edit_customer(
            session, manager, li,
            {"birth_year": "", "birth_month": "4", "birth_day": "8", "birth_lunar": "1",
             "birth_leap": "1", "phone": "139 0000 0002"},
            now=NOW,
        )  # fmt: skip
        await session.commit()
    async with db.session() as session:
        row = await session.get(Customer, li)
        assert row is not None
        assert row.tags == ["回头客", "爱喝茶"] and row.notes == "喜欢红茶"
        birthday = (row.birth_year, row.birth_month, row.birth_day, row.birth_lunar, row.birth_leap)
        assert birthday == (None, 4, 8, True, True)
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "customer").order_by(AuditEntry.id)
        ))  # fmt: skip
    assert [e.action for e in entries] == ["edit", "edit"]
    assert entries[0].after == {"tags": ["回头客", "爱喝茶"], "notes": "喜欢红茶"}
    assert entries[1].after is not None and entries[1].after["phone"] == "…"  # no number kept


async def test_greetings_stop_at_once_and_start_again(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    async with db.session() as session:
        await do_greetings_off(session, agent, world.ids["zhao"], now=NOW)
        await session.commit()
    async with db.session() as session:
        row = await session.get(Customer, world.ids["zhao"])
        assert row is not None and row.greetings_off_at == NOW
        await do_greetings_on(session, agent, world.ids["zhao"], now=NOW)
        await session.commit()
        await session.refresh(row)
        assert row.greetings_off_at is None


async def test_the_file_page_as_manager_and_agent(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("man", "manager")
    await make_staff("mei", "agent")
    async with db.session() as session:
        world = await people(session, shop)
        hours = [0.0] * 168
        hours[2 * 24 + 20] = 0.6  # Wednesday 20:00
        hours[5 * 24 + 10] = 0.4
        session.add(OnlineProfile(customer_id=world.ids["wang"], shop_id=shop.id, hours=hours,
                                  samples=12, confidence=0.3))  # fmt: skip
        await session.commit()
    wang = world.ids["wang"]
    await sign_in(client, "mei")
    page = await client.get(f"/customers/{wang}")
    assert page.status_code == 200
    assert "138****0001" in page.text and "13800000001" not in page.text
    assert "农历八月" in page.text and "农历八月十五" not in page.text
    assert 'class="heat-4"' in page.text and "样本少" in page.text
    assert f"/customers/{wang}/erase" not in page.text
    assert (await client.get("/customers/999999")).status_code == 404
    # an agent's edit of the birthday is refused and nothing changes
    token = csrf_from(page.text)
    denied = await client.post(f"/customers/{wang}", data={
        "csrf_token": token, "birth_month": "1", "birth_day": "1"})  # fmt: skip
    assert denied.status_code == 403
    saved = await client.post(f"/customers/{wang}", data={"csrf_token": token, "notes": "常客"})
    assert saved.status_code == 303
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, "man")
    page = await client.get(f"/customers/{wang}")
    age = age_on(Birthday(8, 15, 1990, lunar=True), await _today(db, shop))
    assert "农历八月十五" in page.text and f"{age} 岁" in page.text and "13800000001" in page.text
    assert "常客" in page.text
    token = csrf_from(page.text)
    # a bad birthday shows the file again with the reason and what was typed
    bad = await client.post(f"/customers/{wang}", data={
        "csrf_token": token, "birth_month": "8", "birth_day": "31", "birth_lunar": "1",
        "notes": "写了一半"})  # fmt: skip
    assert bad.status_code == 422
    assert "农历每月最多 30 天" in bad.text and "写了一半" in bad.text


async def _today(db: Database, shop: Shop) -> date:
    async with db.session() as session:
        return await shop_today(session, shop.id)


@pytest.mark.database_free
def test_lunar_birthdays_fall_on_their_own_solar_days() -> None:
    mid_autumn = Birthday(8, 15, 1990, lunar=True)
    assert lunar_to_solar(2026, 8, 15) == date(2026, 9, 25)
    assert lunar_to_solar(2027, 8, 15) == date(2027, 9, 15)
    assert age_on(mid_autumn, date(2026, 9, 24)) == 35
    assert age_on(mid_autumn, date(2026, 9, 25)) == 36
    assert age_on(mid_autumn, date(2027, 9, 14)) == 36
    assert age_on(mid_autumn, date(2027, 9, 15)) == 37
    assert age_on(mid_autumn, date(2027, 1, 20)) == 36  # still lunar 2026 before 春节
    # a leap month the year lacks is its plain month; a 30th in a short month its last day
    assert lunar_to_solar(2025, 6, 1, leap=True) == date(2025, 7, 25)
    assert lunar_to_solar(2026, 6, 1, leap=True) == lunar_to_solar(2026, 6, 1)
    assert lunar_to_solar(2026, 12, 30) == lunar_to_solar(2026, 12, 29)
    assert age_on(Birthday(3, 2, 1985), date(2026, 6, 15)) == 41
    assert age_on(Birthday(3, 2), date(2026, 6, 15)) is None
    assert [lunar_day_name(d) for d in (1, 10, 11, 20, 21, 30)] == [
        "初一", "初十", "十一", "二十", "廿一", "三十"]  # fmt: skip
    assert Birthday(4, 8, None, lunar=True, leap=True).label() == "农历闰四月初八"
    assert Birthday(12, 8, None, lunar=True).label() == "农历腊月初八"
    assert Birthday(3, 2, 1985).label() == "1985年3月2日"
    assert Birthday(3, 2, 1985).masked().label() == "3月"


@pytest.mark.database_free
def test_tags_and_the_online_strip() -> None:
    assert parse_tags("回头客，爱喝茶、 回头客 ;送礼") == ["回头客", "爱喝茶", "送礼"]
    assert parse_tags(["a", "a", "b"]) == ["a", "b"]
    with pytest.raises(CustomerFileError) as caught:
        parse_tags([1])
    assert message_of(caught.value) == "tags: expected words"
    hours = [0.0] * 168
    hours[20] = 0.5  # Monday 20:00
    hours[24 + 20] = 0.25  # Tuesday 20:00
    hours[6 * 24 + 9] = 0.25  # Sunday 09:00
    profile = OnlineProfile(customer_id=1, shop_id=1, hours=hours, samples=30, confidence=0.8)
    profile.refreshed_at = NOW - timedelta(hours=1)
    heat = heat_of(profile)
    assert heat is not None and not heat.unsure and heat.busiest_hour == 20
    assert (heat.cells[0][20], heat.cells[1][20], heat.cells[6][9], heat.cells[3][3]) == (
        4,
        2,
        2,
        0,
    )
    assert heat.day[20] == pytest.approx(0.75) and heat.week[6] == pytest.approx(0.25)
    assert heat_of(OnlineProfile(customer_id=1, shop_id=1, hours=[0.1] * 24)) is None
