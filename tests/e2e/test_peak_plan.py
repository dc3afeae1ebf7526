"""The peak day in a real browser: the manager forecasts the event from the shop's
history, reads the plan and its gaps, puts the suggested roster on, and schedules
peak mode with the role split — then the readiness checklist shows where it stands."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.conftest import MakeStaff
from tests.e2e.signing import LAPTOP, sign_in_at
from tests.peakday.history_world import at, buyer, chats
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop


async def test_the_manager_plans_the_day_sees_the_gaps_and_schedules_peak_mode(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    shots = Path(os.environ.get("XIAOER_SCREENSHOTS", tmp_path))
    await make_staff("boss", "manager", name="王经理")
    mei = await make_staff("mei", "agent", name="小美")
    await make_staff("lin", "agent", name="小林")
    event = (utcnow() + timedelta(days=30)).date()
    async with db.session() as session:  # eight ordinary weeks: 40 chats at 10:00
        who = await buyer(session, shop.id)
        for k in range(1, 9):
            await chats(session, shop.id, who, at(event - timedelta(days=7 * k), 10), 40,
                        handled_s=300)  # fmt: skip
        await session.commit()
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "boss", "/peakday/forecasts")
    form = page.locator("#forecast-form")
    await form.get_by_label("名称").fill("双十一")
    await form.get_by_label("日期").fill(event.isoformat())
    await form.get_by_label("活动倍数").fill("3")
    await form.get_by_role("button", name="按历史生成预测").click()
    await expect(page).to_have_url(re.compile(r"/peakday/forecasts/\d+$"))
    team = page.locator("#team-presale")
    await expect(team).to_contain_text("平均处理时长 300 秒")
    await expect(team.locator("[data-short]")).to_contain_text("排班不足")
    await expect(team.locator("svg").first).to_be_visible()
    await page.screenshot(path=str(shots / "peak-plan.png"), full_page=True)
    # the gaps: 10:00 needs more agents than the empty roster has
    await team.get_by_text("每十五分钟的明细").click()
    ten = team.locator('tr[data-slot="40"]')
    await expect(ten).to_have_class("short")
    assert int(await ten.get_attribute("data-gap") or 0) > 0
    # the suggestion names the two agents; put it on the roster
    await expect(page.locator("#roster")).to_contain_text("小美")
    await page.get_by_role("button", name="按建议排班").click()
    await expect(page.locator("#roster-added")).to_contain_text("已排上 2 个班次")
    await expect(page.locator("#roster")).to_contain_text("本组人手不够")
    # peak mode: on at the event's midnight, 小美 to after-sales, a cap of 10
    await page.goto(f"{server}/peakday/peak")
    peak = page.locator("#peak-form")
    await peak.get_by_label("名称").fill("双十一大促")
    await peak.get_by_label("开始时间").fill(f"{event.isoformat()}T00:00")
    await peak.get_by_label("结束时间").fill(f"{(event + timedelta(days=1)).isoformat()}T00:00")
    await peak.get_by_label("每人同时接待上限").fill("10")
    await peak.locator('select[name="forecast_id"]').select_option(label=f"双十一 · {event}")
    await peak.get_by_label("小美").select_option("aftersale")
    await peak.get_by_role("button", name="准备并定时开启").click()
    await expect(page.locator("#peak-status")).to_have_text("待开启")
    await expect(page.locator("#split")).to_contain_text("小美: 售后")
    await page.screenshot(path=str(shots / "peak-mode.png"), full_page=True)
    # the checklist: prepared, not yet covered, no rehearsal
    await page.goto(f"{server}/peakday")
    checks = page.locator("#readiness")
    await expect(checks.locator('[data-check="mode"]')).to_have_attribute("data-done", "yes")
    await expect(checks.locator('[data-check="roster"]')).to_have_attribute("data-done", "no")
    await expect(checks.locator('[data-check="rehearsal"]')).to_contain_text("还没有做过压力演练")
    assert mei.team == "presale"  # nothing moved before its start
    await context.close()
