"""Live chat in real browsers: a buyer on the demo storefront, two agents on the workbench.

Covers C1 (the widget channel), C2 (the welcome within seconds), C5 (a quick phrase with
its variables), C6 (transfer to another agent), C8 (typing speed is measured) and that
buyer text is shown as text, never run as HTML.
"""

from __future__ import annotations

from datetime import date

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect

from tests.conftest import PASSWORD, MakeStaff
from xiaoer.catalog.models import Product
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.reception.phrases import PhraseInput, do_save_phrase
from xiaoer.shops.models import Shop

XSS = "<img src=x onerror=alert(1)>"
FIRST = "你好，明前龙井还有货吗？"
PHRASE = "亲，我是李娜，茶香小铺欢迎您"
WAIT = 5000  # ms: live updates arrive well within this


async def prepare_shop(db: Database, shop: Shop) -> None:
    """Agents on duty round the clock (the test may run at any hour), a phrase, products."""
    policy = default_policy()
    always = policy.model_copy(
        update={"reception": policy.reception.model_copy(update={"service_hours": "00:00-24:00"})}
    )
    async with db.session() as session:
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=always,
            source="e2e",
            effective_from=date(2000, 1, 1),
            actor="test",
        )
        await do_save_phrase(
            session,
            shop_id=shop.id,
            owner_id=None,
            item=PhraseInput("hi", "亲，我是{agent}，{shop}欢迎您"),
        )
        session.add_all(
            [
                Product(shop_id=shop.id, code="T01", title="明前龙井 250g", price_fen=12800),
                Product(shop_id=shop.id, code="T02", title="云南普洱熟茶饼 357g", price_fen=8900),
            ]
        )
        await session.commit()


def watch_dialogs(page: Page, fired: list[str]) -> None:
    """Record what must not happen: a dialog (injected script), a refusal of the
    page's Content-Security-Policy (Chromium reports each on the console)."""

    async def on_dialog(dialog: Dialog) -> None:
        fired.append(f"{page.url}: {dialog.message}")
        await dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            fired.append(f"{page.url}: {message.text}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)


async def open_workbench(
    context: BrowserContext, server: str, username: str, fired: list[str]
) -> Page:
    page = await context.new_page()
    watch_dialogs(page, fired)
    await page.goto(f"{server}/login?next=/workbench")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}/workbench")
    await expect(page.locator("#wb-link")).to_have_attribute("data-state", "live", timeout=WAIT)
    presence = page.get_by_label("在线状态")
    await presence.select_option("online")
    await expect(presence).to_have_attribute("data-status", "online", timeout=WAIT)
    return page


async def test_a_buyer_and_two_agents_chat_live(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    wang = await make_staff("wang", "agent", name="王芳", team="presale")
    await prepare_shop(db, shop)
    fired: list[str] = []
    contexts = [await browser.new_context(locale="zh-CN") for _ in range(3)]
    agent_context, buyer_context, second_context = contexts
    try:
        agent = await open_workbench(agent_context, server, "lina", fired)

        # The buyer opens the shop's page and writes through the widget.
        buyer = await buyer_context.new_page()
        watch_dialogs(buyer, fired)
        await buyer.goto(f"{server}/b/tea/store")
        await expect(buyer.get_by_role("heading", name="茶香小铺")).to_be_visible()
        await expect(buyer.locator("main")).to_contain_text("明前龙井 250g")
        await expect(buyer.locator("main")).to_contain_text("128.00")
        await buyer.get_by_role("button", name="在线咨询").click()
        widget = buyer.get_by_role("dialog", name="在线客服")
        log = widget.locator("ol")
        box = widget.get_by_label("输入您想咨询的问题")
        await box.fill(FIRST)
        await box.press("Enter")
        welcome = log.locator(".xiaoer-w-auto").first
        await expect(welcome).to_contain_text("茶香小铺", timeout=2000)
        await expect(welcome).to_contain_text("李娜")
        await expect(widget.get_by_role("status")).to_have_text("客服 李娜 为您服务")
        await expect(log.locator(".xiaoer-w-pending")).to_have_count(0)

        # The agent sees the conversation arrive with its countdown, opens it, answers.
        item = agent.locator("#wb-conversations .wb-conv").first
        await expect(item.locator(".wb-sla")).to_contain_text("还剩", timeout=WAIT)
        await expect(item.locator(".wb-unread")).to_have_text("1")
        await item.click()
        chat = agent.locator("#wb-messages")
        await expect(chat).to_contain_text(FIRST)
        await expect(chat.locator(".wb-msg-auto")).to_contain_text("茶香小铺")
        composer = agent.get_by_label("回复内容")
        await composer.press_sequentially("/hi")
        await expect(agent.locator("#wb-phrases")).to_contain_text(PHRASE)
        await composer.press("Enter")
        await expect(composer).to_have_value(PHRASE)
        await composer.press("Enter")
        await expect(chat.locator(".wb-msg-agent:not(.pending)")).to_contain_text(PHRASE)
        await expect(composer).to_have_value("")
        await expect(agent.locator("#wb-speed")).to_contain_text("字/分")
        await expect(log.locator(".xiaoer-w-agent")).to_contain_text(PHRASE, timeout=WAIT)
        await expect(log.locator(".xiaoer-w-agent .xiaoer-w-who")).to_have_text("李娜")

        # After a reload the reply still carries the agent's name, the header who serves.
        await buyer.reload()
        await buyer.get_by_role("button", name="在线咨询").click()
        await expect(log.locator(".xiaoer-w-agent")).to_contain_text(PHRASE, timeout=WAIT)
        await expect(log.locator(".xiaoer-w-agent .xiaoer-w-who")).to_have_text("李娜")
        await expect(widget.get_by_role("status")).to_have_text("客服 李娜 为您服务", timeout=WAIT)
        await expect(widget.locator(".xiaoer-w-title")).to_have_text("茶香小铺")

        # Markup from a buyer is text, on both sides.
        await box.fill(XSS)
        await widget.get_by_role("button", name="发送").click()
        await expect(chat.get_by_text(XSS, exact=True)).to_be_visible(timeout=WAIT)
        await expect(log.get_by_text(XSS, exact=True)).to_be_visible()
        await expect(item).to_contain_text(XSS)
        await expect(item.locator(".wb-sla")).to_contain_text("还剩")
        await expect(item.locator(".wb-unread")).to_have_count(0)
        await expect(agent.locator("main img")).to_have_count(0)
        await expect(buyer.locator(".xiaoer-w-root img")).to_have_count(0)
        await agent.screenshot(path="/tmp/workbench.png")

        # A second agent comes online; the first transfers the buyer to her.
        second = await open_workbench(second_context, server, "wang", fired)
        target = agent.get_by_label("转接给")
        await expect(target.locator(f'option[value="agent:{wang.id}"]')).to_have_count(
            1, timeout=WAIT
        )
        await target.select_option(f"agent:{wang.id}")
        await agent.get_by_role("button", name="转接").click()
        await expect(agent.locator("#wb-notice")).to_contain_text("王芳", timeout=WAIT)
        await expect(composer).to_be_disabled()
        await expect(widget.get_by_role("status")).to_have_text("客服 王芳 为您服务", timeout=WAIT)
        await expect(agent.locator("#wb-conversations .wb-conv")).to_have_count(0, timeout=WAIT)

        # She finds it on her workbench and closes it with an outcome.
        taken = second.locator("#wb-conversations .wb-conv").first
        await expect(taken).to_be_visible(timeout=WAIT)
        await taken.click()
        await expect(second.locator("#wb-messages").get_by_text(XSS, exact=True)).to_be_visible()
        await expect(second.locator("#wb-messages img")).to_have_count(0)
        await second.get_by_label("接待结果").select_option("resolved")
        await second.get_by_role("button", name="结束会话").click()
        await expect(second.locator("#wb-notice")).to_have_text(
            "会话已结束（已解决）。", timeout=WAIT
        )
        await expect(log).to_contain_text("本次咨询已结束", timeout=WAIT)

        # After a reload the buyer sees the history again and can go on writing.
        await buyer.reload()
        await buyer.get_by_role("button", name="在线咨询").click()
        await expect(log).to_contain_text(FIRST, timeout=WAIT)
        await expect(log).to_contain_text(PHRASE)
        await expect(log.get_by_text(XSS, exact=True)).to_be_visible()
        await expect(buyer.locator(".xiaoer-w-root img")).to_have_count(0)
        await box.fill("请问发什么快递？")
        await box.press("Enter")
        await expect(log.locator(".xiaoer-w-buyer").last).to_have_text("请问发什么快递？")
        await expect(log.locator(".xiaoer-w-pending")).to_have_count(0, timeout=WAIT)
        await expect(log.locator(".xiaoer-w-auto").last).to_contain_text("顺丰", timeout=WAIT)

        assert fired == [], fired
    finally:
        for context in contexts:
            await context.close()


# Lets a test cut a page's WebSockets and keep new ones from connecting for a while.
CUTTABLE_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blocked = false;
  class Cuttable extends Native {
    constructor(url, protocols) {
      // Cut: a socket to a path of this site that refuses it (a socket elsewhere would
      // break the page's content policy, not the network).
      super(window.__blocked ? url.replace(/[/](b|ws)[/].*$/, "/nowhere") : url, protocols);
      window.__sockets.push(this);
    }
  }
  window.WebSocket = Cuttable;
})();
"""
CUT = "window.__blocked = true; window.__sockets.forEach((s) => s.close());"
MEND = "window.__blocked = false;"


async def test_widget_and_workbench_catch_up_after_losing_the_connection(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", team="presale")
    await prepare_shop(db, shop)
    fired: list[str] = []
    contexts = [await browser.new_context(locale="zh-CN") for _ in range(2)]
    agent_context, buyer_context = contexts
    try:
        await agent_context.add_init_script(CUTTABLE_SOCKETS)
        await buyer_context.add_init_script(CUTTABLE_SOCKETS)
        agent = await open_workbench(agent_context, server, "lina", fired)
        buyer = await buyer_context.new_page()
        watch_dialogs(buyer, fired)
        await buyer.goto(f"{server}/b/tea/store")
        await buyer.get_by_role("button", name="在线咨询").click()
        widget = buyer.get_by_role("dialog", name="在线客服")
        log = widget.locator("ol")
        box = widget.get_by_label("输入您想咨询的问题")
        await box.fill("在吗？")
        await box.press("Enter")
        await expect(log.locator(".xiaoer-w-auto")).to_have_count(1, timeout=WAIT)
        await agent.locator("#wb-conversations .wb-conv").first.click(timeout=WAIT)
        chat = agent.locator("#wb-messages")
        await expect(chat).to_contain_text("在吗？")

        # The buyer's connection drops: an agent reply is missed, a buyer message waits.
        await buyer.evaluate(CUT)
        await expect(widget.get_by_role("status")).to_contain_text("重新连接", timeout=WAIT)
        composer = agent.get_by_label("回复内容")
        await composer.fill("亲，在的，请讲～")
        await composer.press("Enter")
        await expect(chat.locator(".wb-msg-agent:not(.pending)")).to_have_count(1, timeout=WAIT)
        await box.fill("断线时写的一句")
        await box.press("Enter")
        await expect(log.locator(".xiaoer-w-pending")).to_have_text("断线时写的一句")
        await buyer.evaluate(MEND)
        await expect(log.locator(".xiaoer-w-agent .xiaoer-w-text")).to_have_text(
            "亲，在的，请讲～", timeout=10000
        )
        await expect(log.locator(".xiaoer-w-pending")).to_have_count(0, timeout=WAIT)
        await expect(chat.get_by_text("断线时写的一句", exact=True)).to_have_count(1, timeout=WAIT)

        # The agent's connection drops: what the buyer writes meanwhile arrives once.
        await agent.evaluate(CUT)
        await expect(agent.locator("#wb-link")).to_have_attribute("data-state", "lost")
        await box.fill("还有一个问题")
        await box.press("Enter")
        await expect(log.locator(".xiaoer-w-pending")).to_have_count(0, timeout=WAIT)
        await agent.evaluate(MEND)
        link = agent.locator("#wb-link")
        await expect(link).to_have_attribute("data-state", "live", timeout=10000)
        await expect(chat.get_by_text("还有一个问题", exact=True)).to_have_count(1, timeout=WAIT)
        await expect(chat.locator(".wb-msg-buyer")).to_have_count(3)
        await expect(log.locator(".xiaoer-w-buyer")).to_have_count(3)
        await expect(log.locator(".xiaoer-w-agent")).to_have_count(1)
        assert fired == [], fired
    finally:
        for context in contexts:
            await context.close()
