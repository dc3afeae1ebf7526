"""Straight after the demo is seeded, as `xiaoer demo` serves it (timers running), an
after-sales agent signs in, takes the oldest ticket and closes its refund end to end."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import start_server
from xiaoer.core.db import Database
from xiaoer.demo import DEMO_PASSWORD, seed_demo


async def test_an_aftersales_agent_takes_the_oldest_ticket_and_closes_its_refund(
    browser: Browser, scratch_url: str, tmp_path: Path
) -> None:
    database = Database(scratch_url)
    try:
        await seed_demo(database)
    finally:
        await database.dispose()
    process, server = start_server(scratch_url, tmp_path / "serve.log", XIAOER_RUN_TIMERS="true")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("agent2")  # 周子涵, after-sales
        await page.get_by_label("密码").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.get_by_role("navigation", name="main").get_by_role("link", name="售后").click()
        await expect(page.locator("#queue")).to_contain_text("挂钩少了两个")
        await page.get_by_role("button", name="领取最早的工单").click()
        await expect(page.locator("h1")).to_contain_text("挂钩少了两个")
        await expect(page.locator("#refund-status")).to_have_text("等待卖家同意退款")
        await page.locator("#move-agree").get_by_role("button", name="同意").click()
        await expect(page.locator("#refund-status")).to_have_text("退款成功")
        close = page.locator("#close-form")
        await close.get_by_label("原因").select_option(label="发错货/漏发")
        await close.get_by_label("处理结果").select_option(label="已退款")
        await close.get_by_role("button", name="结案").click()
        await expect(page.locator("#ticket-status")).to_have_text("已结案")
        await page.goto(f"{server}/aftersales")
        await expect(page.locator("#queue")).not_to_contain_text("挂钩少了两个")
    finally:
        await context.close()
        process.terminate()
        process.wait(timeout=10)
