"""The manager sets the shop's targets in Chromium (D3): an event typed backwards is
said and keeps what was typed; the event and today's target are saved; today's figure
moves on the open page when an order is paid, and the supervisor's floor shows it."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, MakeStaff
from xiaoer.core.db import Database
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today


async def _sign_in(page: Page, server: str, username: str) -> None:
    await page.goto(f"{server}/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()


async def _pay(db: Database, shop: Shop, number: str) -> None:
    async with db.session() as session:
        order = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder(number, f"buyer-{number}", (NewItem("遮光窗帘", 12800),),
                         channel="widget"),
        )  # fmt: skip
        await do_pay_order(session, order=order)
        await session.commit()


async def test_the_manager_sets_targets_and_watches_them_move(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager", name="宋店长")
    await make_staff("sup", "supervisor", name="李主管")
    async with db.session() as session:
        today = await shop_today(session, shop.id)
    await _pay(db, shop, "E2E-1")
    manager = await browser.new_context(locale="zh-CN")
    supervisor = await browser.new_context(locale="zh-CN")
    try:
        page = await manager.new_page()
        await _sign_in(page, server, "man")
        await page.goto(f"{server}/peakday/targets")
        await expect(page.locator("h1")).to_have_text("店铺目标")
        form = page.locator("#new-target-form")
        # an event: only its fields show
        await form.get_by_label("期间").select_option(label="活动目标")
        await expect(form.get_by_label("月份")).to_be_hidden()
        await form.get_by_label("活动名称").fill("双十一 2026")
        await form.get_by_label("开始（店铺时间）").fill("2026-11-12T00:00")
        await form.get_by_label("结束（店铺时间）").fill("2026-11-11T00:00")
        await form.get_by_label("成交笔数").fill("")
        await form.get_by_label("成交笔数").fill("50/400/600")
        await form.get_by_role("button", name="保存目标").click()
        await expect(page.locator("#targets-error")).to_contain_text("早于开始时间")
        form = page.locator("#new-target-form")
        await expect(form.get_by_label("活动名称")).to_have_value("双十一 2026")
        await expect(form.get_by_label("成交笔数")).to_have_value("50/400/600")
        await form.get_by_label("开始（店铺时间）").fill("2026-11-11T00:00")
        await form.get_by_label("结束（店铺时间）").fill("2026-11-12T00:00")
        await form.get_by_role("button", name="保存目标").click()
        await expect(page.locator("#targets-done")).to_have_text("目标已保存。")
        event = page.locator('#target-progress tr.target-row[data-measure="trades"]')
        await expect(event.first).to_contain_text("双十一 2026")

        # today's target for the whole shop: one trade so far, of 1 / 3
        form = page.locator("#new-target-form")
        await form.get_by_label("期间").select_option(label="日目标")
        await form.get_by_label("日期").fill(today.isoformat())
        await form.get_by_label("成交笔数").fill("1/3")
        await form.get_by_role("button", name="保存目标").click()
        await expect(page.locator("#targets-done")).to_be_visible()
        mark = today.isoformat()
        row = page.locator("#target-progress tr.target-row").filter(has_text=mark)
        await expect(row.locator(".target-actual strong")).to_have_text("1")
        await expect(row.locator(".target-goal")).to_have_text("3")

        # the page stays open; two more orders are paid and the figure follows
        await _pay(db, shop, "E2E-2")
        await _pay(db, shop, "E2E-3")
        await expect(row.locator(".target-actual strong")).to_have_text(
            "3", timeout=int(timedelta(seconds=30).total_seconds() * 1000)
        )
        await expect(row.locator(".target-standing")).to_have_text("已达成")

        # the supervisor's floor shows today's target, not the event to come
        floor = await supervisor.new_page()
        await _sign_in(floor, server, "sup")
        await floor.goto(f"{server}/performance/floor")
        panel = floor.locator("#floor-targets")
        await expect(panel).to_contain_text("进行中的目标")
        await expect(panel.locator("tr.target-row .target-actual strong")).to_have_text("3")
        await expect(panel).not_to_contain_text("双十一 2026")
    finally:
        await manager.close()
        await supervisor.close()
