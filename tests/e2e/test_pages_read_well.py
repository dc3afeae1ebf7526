"""What the staff pages show, read in a real browser: words instead of codes, times on
the shop's clock, the evidence of a fine, the actions an order's state allows."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, MakeStaff
from tests.performance.test_kpi import _answer, _ask
from xiaoer.core.db import Database
from xiaoer.reception.service import do_close, do_set_presence
from xiaoer.shops.models import Shop

# 2026-11-23 02:17 UTC is 10:17 on the shop's clock (Asia/Shanghai, UTC+8).
EVENT = datetime(2026, 11, 23, 2, 17, tzinfo=UTC)


async def _sign_in(page: Page, server: str, username: str, target: str) -> None:
    await page.goto(f"{server}/login?next={target}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}{target}")


async def test_the_transcript_header_says_the_outcome_in_words(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        await do_set_presence(session, agent=mei, status="online", now=EVENT.replace(minute=0))
        await session.commit()
    chat = await _ask(db, shop, "b-1", EVENT, "这款有货吗")
    await _answer(db, mei, chat, EVENT.replace(minute=18))
    async with db.session() as session:
        await do_close(session, actor=mei, conversation_id=chat, outcome="ordered",
                       now=EVENT.replace(minute=30))  # fmt: skip
        await session.commit()

    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await _sign_in(page, server, "boss", f"/performance/conversations/{chat}")
        header = page.locator("h1 + p")
        await expect(header).to_contain_text("已下单")
        await expect(header).not_to_contain_text("ordered")
        await page.goto(f"{server}/performance/kpi/buyers?start=2026-11-23&end=2026-11-23")
        await expect(page.locator("#conversations")).to_contain_text("已下单")
        await expect(page.locator("#conversations")).not_to_contain_text("ordered")
    finally:
        await context.close()
