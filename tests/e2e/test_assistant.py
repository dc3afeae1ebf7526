"""The agent sees what a bargaining buyer is after and inserts the suggested answer."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT, open_workbench, prepare_shop
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop

ASK = "能便宜点吗？别家才卖八十"


async def test_a_bargaining_buyer_gets_the_compare_answer_in_one_click(
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
                "/b/tea/messages", json={"token": token, "text": ASK, "client_id": "c1"}
            )
            assert sent.status_code == 200, sent.text
        await agent.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        panel = agent.locator("#wb-assistant")
        await expect(panel.locator("#wb-asks")).to_contain_text("议价", timeout=WAIT)
        await expect(panel.locator("#wb-asks")).to_contain_text("对比型")
        first = panel.locator(".wb-suggestion").first
        await expect(first).to_contain_text("议价·对比型")
        await first.get_by_role("button", name="插入").click()
        composer = agent.get_by_label("回复内容")
        await expect(composer).to_have_value(await first.locator("p").inner_text())
        assert fired == []
    finally:
        await context.close()


async def test_a_discount_beyond_authority_is_stopped_until_the_supervisor_agrees(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", level="junior")
    await make_staff("boss", "supervisor", name="王主管")
    await prepare_shop(db, shop)
    fired: list[str] = []
    agent_context = await browser.new_context(locale="zh-CN")
    boss_context = await browser.new_context(locale="zh-CN")
    try:
        agent = await open_workbench(agent_context, server, "lina", fired)
        async with httpx.AsyncClient(base_url=server) as http:
            token = (await http.post("/b/tea/session", json={})).json()["token"]
            await http.post(
                "/b/tea/messages", json={"token": token, "text": ASK, "client_id": "c1"}
            )
        await agent.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        composer = agent.get_by_label("回复内容")
        await composer.fill("亲，给您便宜20块吧")
        check = agent.locator("#wb-check")
        await expect(check).to_contain_text("需要主管同意", timeout=WAIT)  # while typing
        await composer.press("Enter")
        await expect(check.get_by_role("button", name="请示主管")).to_be_visible(timeout=WAIT)
        await expect(composer).to_have_value("亲，给您便宜20块吧")  # nothing was sent
        await expect(agent.locator("#wb-messages .wb-msg-agent")).to_have_count(0)
        await check.get_by_role("button", name="请示主管").click()
        await expect(check).to_contain_text("已提交给主管")

        boss = await boss_context.new_page()
        await boss.goto(f"{server}/login?next=/workbench")
        await boss.get_by_label("用户名").fill("boss")
        await boss.get_by_label("密码").fill(PASSWORD)
        await boss.get_by_role("button", name="登录").click()
        await boss.locator("#wb-tab-monitor").click()
        request = boss.locator("#wb-approvals .wb-approval")
        await expect(request).to_contain_text("便宜20块", timeout=WAIT)
        await request.get_by_role("button", name="同意", exact=True).click()
        await expect(agent.locator("#wb-toasts")).to_contain_text("主管已同意", timeout=WAIT)

        await composer.press("Enter")
        sent = agent.locator("#wb-messages .wb-msg-agent:not(.pending)")
        await expect(sent).to_contain_text("便宜20块", timeout=WAIT)
        assert fired == []
    finally:
        await agent_context.close()
        await boss_context.close()
