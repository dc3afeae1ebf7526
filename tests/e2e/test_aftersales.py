"""After-sales in a real browser: a ticket opened from the chat in one click, a refund
agreed within the agent's authority, one above it approved by the supervisor, and the
buyer reading both results in the chat widget."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT, open_workbench, prepare_shop, watch_dialogs
from xiaoer.aftersales.models import Refund
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop


async def _sign_in(page: Page, server: str, username: str, target: str) -> None:
    await page.goto(f"{server}/login?next={target}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}{target}")


async def test_a_ticket_from_the_chat_ends_with_the_buyer_told_of_both_refunds(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    await make_staff("ling", "agent", name="林玲", team="aftersale")  # junior: up to ¥30
    await make_staff("boss", "supervisor", name="黄主管")
    await prepare_shop(db, shop)
    fired: list[str] = []
    contexts = [await browser.new_context(locale="zh-CN") for _ in range(4)]
    desk_context, buyer_context, after_context, boss_context = contexts
    try:
        agent = await open_workbench(desk_context, server, "lina", fired)
        buyer = await buyer_context.new_page()
        watch_dialogs(buyer, fired)
        await buyer.goto(f"{server}/b/tea/store")
        await buyer.get_by_role("button", name="在线咨询").click()
        widget = buyer.get_by_role("dialog", name="在线客服")
        log = widget.locator("ol")
        box = widget.get_by_label("输入您想咨询的问题")
        await box.fill("两单都有问题：一单少了配件，一单茶叶受潮了")
        await box.press("Enter")
        await expect(log.locator(".xiaoer-w-pending")).to_have_count(0, timeout=WAIT)

        async with db.session() as session:
            customer = await session.scalar(select(Customer).where(Customer.shop_id == shop.id))
            assert customer is not None
            for number, price in (("E2E-A", 5000), ("E2E-B", 12000)):
                new = NewOrder(
                    number=number, buyer_id=customer.buyer_id, channel=customer.channel,
                    items=(NewItem("明前龙井 250g", price),), receiver_name="陈晨",
                    receiver_phone="13800001234", receiver_address="杭州市西湖区",
                )  # fmt: skip
                order = await do_create_order(session, shop_id=shop.id, new=new)
                await do_pay_order(session, order=order)
            await session.commit()

        # The presale agent opens a ticket for each order from the chat, one click each.
        await agent.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        for number in ("E2E-A", "E2E-B"):
            order = agent.locator("#wb-orders .wb-order").filter(has_text=number)
            await expect(order).to_be_visible(timeout=WAIT)
            await order.get_by_role("button", name="开售后工单").click()
            await expect(agent.locator(".wb-toast").last).to_contain_text("已创建售后工单",
                                                                         timeout=WAIT)  # fmt: skip
        await expect(log).to_contain_text("已为您创建售后工单", timeout=WAIT)

        # The after-sales agent takes the oldest ticket and refunds ¥20 within authority.
        desk = await after_context.new_page()
        watch_dialogs(desk, fired)
        await _sign_in(desk, server, "ling", "/aftersales")
        await expect(desk.locator("#queue")).to_contain_text("E2E-A")
        await desk.get_by_role("button", name="领取最早的工单").click()
        await expect(desk.locator("#order-refund")).to_contain_text("E2E-A")
        form = desk.locator("#refund-form")
        await form.get_by_label("金额（元）").fill("20")
        await form.get_by_label("买家退款原因").fill("少发配件")
        await form.get_by_role("button", name="登记退款申请").click()
        await desk.locator("#move-agree").get_by_role("button", name="同意").click()
        await expect(desk.locator("#refund-status")).to_have_text("退款成功")
        close = desk.locator("#close-form")
        await close.get_by_label("原因").select_option(label="发错货/漏发")
        await close.get_by_label("处理结果").select_option(label="已退款")
        await close.get_by_role("button", name="结案").click()
        await expect(desk.locator("#ticket-status")).to_have_text("已结案")
        await expect(desk.locator("#timeline")).to_contain_text("结案：发错货/漏发，已退款")

        # The next one is ¥80, above a junior's ¥30: one click asks the supervisor.
        await desk.goto(f"{server}/aftersales")
        await desk.get_by_role("button", name="领取最早的工单").click()
        await expect(desk.locator("#order-refund")).to_contain_text("E2E-B")
        form = desk.locator("#refund-form")
        await form.get_by_label("金额（元）").fill("80")
        await form.get_by_label("买家退款原因").fill("茶叶受潮")
        await form.get_by_role("button", name="登记退款申请").click()
        await desk.locator("#move-agree").get_by_role("button", name="同意").click()
        await expect(desk.get_by_role("alert")).to_contain_text("超出你的权限 ¥30.00")
        await desk.get_by_role("button", name="提交主管审批").click()
        await expect(desk.locator("#refund-approval")).to_contain_text("待主管审批")

        # The supervisor finds it in the supervisor's view and approves it.
        boss = await boss_context.new_page()
        watch_dialogs(boss, fired)
        await _sign_in(boss, server, "boss", "/aftersales/supervise")
        asked = boss.locator("#asked")
        await expect(asked).to_contain_text("¥80.00")
        await asked.get_by_role("link").first.click()
        await boss.locator("#decide-form").get_by_role("button", name="批准", exact=True).click()
        await expect(boss.locator("#refund-status")).to_have_text("退款成功")
        await expect(boss.locator("#refund-approval")).to_contain_text("主管已批准")

        # The buyer reads both results in the chat.
        await expect(log).to_contain_text("您的退款 ¥20.00 已完成", timeout=WAIT)
        await expect(log).to_contain_text("您的退款 ¥80.00 已完成", timeout=WAIT)
        async with db.session() as session:
            amounts = sorted(
                (r.amount_fen, r.status) for r in await session.scalars(select(Refund))
            )
        assert amounts == [(2000, "SUCCESS"), (8000, "SUCCESS")]
        assert fired == []
        await desk.screenshot(path="/tmp/aftersales-case.png", full_page=True)
    finally:
        for context in contexts:
            await context.close()
