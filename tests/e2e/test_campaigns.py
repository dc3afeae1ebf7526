"""A follow-up campaign in a real browser: the supervisor builds a group, starts the
campaign from it, an agent works her list, the supervisor reads the analysis."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.conftest import MakeStaff
from tests.customers.test_campaigns import _floor
from tests.e2e.signing import LAPTOP, sign_in_at
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop


async def test_a_supervisor_starts_a_campaign_an_agent_works_it_and_the_analysis_shows_it(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    shots = Path(os.environ.get("XIAOER_SCREENSHOTS", tmp_path))
    floor = await _floor(db, shop, make_staff)  # customers c1, c2, c3 and two agents
    an = floor.agents[0]
    # the supervisor builds a hand group of three customers, by nick and by phone
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "sup", "/customers/groups")
    made = page.locator("#group-form")
    await made.get_by_label("名称").fill("回访名单")
    await made.get_by_label("手工").check()
    await made.get_by_role("button", name="创建").click()
    await expect(page).to_have_url(re.compile(r"/customers/groups/\d+$"))
    group = page.url.rsplit("/", 1)[1]
    for who in ("nick-c1", "nick-c2", "13800000003"):
        await page.get_by_label("按手机号或昵称加入").fill(who)
        await page.get_by_role("button", name="加入分组").click()
        await expect(page.locator("main")).to_contain_text(who.replace("13800000003", "顾客3"))
    # then picks the group, one agent and starts
    await page.goto(f"{server}/customers/campaigns")
    form = page.locator("#campaign-form")
    await form.get_by_label("活动名称").fill("老顾客回访")
    await form.get_by_label("话术").fill("亲，您好，想了解一下您收到的宝贝用得怎么样？")
    await form.locator('select[name="group_id"]').select_option(group)
    await form.get_by_label(f"{an.name} ({an.number})").check()
    await page.screenshot(path=str(shots / "campaign-new.png"), full_page=True)
    await form.get_by_role("button", name="开始回访").click()
    await expect(page.locator("#campaign h1")).to_contain_text("老顾客回访")
    address = page.url
    await context.close()
    # the agent works her list: one reached and satisfied, one not reached
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    path = address.removeprefix(server)
    await sign_in_at(page, server, an.username, "/customers/campaigns")
    await expect(page.locator("#campaigns")).to_contain_text("老顾客回访")
    await page.goto(address)
    rows = page.locator("#campaign-calls tbody tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator("#campaign-script")).to_contain_text("宝贝用得怎么样")
    first = rows.nth(0)
    await first.locator('select[name="satisfaction"]').select_option("5")
    await first.locator('input[name="feedback"]').fill("很满意")
    await first.get_by_role("button", name="记录结果").click()
    await expect(page.locator('#campaign-calls tr[data-done="yes"]')).to_have_count(1)
    second = page.locator("#campaign-calls tbody tr").nth(0)  # the calls still to make first
    await second.locator('select[name="reached"]').select_option("no")
    await second.locator('input[name="next_step"]').fill("明天再打")
    await second.get_by_role("button", name="记录结果").click()
    await expect(page.locator('#campaign-calls tr[data-done="yes"]')).to_have_count(2)
    await page.screenshot(path=str(shots / "campaign-agent.png"), full_page=True)
    await context.close()
    # the supervisor reads the analysis
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "sup", path)
    await expect(page.locator("#figure-done")).to_have_text("2")
    await expect(page.locator("#figure-reach-rate")).to_have_text("50.0%")
    await expect(page.locator("#figure-satisfaction")).to_have_text("5.00")
    await expect(page.locator("#campaign-analysis svg").first).to_be_visible()
    await page.screenshot(path=str(shots / "campaign-analysis.png"), full_page=True)
    await context.close()
