"""In the demo shop, the supervisor follows a commission's evidence from the payroll to the
KPI page of that agent and month, reads a value off the trend chart by hovering it and
hides a series from its legend; the page is photographed at 1440 px to be looked at."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import start_server
from tests.e2e.test_content_policy import REPORT_VIOLATIONS, violations, watch_console
from xiaoer.core.db import Database
from xiaoer.demo import DEMO_PASSWORD, seed_demo

# Where the screenshots go to be looked at; a test run's own folder when unset.
SHOTS = os.environ.get("XIAOER_SCREENSHOTS")


async def _sign_in(page: Page, server: str, name: str) -> None:
    await page.goto(f"{server}/login")
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()


async def test_the_commission_evidence_opens_that_agents_month_and_the_charts_answer(
    browser: Browser, scratch_url: str, tmp_path: Path
) -> None:
    database = Database(scratch_url)
    try:
        await seed_demo(database)
    finally:
        await database.dispose()
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    process, server = start_server(scratch_url, tmp_path / "serve.log")
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    await context.add_init_script(REPORT_VIOLATIONS)
    refused: list[str] = []
    try:
        page = await context.new_page()
        watch_console(page, refused)
        await _sign_in(page, server, "supervisor")

        # given last month's payroll, an agent's commission line
        await page.goto(f"{server}/performance/payroll")
        month = re.search(r"\d{4}-\d{2}", await page.locator("h1").inner_text())
        assert month is not None
        line = page.locator("details.pay-line").first
        name = (await line.locator("summary strong").inner_text()).strip()
        await line.locator("summary").click()
        # when the supervisor opens what the commission was figured from
        await line.locator("tr.pay-commission").get_by_role("link", name="查看依据").click()
        # then the KPI page shows that agent over that month
        await expect(page).to_have_url(re.compile(rf"/performance/kpi\?agent=\d+&month={month[0]}"))
        heading = page.locator("h1")
        await expect(heading).to_contain_text(f"{month[0]}-01 ~ ")
        await expect(page.locator("#kpi-agent")).to_contain_text(name)
        rows = page.locator("#kpi-table tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first.locator("td").first).to_contain_text(name)
        await expect(page.locator("select[name=agent] option:checked")).to_contain_text(name)
        await expect(page.locator("select[name=period] option:checked")).to_have_text("月")
        await page.screenshot(path=str(shots / "kpi-agent-1440.png"), full_page=True)

        # the whole team over the same month: one line per agent in the trend
        await page.goto(f"{server}/performance/kpi?month={month[0]}&metric=inquiring_buyers")
        trend = page.locator("#chart-trend")
        header = page.locator("#kpi-table thead th").nth(1)
        await expect(header.locator("abbr")).to_have_attribute("title", "询单人数")
        box = await header.bounding_box()
        assert box is not None and box["height"] < 40  # one line, not a character a line
        series = trend.locator("g.series")
        assert await series.count() >= 2
        first_name = await series.first.get_attribute("data-name")
        point = trend.locator('g.series[data-series="0"] circle.point').first
        index = await point.get_attribute("data-index")
        value = await point.get_attribute("data-value")
        # when the supervisor hovers that day
        await trend.locator(f'rect.col[data-index="{index}"]').hover()
        tip = trend.locator(".chart-tip")
        # then its day and every agent's value there show
        await expect(tip).to_be_visible()
        await expect(tip).to_contain_text(f"{first_name}: {value}")
        await page.screenshot(path=str(shots / "kpi-team-hover-1440.png"), full_page=True)
        # the same from the keyboard: focus the chart, step to the second day
        await page.mouse.move(0, 0)
        await expect(tip).to_be_hidden()
        await trend.locator("svg.chart-svg").focus()
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("ArrowRight")
        day = await trend.locator('rect.col[data-index="1"]').get_attribute("data-label")
        await expect(tip.locator("b")).to_have_text(day or "?")

        # when the first agent's legend entry is clicked, that line goes and comes back
        entry = trend.locator('.legend-item[data-series="0"]')
        await entry.click()
        await expect(trend.locator('g.series[data-series="0"]')).to_be_hidden()
        await expect(entry).to_have_attribute("aria-pressed", "false")
        await expect(trend.locator('g.series[data-series="1"]')).to_be_visible()
        await trend.locator(f'rect.col[data-index="{index}"]').hover()
        await expect(tip).not_to_contain_text(f"{first_name}:")
        await entry.click()
        await expect(trend.locator('g.series[data-series="0"]')).to_be_visible()
        assert await violations(page) == [] and refused == []  # all under the page's policy

        # on a phone the trend scrolls sideways rather than shrinking its words
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(shots / "kpi-team-390.png"), full_page=True)
        scale = await trend.locator("svg.chart-svg").evaluate("e => e.getScreenCTM().a")
        assert 12 * scale >= 9.9  # the ticks' 12 units in pixels
        await page.set_viewport_size({"width": 1440, "height": 900})

        # a bad month is said beside the date, and the page still shows
        await page.goto(f"{server}/performance/kpi?month=2026-13")
        await expect(page.locator("#on-error")).to_contain_text("2026-13")

        # the manager's home: the last 14 days' sales, a day's amount on hover
        await context.clear_cookies()
        await _sign_in(page, server, "manager")
        sales = page.locator("#sales-chart")
        bar = sales.locator("rect.bar").last
        amount = await bar.get_attribute("data-value")
        assert amount is not None and amount.startswith("¥")
        await sales.locator("rect.col").last.hover()
        await expect(sales.locator(".chart-tip")).to_contain_text(amount)
        await expect(sales.locator("text.tick").first).to_have_text("0")
        await page.screenshot(path=str(shots / "home-manager-1440.png"), full_page=True)
        await page.goto(f"{server}/aftersales/report?month={month[0]}")
        await page.screenshot(path=str(shots / "aftersales-report-1440.png"), full_page=True)
        assert await violations(page) == [] and refused == []
    finally:
        await context.close()
        process.terminate()
        process.wait(timeout=10)
