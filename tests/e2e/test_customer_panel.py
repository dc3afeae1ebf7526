"""The workbench's side panel shows the buyer's customer file: member level, purchases,
tags, greetings and the online-hours strip, with a link to the whole file (R1, R2)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.conftest import MakeStaff
from tests.e2e.test_live_chat import open_workbench, prepare_shop
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.customers.models import OnlineProfile
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop

WAIT = 15000  # ms: the conversation arrives live, the panel is one request after it


async def test_the_side_panel_shows_the_buyers_file(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    await prepare_shop(db, shop)
    fired: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await open_workbench(context, server, "lina", fired)
        async with db.session() as session:
            buyer = await do_get_or_create_customer(
                session, shop_id=shop.id, channel="widget", buyer_id="fang", nick="芳芳",
                phone="13800000001",
            )  # fmt: skip
            buyer.tags = ["回头客"]
            buyer.birth_month, buyer.birth_day, buyer.birth_lunar = 8, 15, True
            hours = [0.0] * 168
            hours[20] = 1.0
            session.add(OnlineProfile(customer_id=buyer.id, shop_id=shop.id, hours=hours,
                                      samples=3, confidence=0.2))  # fmt: skip
            await do_receive_buyer_message(session, shop=shop, customer=buyer, text="在吗")
            await session.commit()
        await page.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        panel = page.locator("#wb-customer-file")
        await expect(panel).to_be_visible(timeout=WAIT)
        await expect(panel).to_contain_text("非会员", timeout=WAIT)
        await expect(panel).to_contain_text("还没有购买")
        await expect(panel).to_contain_text("回头客")
        await expect(panel).to_contain_text("农历八月")
        await expect(panel).to_contain_text("最常在 20:00 前后")
        await expect(panel).to_contain_text("样本少")
        await expect(panel.locator(".cp-strip span")).to_have_count(24)
        await expect(panel.locator(".cp-strip .heat-4")).to_have_count(1)
        await expect(page.locator("#wb-customer-link")).to_have_attribute(
            "href", f"/customers/{buyer.id}"
        )
        assert fired == []
    finally:
        await context.close()
