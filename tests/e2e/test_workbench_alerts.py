"""The workbench never lets a buyer go unnoticed (C3), in a real browser.

A buyer who writes while another conversation is on screen is counted in the tab's
title and announced with a desktop notification (``window.Notification`` is recorded by
an init script; the browser and the server are real); the agent may switch either off.
The page recovers by itself when the network drops, and keeps the agent's drafts.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.conftest import MakeStaff
from tests.e2e.test_live_chat import WAIT, open_workbench, prepare_shop
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop

# Records every notification the page makes (permission is granted when asked), and
# every tone it plays.
RECORD_NOTIFICATIONS = """
(() => {
  window.__notes = [];
  window.__asked = 0;
  class Recorded {
    constructor(title, options) {
      window.__notes.push({ title, body: (options || {}).body || "" });
    }
    close() {}
  }
  Recorded.permission = "default";
  Recorded.requestPermission = () => {
    window.__asked += 1;
    Recorded.permission = "granted";
    return Promise.resolve("granted");
  };
  window.Notification = Recorded;
  // and every tone played
  window.__tones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
})();
"""


class Buyer:
    """A buyer writing from the shop's site, as the widget does over HTTP."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.token, self.sent = http, token, 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, nick: str) -> Buyer:
        response = await http.post("/b/tea/session", json={"nick": nick})
        assert response.status_code == 200, response.text
        return cls(http, response.json()["token"])

    async def say(self, text: str) -> None:
        self.sent += 1
        body = {"token": self.token, "text": text, "client_id": f"{self.token[-8:]}-{self.sent}"}
        response = await self.http.post("/b/tea/messages", json=body)
        assert response.status_code == 200, response.text


async def recorded(page: Page, what: str, count: int) -> Any:
    """``window[what]`` once it holds ``count`` (polled here: the page's content policy
    refuses the evaluated strings of ``wait_for_function``)."""
    for _ in range(WAIT // 100):
        value = await page.evaluate(f"window.{what}")
        if (len(value) if isinstance(value, list) else value) >= count:
            return value
        await asyncio.sleep(0.1)
    return await page.evaluate(f"window.{what}")


async def notes(page: Page, count: int = 0) -> list[dict[str, Any]]:
    """The notifications made since the page was loaded, once there are ``count``."""
    return await recorded(page, "__notes", count)  # type: ignore[no-any-return]


def conversation(page: Page, nick: str) -> Any:
    return page.locator("#wb-conversations .wb-conv", has_text=nick)


async def test_a_buyer_off_screen_is_counted_in_the_title_and_notified(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    await prepare_shop(db, shop)
    fired: list[str] = []
    # a laptop's width, where the chat's buttons are at the right edge
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
    await context.add_init_script(RECORD_NOTIFICATIONS)
    try:
        agent = await open_workbench(context, server, "lina", fired)
        # Permission is asked at the agent's first click, once.
        await agent.locator("#wb-conversations").click()
        await agent.locator("#wb-conversations").click()
        assert await agent.evaluate("window.__asked") == 1
        async with httpx.AsyncClient(base_url=server) as http:
            fish = await Buyer.open(http, "小鱼")
            await fish.say("在吗？")
            await expect(agent).to_have_title(re.compile(r"^\(1\) 接待工作台"), timeout=WAIT)
            assert await notes(agent, 1) == [{"title": "新买家：小鱼", "body": "在吗？"}]
            assert await recorded(agent, "__tones", 2) == 2  # a chime of two tones
            # The list previews what the buyer said, not the shop's own welcome.
            await expect(conversation(agent, "小鱼").locator(".wb-conv-last")).to_have_text(
                "在吗？"
            )

            # On screen, the conversation is read: the count goes.
            await conversation(agent, "小鱼").click()
            await expect(agent.locator("#wb-messages")).to_contain_text("在吗？")
            await expect(agent).to_have_title(re.compile(r"^接待工作台"), timeout=WAIT)

            # Another buyer writes while 小鱼 is on screen: counted and notified.
            ming = await Buyer.open(http, "阿明")
            await ming.say("有红茶吗")
            await expect(agent).to_have_title(re.compile(r"^\(1\) 接待工作台"), timeout=WAIT)
            assert (await notes(agent, 2))[1:] == [{"title": "新买家：阿明", "body": "有红茶吗"}]
            # The toast telling of her covers neither the chat's buttons nor the composer.
            toast = agent.locator(".wb-toast").first
            await expect(toast).to_be_visible()
            box = await toast.bounding_box()
            assert box is not None
            for control in (
                agent.get_by_role("button", name="结束会话"),
                agent.get_by_role("button", name="转接", exact=True),
                agent.get_by_label("回复内容"),
                agent.get_by_role("button", name="发送"),
            ):
                free = await control.bounding_box()
                assert free is not None
                assert (
                    box["x"] + box["width"] <= free["x"]
                    or free["x"] + free["width"] <= box["x"]
                    or box["y"] + box["height"] <= free["y"]
                    or free["y"] + free["height"] <= box["y"]
                ), (box, free)

            # The buyer on screen writes: seen, neither counted nor notified.
            await fish.say("明前龙井还有吗")
            await expect(agent.locator("#wb-messages")).to_contain_text("明前龙井还有吗")
            await ming.say("要两盒")
            await expect(agent).to_have_title(re.compile(r"^\(2\) 接待工作台"), timeout=WAIT)
            assert (await notes(agent, 3))[2:] == [{"title": "阿明 发来新消息", "body": "要两盒"}]

            # She switches desktop notifications off; it is remembered after a reload.
            await agent.get_by_label("桌面通知").uncheck()
            await agent.reload()
            await expect(agent.locator("#wb-link")).to_have_attribute("data-state", "live")
            await expect(agent.get_by_label("桌面通知")).not_to_be_checked()
            await expect(agent.get_by_label("提示音")).to_be_checked()
            await expect(agent.locator("#wb-messages")).to_contain_text("明前龙井还有吗")
            await agent.locator("#wb-messages").click()  # a page may sound after a gesture
            await ming.say("在不在")
            await expect(agent).to_have_title(re.compile(r"^\(3\) 接待工作台"), timeout=WAIT)
            assert await notes(agent) == []  # none since the reload
            # the sound stays on; once she switches it off, a buyer is silent too
            assert await recorded(agent, "__tones", 2) == 2
            await agent.get_by_label("提示音").uncheck()
            await ming.say("人呢")
            await expect(agent).to_have_title(re.compile(r"^\(4\) 接待工作台"), timeout=WAIT)
            assert await agent.evaluate("window.__tones") == 2
            assert await notes(agent) == []

            # The network drops and comes back: what was written meanwhile appears once.
            await context.set_offline(True)
            await expect(agent.locator("#wb-link")).to_have_attribute("data-state", "lost")
            await expect(agent.locator("#wb-link")).to_have_text("连接中断，正在重新连接…")
            await fish.say("断网时写的")
            await context.set_offline(False)
            await expect(agent.locator("#wb-link")).to_have_attribute(
                "data-state", "live", timeout=WAIT
            )
            chat = agent.locator("#wb-messages")
            await expect(chat.get_by_text("断网时写的", exact=True)).to_have_count(1, timeout=WAIT)
            await expect(chat.locator(".wb-msg-buyer")).to_have_count(3)
        assert fired == [], fired
    finally:
        await context.close()


async def test_a_draft_survives_a_reload_and_pasted_text_is_not_typing(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    await prepare_shop(db, shop)
    fired: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    try:
        agent = await open_workbench(context, server, "lina", fired)
        async with httpx.AsyncClient(base_url=server) as http:
            fish = await Buyer.open(http, "小鱼")
            await fish.say("这款茶适合送人吗？")
        await conversation(agent, "小鱼").click(timeout=WAIT)
        await expect(agent.locator("#wb-messages")).to_contain_text("这款茶适合送人吗？")
        composer = agent.get_by_label("回复内容")
        await composer.press_sequentially("亲，送人很合适")

        # A reload keeps the draft of this conversation, for this agent.
        await agent.reload()
        await expect(agent.locator("#wb-messages")).to_contain_text("这款茶适合送人吗？")
        await expect(composer).to_have_value("亲，送人很合适")

        # A long answer pasted in: only the characters typed count for the speed.
        pasted = "，我们有礼盒装，附赠手提袋和贺卡，包装很精美，送长辈送朋友都很体面。"
        await agent.evaluate("(t) => navigator.clipboard.writeText(t)", pasted)
        await composer.press("End")
        await composer.press("ControlOrMeta+V")
        await expect(composer).to_have_value("亲，送人很合适" + pasted)
        await composer.press_sequentially("欢迎选购", delay=200)  # 4 typed in ~0.6 s
        await composer.press("Enter")
        chat = agent.locator("#wb-messages")
        await expect(chat.locator(".wb-msg-agent:not(.pending)")).to_contain_text("贺卡")
        speed = agent.locator("#wb-speed")
        await expect(speed).to_contain_text("字/分")
        found = re.search(r"(\d+) 字/分", await speed.inner_text())
        assert found is not None
        # 4 characters in ~0.6 s: ~400 字/分; the whole text's 40 would read over 3,000
        assert 0 < int(found.group(1)) < 800, await speed.inner_text()

        # Sent: the draft is gone, also after a reload.
        await expect(composer).to_have_value("")
        await agent.reload()
        await expect(agent.locator("#wb-messages")).to_contain_text("贺卡")
        await expect(composer).to_have_value("")
        assert fired == [], fired
    finally:
        await context.close()


async def test_an_approval_card_shows_the_question_and_leads_to_the_chat(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale", level="intermediate")
    await make_staff("boss", "supervisor", name="黄主管")
    await prepare_shop(db, shop)
    fired: list[str] = []
    contexts = [await browser.new_context(locale="zh-CN") for _ in range(2)]
    try:
        agent = await open_workbench(contexts[0], server, "lina", fired)
        async with httpx.AsyncClient(base_url=server) as http:
            fish = await Buyer.open(http, "小鱼")
            await fish.say("能便宜点吗？别家才卖八十")
        await conversation(agent, "小鱼").click(timeout=WAIT)
        composer = agent.get_by_label("回复内容")
        await composer.fill("亲，给您便宜20块吧")
        await composer.press("Enter")
        await agent.get_by_role("button", name="请示主管").click(timeout=WAIT)
        await expect(agent.locator("#wb-check")).to_contain_text("已提交给主管", timeout=15_000)

        boss = await open_workbench_as_leader(contexts[1], server, fired)
        await boss.get_by_role("tab", name="现场监控").click()
        card = boss.locator("#wb-approvals .wb-approval").first
        await expect(card).to_contain_text("买家问：能便宜点吗？别家才卖八十", timeout=WAIT)
        await expect(card).to_contain_text("李娜 请示：亲，给您便宜20块吧")
        await card.get_by_role("link", name="查看会话").click()
        await expect(boss.locator("#wb-reception")).to_be_visible()
        await expect(boss.locator("#wb-chat-buyer")).to_have_text("小鱼")
        await expect(boss.locator("#wb-messages")).to_contain_text("能便宜点吗？别家才卖八十")
        assert fired == [], fired
    finally:
        for context in contexts:
            await context.close()


async def open_workbench_as_leader(context: Any, server: str, fired: list[str]) -> Page:
    from tests.conftest import PASSWORD
    from tests.e2e.test_live_chat import watch_dialogs

    page: Page = await context.new_page()
    watch_dialogs(page, fired)
    await page.goto(f"{server}/login?next=/workbench")
    await page.get_by_label("用户名").fill("boss")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("#wb-link")).to_have_attribute("data-state", "live", timeout=WAIT)
    return page
