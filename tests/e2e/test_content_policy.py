"""The pages work under their Content-Security-Policy in Chromium: the workbench, the
storefront with its chat widget, the packing slip's print button. Any refusal of the
policy is reported on the console, and the tests fail on one."""

from __future__ import annotations

from playwright.async_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT, open_workbench, prepare_shop
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_write_note
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

# Also report violations the console might not (from the page's own event).
REPORT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watch_console(page: Page, refused: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", on_console)


async def violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__violations")
    return found


async def test_the_workbench_works_under_its_policy(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", "supervisor", name="李娜")  # with the monitor tab
    await prepare_shop(db, shop)
    fired: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    await context.add_init_script(REPORT_VIOLATIONS)
    try:
        page = await open_workbench(context, server, "lina", fired)  # live socket, presence
        response = await page.reload()
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        await expect(page.locator("#wb-link")).to_have_attribute("data-state", "live", timeout=WAIT)
        await page.locator("#wb-tab-monitor").click()
        await expect(page.locator("#wb-tab-monitor")).to_have_attribute("aria-selected", "true")
        assert await violations(page) == []
        assert fired == []
    finally:
        await context.close()


async def test_the_storefront_and_its_widget_work_under_their_policy(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜")
    await prepare_shop(db, shop)
    refused: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    await context.add_init_script(REPORT_VIOLATIONS)
    try:
        page = await context.new_page()
        watch_console(page, refused)
        await page.goto(f"{server}/b/tea/store")
        await expect(page.get_by_role("heading", name="茶香小铺")).to_be_visible()
        opener = page.get_by_role("button", name="在线咨询")
        await opener.click()
        widget = page.get_by_role("dialog", name="在线客服")
        await expect(widget).to_be_visible()
        # Styled by its own sheet: the panel floats over the page's corner.
        root = page.locator(".xiaoer-w-root")
        assert await root.evaluate("e => getComputedStyle(e).position") == "fixed"
        await expect(widget.get_by_role("status")).not_to_have_text("", timeout=WAIT)
        assert await violations(page) == []
        assert refused == []
    finally:
        await context.close()


async def test_the_slip_prints_from_its_button(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜")
    await make_staff("store", "warehouse")
    async with db.session() as session:
        lina = await session.scalar(select(StaffAccount).where(StaffAccount.username == "lina"))
        assert lina is not None
        new = NewOrder(
            number="E2E-9", buyer_id="b-9",
            items=(NewItem("高精密遮光窗帘", 15800, 1),),
            receiver_name="刘贺", receiver_phone="13800001234", receiver_address="上海市徐汇区",
        )  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        await do_write_note(
            session, order=order, author=lina, text="刘贺,3米*2.4米,图案正常,12月19发货,自提。"
        )
        await session.commit()
        order_id = order.id
    refused: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    await context.add_init_script(
        REPORT_VIOLATIONS + "window.print = () => { window.__printed = true; };"
    )
    try:
        page = await context.new_page()
        watch_console(page, refused)
        await page.goto(f"{server}/login?next=/orders/{order_id}/slip")
        await page.get_by_label("用户名").fill("store")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page.locator("#slip")).to_contain_text("E2E-9")
        await page.get_by_role("button", name="打印").click()
        assert await page.evaluate("window.__printed === true")
        assert await violations(page) == []
        assert refused == []
    finally:
        await context.close()
