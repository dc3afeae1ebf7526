"""In the demo shop, the supervisor opens last month's payroll in Chromium, clicks an
agent's fine and lands on the late seller note that caused it (issue: performance and pay)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import start_server
from xiaoer.core.db import Database
from xiaoer.demo import DEMO_PASSWORD, seed_demo


async def test_a_fine_on_last_months_payroll_leads_to_the_late_note(
    browser: Browser, scratch_url: str, tmp_path: Path
) -> None:
    database = Database(scratch_url)
    try:
        await seed_demo(database)
    finally:
        await database.dispose()
    process, server = start_server(scratch_url, tmp_path / "serve.log")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("supervisor")
        await page.get_by_label("密码").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.goto(f"{server}/performance/payroll")  # last month by default
        await expect(page.locator("h1")).to_contain_text("月度工资")

        line = page.locator("details.pay-line").filter(has=page.locator("tr.pay-fine")).first
        fine = line.locator("tr.pay-fine").first
        await line.locator("summary").click()
        await expect(fine).to_contain_text("备注超时或错误")
        await expect(fine).to_contain_text("-20.00")
        await fine.get_by_role("link", name="查看依据").click()

        await expect(page).to_have_url(re.compile(r"/orders/\d+#note$"))
        note = page.locator("#note")
        await expect(note).to_be_visible()
        first = page.locator("#note-v1")
        await expect(first).to_be_visible()
        # The evidence names who wrote it, when it was due and how late it came.
        await expect(first.locator("td").nth(2)).to_have_text(re.compile(r"^\d{3,}$"))
        await expect(page.locator("#note-deadline")).to_contain_text("付款后 20 分钟内")
        await expect(first.locator(".tag.late")).to_contain_text(re.compile(r"超时 \d+ 分钟"))
    finally:
        await context.close()
        process.terminate()
        process.wait(timeout=10)
