"""In the demo shop, as `xiaoer demo` serves it: a repeat buyer writes and the agent's
side panel shows her customer file (level, purchases, online hours); a buyer chats and
pays, the auditor passes the order, the warehouse picks it, scans a wrong item (refused)
and the right one, enters the waybill — and the buyer's chat shows the shipping notice."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.e2e.conftest import start_server
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.customers.models import CustomerStats, OnlineProfile
from xiaoer.demo import DEMO_PASSWORD, DEMO_SHOP_CODE, seed_demo
from xiaoer.fulfilment.models import StockLevel, StockLocation
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop

WAIT = 15_000
NUMBER = "3362000000000017"


async def _sign_in(page: Page, server: str, username: str, target: str) -> None:
    await page.goto(f"{server}/login?next={target}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}{target}")


async def _a_repeat_buyer_writes(database: Database) -> tuple[str, str]:
    """The demo's best customer with known online hours writes; her nick and level."""
    async with database.session() as session:
        shop = await session.scalar(select(Shop).where(Shop.code == DEMO_SHOP_CODE))
        assert shop is not None
        buyer, level = (
            await session.execute(
                select(Customer, CustomerStats.level)
                .join(CustomerStats, CustomerStats.customer_id == Customer.id)
                .join(OnlineProfile, OnlineProfile.customer_id == Customer.id)
                .where(Customer.shop_id == shop.id, CustomerStats.level != "")
                .order_by(CustomerStats.spent_fen.desc())
                .limit(1)
            )
        ).one()
        await do_receive_buyer_message(session, shop=shop, customer=buyer, text="上次的茶还有吗？")
        await session.commit()
        return buyer.nick, str(level)


async def _order_for_the_widget_buyer(database: Database) -> str:
    """The widget's buyer pays an order for a curtain the first warehouse holds."""
    async with database.session() as session:
        shop = await session.scalar(select(Shop).where(Shop.code == DEMO_SHOP_CODE))
        assert shop is not None
        buyer = await session.scalar(
            select(Customer).where(Customer.shop_id == shop.id).order_by(Customer.id.desc())
        )
        assert buyer is not None
        sku, title = (
            await session.execute(
                select(Sku, Product.title)
                .join(Product, Product.id == Sku.product_id)
                .join(StockLevel, StockLevel.sku_id == Sku.id)
                .join(StockLocation, StockLocation.id == StockLevel.location_id)
                .where(Sku.shop_id == shop.id, StockLocation.code == "A",
                       StockLevel.on_hand - StockLevel.reserved >= 5,
                       Product.custom_made.is_(False))
                .order_by(Sku.id)
                .limit(1)
            )
        ).one()  # fmt: skip
        order = await do_create_order(
            session,
            shop_id=shop.id,
            new=NewOrder(
                number=NUMBER, buyer_id=buyer.buyer_id, channel=buyer.channel,
                items=(NewItem(title, sku.price_fen, 1, sku.code, sku.attribute_text),),
                receiver_name="周小米", receiver_phone="13800001111",
                receiver_address="上海市浦东新区世纪大道100号",
            ),
        )  # fmt: skip
        await do_pay_order(session, order=order)
        await session.commit()
        return str(sku.code)


async def test_the_warehouse_ships_an_audited_order_and_the_buyer_sees_the_notice(
    browser: Browser, scratch_url: str, tmp_path: Path
) -> None:
    database = Database(scratch_url)
    try:
        await seed_demo(database)
        process, server = start_server(scratch_url, tmp_path / "serve.log")
        buyer_context = await browser.new_context(locale="zh-CN")
        staff_context = await browser.new_context(
            locale="zh-CN", viewport={"width": 1024, "height": 768}
        )
        try:
            # A repeat buyer writes; the agent's side panel shows her file.
            agent_context = await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 900}
            )
            agent = await agent_context.new_page()
            await _sign_in(agent, server, "agent", "/workbench")
            presence = agent.get_by_label("在线状态")
            await presence.select_option("online")
            await expect(presence).to_have_attribute("data-status", "online", timeout=WAIT)
            nick, level = await _a_repeat_buyer_writes(database)
            await agent.locator("#wb-conversations .wb-conv", has_text=nick).first.click(
                timeout=WAIT
            )
            panel = agent.locator("#wb-customer-file")
            await expect(panel).to_be_visible(timeout=WAIT)
            await expect(panel).to_contain_text(level, timeout=WAIT)
            await expect(panel).to_contain_text("最近购买")
            await expect(panel.locator(".cp-strip span")).to_have_count(24)
            await agent_context.close()

            # The buyer asks in the shop's widget, then pays.
            buyer = await buyer_context.new_page()
            await buyer.goto(f"{server}/b/{DEMO_SHOP_CODE}/store")
            await buyer.get_by_role("button", name="在线咨询").click()
            widget = buyer.get_by_role("dialog", name="在线客服")
            box = widget.get_by_label("输入您想咨询的问题")
            await box.fill("今天付款今天能发吗？")
            await box.press("Enter")
            log = widget.locator("ol")
            await expect(log.locator(".xiaoer-w-auto").first).to_be_visible(timeout=WAIT)
            code = await _order_for_the_widget_buyer(database)

            # The auditor finds the note missing, says why it may pass, and passes it.
            page = await staff_context.new_page()
            await _sign_in(page, server, "auditor", "/fulfilment/audit")
            await page.get_by_role("link", name=NUMBER).first.click()
            await expect(page.locator("#audit-flags")).to_contain_text("备注", timeout=WAIT)
            await page.locator("#pass-form input[name=override]").fill("已电话确认规格")
            await page.locator("#pass").click()
            await expect(page.locator("#audit-status")).to_contain_text("已通过", timeout=WAIT)
            await page.context.clear_cookies()

            # The warehouse picks from the first warehouse's list, then packs and ships.
            await _sign_in(page, server, "warehouse", "/fulfilment/warehouse")
            await page.get_by_role("link", name="一号仓").first.click()
            await expect(page.locator("main")).to_contain_text(code, timeout=WAIT)
            await expect(page.locator("main")).to_contain_text(NUMBER)
            await page.goto(f"{server}/fulfilment/warehouse?q={NUMBER}")
            scanner = page.get_by_label("扫描商家编码")
            await expect(scanner).to_be_focused(timeout=WAIT)
            message = page.locator("#scan-message")
            await scanner.fill("NOT-IN-BOX")
            await scanner.press("Enter")
            await expect(message).to_contain_text("不在这个包裹里", timeout=WAIT)
            await expect(message).to_have_class("wh-message wh-refused")
            await scanner.fill(code)
            await scanner.press("Enter")
            waybill = page.get_by_label("运单号")
            await expect(waybill).to_be_visible(timeout=WAIT)
            await page.get_by_label("快递公司").select_option("YTO")
            await waybill.fill("YT1234567890123")
            await page.get_by_role("button", name="发货").click()
            await expect(page.locator("#shipped-waybill")).to_have_text(
                "YT1234567890123", timeout=WAIT
            )

            # The buyer's chat shows the notice, without reloading.
            notice = log.locator(".xiaoer-w-auto", has_text="YT1234567890123")
            await expect(notice).to_be_visible(timeout=WAIT)
            await expect(notice).to_contain_text("圆通速递")
        finally:
            await buyer_context.close()
            await staff_context.close()
            process.terminate()
            process.wait(timeout=10)
    finally:
        await database.dispose()
