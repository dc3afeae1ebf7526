"""Delivery promises and returns in a real browser, on a tablet: a scanner reads a
return's waybill into the search and the parcel is received; an agent gives a buyer
another courier from the order's page."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.fulfilment.test_promises import _order
from tests.fulfilment.test_returns import _people, _setting
from xiaoer.aftersales.models import Refund
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop

TABLET = {"width": 820, "height": 1180}


async def test_a_scanned_return_is_received_on_a_tablet(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    people = await _people(make_staff)
    s = await _setting(db, shop, people)
    context = await browser.new_context(viewport=TABLET)
    page = await context.new_page()
    await page.goto(f"{server}/login?next=/fulfilment/returns")
    await page.get_by_label("用户名").fill("wu")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}/fulfilment/returns")
    await expect(page.locator("#returns")).to_contain_text("YT1234567890123")
    # the scanner types the waybill into the focused search and presses Enter
    await page.keyboard.type("YT1234567890123\n")
    await expect(page).to_have_url(f"{server}/fulfilment/returns/{s.refund}")
    await page.locator(f'input[name="sku_{s.items[1]}"]').fill("P1-G")
    await page.locator(f'select[name="to_{s.items[1]}"]').select_option("damaged")
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the receiving form is {widths[0]} px wide"
    await page.screenshot(path=str(tmp_path / "return.png"), full_page=True)
    await page.get_by_role("button", name="入库", exact=True).click()
    await expect(page.locator("#return-done")).to_contain_text("已入库")
    await expect(page.locator("#return-moves")).to_contain_text("残次区")
    await expect(page.locator("#return-state")).to_contain_text("退款成功")
    await context.close()
    async with db.session() as session:
        refund = await session.scalar(select(Refund).where(Refund.id == s.refund))
    assert refund is not None and refund.status == "SUCCESS"


async def test_an_agent_offers_another_courier_from_the_order_page(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    agent = await make_staff("lina", level="senior")  # may change the fee by ¥15
    order_id = await _order(db, shop, agent, "E2E-COURIER-1")
    context = await browser.new_context(viewport=TABLET)
    page = await context.new_page()
    await page.goto(f"{server}/login?next=/orders/{order_id}")
    await page.get_by_label("用户名").fill("lina")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.locator("#change-courier").click()
    await expect(page).to_have_url(f"{server}/fulfilment/orders/{order_id}/courier")
    await expect(page.locator("#courier-form")).to_contain_text("买家补 14.00 元")
    await page.get_by_label("顺丰速运").check()
    await page.screenshot(path=str(tmp_path / "courier.png"), full_page=True)
    await page.get_by_role("button", name="换快递").click()
    await expect(page.locator("#courier-done")).to_contain_text("已换快递")
    await expect(page.locator("#current-courier")).to_have_text("顺丰速运")
    await context.close()
