"""The targets page and the floor's panel (D3): the manager sets targets through the
form, a bad one is said in the reader's words and loses what was typed, and everyone
on the floor reads the progress, live on the supervisor's floor."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_flag
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.peakday.target_models import ShopTarget, TargetGoal
from xiaoer.peakday.targets import TargetForm, do_add_target
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount


async def _today_with_a_paid_order(db: Database, shop: Shop, mei: StaffAccount) -> str:
    async with db.session() as session:
        order = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder("P-1", "b-1", (NewItem("遮光窗帘", 12800),), channel="widget"),
        )  # fmt: skip
        await do_flag(session, order=order, agent=mei, flag=1)
        await do_pay_order(session, order=order)
        today = await shop_today(session, shop.id)
        await session.commit()
    return today.isoformat()


async def _post(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    token = csrf_from((await client.get("/peakday/targets")).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_the_manager_adds_a_target_and_sees_its_progress(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    mei = await make_staff("mei")
    await make_staff("man", "manager")
    today = await _today_with_a_paid_order(db, shop, mei)
    await sign_in(client, "man")
    answer = await _post(client, "/peakday/targets", period="day", day=today, team="",
                         trades="1/5", sales="1000", conversion="")  # fmt: skip
    assert answer.status_code == 303
    page = await client.get("/peakday/targets?done=added")
    assert page.status_code == 200
    assert 'id="targets-done"' in page.text
    assert 'data-measure="trades" data-standing="reached"' not in page.text  # 1 of 5
    assert 'data-measure="trades"' in page.text and "128.00" in page.text
    fragment = await client.get("/peakday/targets/progress")
    assert fragment.status_code == 200 and "<table" in fragment.text
    assert "<html" not in fragment.text


async def test_a_bad_target_is_said_in_chinese_and_keeps_what_was_typed(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("man", "manager")
    await sign_in(client, "man")
    answer = await _post(client, "/peakday/targets", period="event", name="双十一 2026",
                         starts="2026-11-12T00:00", ends="2026-11-11T00:00",
                         trades="600")  # fmt: skip
    assert answer.status_code == 422
    assert "活动的结束时间（2026-11-11T00:00）早于开始时间（2026-11-12T00:00）" in answer.text
    assert 'value="双十一 2026"' in answer.text and 'value="600"' in answer.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ShopTarget)) == 0


async def test_the_manager_changes_and_removes_a_target(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    man = await make_staff("man", "manager")
    async with db.session() as session:
        target = await do_add_target(session, man, TargetForm(period="month", month="2026-11",
                                                              trades="50/400/600"))  # fmt: skip
        await session.commit()
    await sign_in(client, "man")
    changed = await _post(client, f"/peakday/targets/{target.id}", period="month",
                          month="2026-11", trades="100/500")  # fmt: skip
    assert changed.status_code == 303
    async with db.session() as session:
        goal = await session.scalar(select(TargetGoal.milestones))
    assert goal == [100, 500]
    removed = await _post(client, f"/peakday/targets/{target.id}/delete")
    assert removed.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ShopTarget)) == 0


async def test_a_supervisor_reads_but_does_not_set(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("sup", "supervisor")
    await sign_in(client, "sup")
    page = await client.get("/peakday/targets")
    assert page.status_code == 200 and 'id="new-target-form"' not in page.text
    refused = await _post(client, "/peakday/targets", period="day", day="2026-11-11",
                          trades="5")  # fmt: skip
    assert refused.status_code == 403


async def test_an_agent_sees_the_shops_trades_but_not_its_sales(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    mei = await make_staff("mei")
    man = await make_staff("man", "manager")
    today = await _today_with_a_paid_order(db, shop, mei)
    async with db.session() as session:
        await do_add_target(session, man, TargetForm(period="day", day=today, trades="3",
                                                     sales="99999"))  # fmt: skip
        await do_add_target(session, man, TargetForm(period="day", day=today, team="aftersale",
                                                     trades="7"))  # fmt: skip
        await session.commit()
    await sign_in(client, "mei")
    page = await client.get("/peakday/targets")
    assert page.status_code == 200
    assert 'data-measure="trades"' in page.text
    assert 'data-measure="sales"' not in page.text and "99999" not in page.text
    assert page.text.count('class="target-row"') == 1  # not the after-sales team's


async def test_the_floor_shows_the_targets_running_now(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    mei = await make_staff("mei")
    man = await make_staff("man", "manager")
    await make_staff("sup", "supervisor")
    today = await _today_with_a_paid_order(db, shop, mei)
    async with db.session() as session:
        await do_add_target(session, man, TargetForm(period="day", day=today, trades="1/2",
                                                     conversion="30"))  # fmt: skip
        await do_add_target(session, man, TargetForm(period="day", day="2020-01-01",
                                                     trades="9"))  # fmt: skip
        await session.commit()
    await sign_in(client, "sup")
    floor = await client.get("/performance/floor")
    assert floor.status_code == 200
    assert 'id="floor-targets"' in floor.text
    assert floor.text.count('class="target-row"') == 2  # today's two measures only
    assert 'data-measure="conversion"' in floor.text
    assert "✓" in floor.text  # the first milestone, one trade, is reached
