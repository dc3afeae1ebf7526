"""Orders in a real browser: the workbench's order panel (note deadline, note,
confirmation: O2, O3) and the orders list, filtered and opened."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT, open_workbench, prepare_shop
from tests.orders.test_list import _build
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_flag
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def test_an_agent_writes_the_note_and_sends_the_confirmation_from_the_chat(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜")
    await prepare_shop(db, shop)
    fired: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    try:
        agent = await open_workbench(context, server, "lina", fired)
        async with httpx.AsyncClient(base_url=server) as http:
            token = (await http.post("/b/tea/session", json={})).json()["token"]
            sent = await http.post(
                "/b/tea/messages", json={"token": token, "text": "我付好款了", "client_id": "c1"}
            )
            assert sent.status_code == 200, sent.text
        async with db.session() as session:
            buyer = await session.scalar(select(Customer).where(Customer.shop_id == shop.id))
            lina = await session.scalar(select(StaffAccount).where(StaffAccount.username == "lina"))
            assert buyer is not None and lina is not None
            new = NewOrder(
                number="E2E-1", buyer_id=buyer.buyer_id, channel=buyer.channel,
                items=(NewItem("高精密遮光窗帘", 15800, 3, sku_text="颜色分类：奶咖"),),
                receiver_name="刘贺", receiver_phone="13800001234", receiver_address="上海市徐汇区",
            )  # fmt: skip
            order = await do_create_order(session, shop_id=shop.id, new=new)
            await do_flag(session, order=order, agent=lina, flag=1)
            await do_pay_order(session, order=order)
            await session.commit()

        await agent.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        panel = agent.locator("#wb-orders .wb-order").first
        await expect(panel).to_contain_text("E2E-1", timeout=WAIT)
        await expect(panel).to_contain_text("备注须在")
        await panel.get_by_label("卖家备注").fill("刘贺,3米*2.7米,图案正常,12月19发货,自提。送胶。")
        await panel.get_by_role("button", name="写备注").click()
        await expect(panel).to_contain_text("备注：刘贺,3米*2.7米", timeout=WAIT)

        await panel.get_by_role("button", name="发送确认信息").click()
        # A long confirmation goes out split into several messages, as agents' replies do.
        chat = agent.locator("#wb-messages")
        await expect(chat).to_contain_text("麻烦核对", timeout=WAIT)
        await expect(chat).to_contain_text("宽3米")
        await expect(chat).to_contain_text("信息没问题请回复“确认”")
        await expect(panel.get_by_role("button", name="买家已确认")).to_be_visible(timeout=WAIT)
        assert fired == []
    finally:
        await context.close()


async def test_a_supervisor_filters_the_orders_list_and_opens_an_order_from_it(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    team = {
        "mei": await make_staff("mei", name="美美"),
        "lan": await make_staff("lan", name="兰兰"),
        "boss": await make_staff("boss", "supervisor", name="主管"),
    }
    ids = await _build(db, shop, team)
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login?next=/")
        await page.get_by_label("用户名").fill("boss")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page).to_have_url(f"{server}/")
        # the home page's count of orders on their way leads to their list
        await page.locator('a[href="/orders?status=WAIT_BUYER_CONFIRM_GOODS"]').first.click()
        await expect(page.locator("#order-sum")).to_contain_text("共 1 笔订单，金额合计 ¥88.00")
        # the whole list from the menu, then narrowed in the form
        await page.get_by_role("link", name="订单列表").click()
        await expect(page.locator("#order-sum")).to_contain_text("共 5 笔订单，金额合计 ¥497.00")
        form = page.locator("#order-filter")
        await form.get_by_label("客服").select_option(label="美美 · " + team["mei"].number)
        await form.get_by_label("旗帜").select_option(label="红")
        await form.get_by_role("button", name="筛选").click()
        await expect(page.locator("#order-sum")).to_contain_text("共 2 笔订单，金额合计 ¥329.00")
        assert "flag=1" in page.url and f"agent={team['mei'].id}" in page.url
        await form.get_by_label("搜索").fill("小鹿")
        await form.get_by_role("button", name="筛选").click()
        await expect(page.locator("#order-sum")).to_contain_text("共 1 笔订单")
        rows = page.locator("#orders tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("李雷")
        # a bad date is said beside its field and the search stays
        await page.goto(f"{server}/orders?q=%E5%B0%8F%E9%B9%BF&start=2026-11-30&end=2026-11-01")
        await expect(page.locator("#error-end")).to_have_text("结束日期早于开始日期")
        await expect(form.get_by_label("搜索")).to_have_value("小鹿")
        # the order opens from the list
        await page.goto(f"{server}/orders?q=T-4")
        await page.get_by_role("link", name="T-4").click()
        await expect(page).to_have_url(f"{server}/orders/{ids['T-4']}", timeout=WAIT)
        await expect(page.locator("h1")).to_contain_text("订单 T-4")
    finally:
        await context.close()
