"""The warehouse in a real browser: a scanner's wrong item refused, the right one packed
by code and quantity, the waybill entered, and the buyer's chat holding the notice."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT
from tests.fulfilment.shipments import order_of, parcel
from xiaoer.core.db import Database
from xiaoer.orders.models import TradeStatus
from xiaoer.reception.models import Message
from xiaoer.shops.models import Shop


async def test_the_warehouse_refuses_a_wrong_scan_packs_the_right_one_and_ships(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("war", "warehouse", name="王仓管")
    p = await parcel(db, shop, "E2E-SHIP-1", {"CL-200": 2}, chat=True)
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login?next=/fulfilment/warehouse")
        await page.get_by_label("用户名").fill("war")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page).to_have_url(f"{server}/fulfilment/warehouse")
        await page.get_by_role("link", name=f"#{p.shipment_id}").first.click()
        await expect(page).to_have_url(f"{server}/fulfilment/warehouse/shipments/{p.shipment_id}")

        scanner = page.get_by_label("扫描商家编码")
        await expect(scanner).to_be_focused()
        message = page.locator("#scan-message")
        row = page.locator("#parcel-lines tr[data-code='CL-200'] .packed")
        # a wrong item: refused loudly, nothing counted
        await scanner.fill("XX-999")
        await scanner.press("Enter")
        await expect(message).to_contain_text("XX-999 不在这个包裹里", timeout=WAIT)
        await expect(message).to_have_class("wh-message wh-refused")
        await expect(row).to_have_text("0")
        # the right one: the code counts one, the quantity typed after it the rest
        await scanner.fill("CL-200")
        await scanner.press("Enter")
        await expect(row).to_have_text("1", timeout=WAIT)
        await expect(message).to_have_class("wh-message wh-ok")
        await scanner.fill("2")
        await scanner.press("Enter")
        # full: the screen turns to the ship step
        waybill = page.get_by_label("运单号")
        await expect(waybill).to_be_visible(timeout=WAIT)
        await expect(page.get_by_label("快递公司")).to_have_value("SF")
        await waybill.fill("SF1234567890123")
        await page.get_by_role("button", name="发货").click()
        await expect(page.locator("#shipped-waybill")).to_have_text("SF1234567890123", timeout=WAIT)
        await expect(page.locator("#scan-message")).to_contain_text("包裹已发货")
    finally:
        await context.close()
    order = await order_of(db, p.order_id)
    assert order.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
    async with db.session() as session:
        texts = list(
            await session.scalars(
                select(Message.text).where(
                    Message.conversation_id == p.conversation_id, Message.sender == "auto"
                )
            )
        )
    assert any("顺丰速运" in text and "SF1234567890123" in text for text in texts)
