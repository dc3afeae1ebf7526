"""The agent sees what a bargaining buyer is after and inserts the suggested answer."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.conftest import MakeStaff
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
