"""Phones and tablets: the workbench, the order page and the after-sales pages at
390 px and at 1440 px wide, in a real browser.

Nothing may overflow sideways; on a phone the workbench shows one pane at a time
(the list, the chat, the buyer) with a way back. Every screen is saved as a PNG under
the test's temporary folder, to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff
from tests.e2e.test_live_chat import WAIT, prepare_shop, watch_dialogs
from xiaoer.aftersales.models import TicketKind, TicketSource
from xiaoer.aftersales.tickets import Opening, do_open_ticket
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
DESKTOP = {"width": 1440, "height": 900}


async def _no_sideways_overflow(page: Page, what: str) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} is {widths[0]} px wide in a {widths[1]} px window"


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    await _no_sideways_overflow(page, name)


async def _seed(db: Database, shop: Shop, server: str) -> tuple[int, int]:
    """A buyer who wrote, with a paid order and an after-sales ticket on it."""
    async with httpx.AsyncClient(base_url=server) as http:
        token = (await http.post("/b/tea/session", json={"nick": "小鱼"})).json()["token"]
        text = "窗帘收到了，颜色和图片上的不太一样，能换一个吗？尺寸是三米乘二米七的那款"
        sent = await http.post(
            "/b/tea/messages", json={"token": token, "text": text, "client_id": "n1"}
        )
        assert sent.status_code == 200, sent.text
    async with db.session() as session:
        buyer = await session.scalar(select(Customer).where(Customer.shop_id == shop.id))
        boss = await session.scalar(select(StaffAccount).where(StaffAccount.username == "boss"))
        assert buyer is not None and boss is not None
        new = NewOrder(
            number="E2E-NARROW-20261206-0001", buyer_id=buyer.buyer_id, channel=buyer.channel,
            items=(NewItem("高精密遮光窗帘 加厚款 客厅卧室通用", 15800, 3,
                           sku_text="颜色分类：奶咖；尺寸：3米*2.7米"),),
            receiver_name="刘贺", receiver_phone="13800001234",
            receiver_address="上海市徐汇区漕河泾开发区宜山路一千八百八十八号十二楼",
        )  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        opening = Opening(
            kind=TicketKind.refund,
            source=TicketSource.hand,
            subject="颜色与图片不符，买家要求换货，尺寸三米乘二米七",
            order_id=order.id,
        )
        ticket = await do_open_ticket(session, boss, opening)
        await session.commit()
        return order.id, ticket.id


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    """Under the test's own folder, or where XIAOER_SCREENSHOTS says, to keep them."""
    folder = Path(os.environ.get("XIAOER_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("size", [PHONE, TABLET, DESKTOP], ids=["390px", "820px", "1440px"])
async def test_workbench_order_and_aftersales_fit_the_screen(
    server: str,
    browser: Browser,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    screens: Path,
    size: dict[str, int],
) -> None:
    lina = await make_staff("lina", "agent", name="李娜", team="presale")
    await make_staff("boss", "supervisor", name="黄主管")
    await prepare_shop(db, shop)
    async with db.session() as session:
        await do_set_presence(session, agent=lina, status="online")
        await session.commit()
    order_id, ticket_id = await _seed(db, shop, server)
    folder = screens
    phone = size["width"] < 700
    width = size["width"]
    fired: list[str] = []
    context = await browser.new_context(locale="zh-CN", viewport=size)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        watch_dialogs(page, fired)
        await page.goto(f"{server}/login?next=/workbench")
        await page.get_by_label("用户名").fill("boss")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page.locator("#wb-link")).to_have_attribute("data-state", "live", timeout=WAIT)

        # The workbench: the list first; a conversation opens its chat.
        item = page.locator("#wb-conversations .wb-conv").first
        await expect(item).to_contain_text("小鱼", timeout=WAIT)
        await _shot(page, folder, f"workbench-list-{width}")
        await item.click()
        chat = page.locator("#wb-messages")
        await expect(chat).to_contain_text("颜色和图片上的不太一样")
        await expect(page.locator("#wb-orders")).to_contain_text("E2E-NARROW", timeout=WAIT)
        await _shot(page, folder, f"workbench-chat-{width}")
        back = page.get_by_role("button", name="‹ 会话列表")
        buyer = page.get_by_role("button", name="买家信息")
        side = page.locator("#wb-side")
        if phone:
            await expect(page.locator("#wb-conversations")).to_be_hidden()
            await expect(side).to_be_hidden()
            await buyer.click()
            await expect(side).to_be_visible()
            await expect(chat).to_be_hidden()
            await expect(side).to_contain_text("E2E-NARROW")
            await _shot(page, folder, f"workbench-buyer-{width}")
            await page.get_by_role("button", name="‹ 返回聊天").click()
            await expect(chat).to_be_visible()
            await back.click()
            await expect(page.locator("#wb-conversations")).to_be_visible()
            await expect(chat).to_be_hidden()
            await _no_sideways_overflow(page, "the list again")
        elif width < 1100:
            # A tablet: the list beside the chat; the buyer's panel takes the chat's place.
            await expect(page.locator("#wb-conversations")).to_be_visible()
            await expect(side).to_be_hidden()
            await expect(back).to_be_hidden()
            await buyer.click()
            await expect(side).to_be_visible()
            await expect(chat).to_be_hidden()
            await _shot(page, folder, f"workbench-buyer-{width}")
            await page.get_by_role("button", name="‹ 返回聊天").click()
            await expect(chat).to_be_visible()
            await expect(side).to_be_hidden()
        else:
            # Wide: the three panes side by side, no phone controls.
            await expect(page.locator("#wb-conversations")).to_be_visible()
            await expect(side).to_be_visible()
            await expect(back).to_be_hidden()
            await expect(buyer).to_be_hidden()
        await page.get_by_role("tab", name="现场监控").click()
        await _shot(page, folder, f"workbench-monitor-{width}")

        # The order page and the after-sales pages.
        await page.goto(f"{server}/orders/{order_id}")
        await expect(page.locator("main")).to_contain_text("E2E-NARROW-20261206-0001")
        await _shot(page, folder, f"order-{width}")
        for path, name in (
            ("/aftersales", "aftersales"),
            ("/aftersales/tickets", "tickets"),
            (f"/aftersales/tickets/{ticket_id}", "ticket"),
            ("/aftersales/supervise", "supervise"),
        ):
            await page.goto(f"{server}{path}")
            await expect(page.locator("main")).to_be_visible()
            await _shot(page, folder, f"{name}-{width}")
        assert fired == [], fired
    finally:
        await context.close()
