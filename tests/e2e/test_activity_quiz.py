"""The activities quiz in a real browser: an agent reads the activities, takes the quiz,
and the supervisor sees her score and the activity she missed."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.conftest import MakeStaff
from tests.e2e.signing import LAPTOP, sign_in_at
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.peakday.activities import ActivityInput, do_create_activity
from xiaoer.peakday.quiz import quiz_for
from xiaoer.shops.models import Shop


async def test_an_agent_takes_the_quiz_and_the_supervisor_sees_the_score(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    shots = Path(os.environ.get("XIAOER_SCREENSHOTS", tmp_path))
    sup = await make_staff("sup", "supervisor")
    mei = await make_staff("mei", "agent", name="美美")
    now = utcnow()
    async with db.session() as session:
        await do_create_activity(session, sup, ActivityInput(
            "full_reduction", "双十一满减", "", now - timedelta(days=1), now + timedelta(days=9),
            {"tiers": "满299减30\n满599减70"}))  # fmt: skip
        await do_create_activity(session, sup, ActivityInput(
            "presale", "窗帘预售", "", now - timedelta(days=1), now + timedelta(days=5),
            {"deposit_fen": "50", "deposit_worth_fen": "100",
             "balance_from": (now + timedelta(days=4)).isoformat(),
             "balance_until": (now + timedelta(days=5)).isoformat(),
             "ships_on": (now + timedelta(days=8)).date().isoformat()}))  # fmt: skip
        await session.commit()
        quiz = await quiz_for(session, mei)
    # the agent reads the activities, then answers every question, the first one wrongly
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "mei", "/peakday/activities")
    await expect(page.locator("#activities")).to_contain_text("满299减30、满599减70")
    await page.get_by_role("link", name="参加活动测验").click()
    questions = page.locator("fieldset.quiz-question")
    await expect(questions).to_have_count(len(quiz.questions))
    for number, question in enumerate(quiz.questions):
        pick = question.correct if number else (question.correct + 1) % len(question.options)
        await questions.nth(number).get_by_label(question.options[pick], exact=True).check()
    await page.screenshot(path=str(shots / "activity-quiz.png"), full_page=True)
    await page.get_by_role("button", name="交卷").click()
    await expect(page).to_have_url(f"{server}/peakday/quiz/results")
    await expect(page.locator("#own-answers li[data-right='no']")).to_have_count(1)
    await context.close()
    # the supervisor sees her latest score and the activity she missed
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "sup", "/peakday/quiz/results")
    row = page.locator(f"#result-{mei.id}")
    total = len(quiz.questions)
    await expect(row).to_contain_text(f"{total - 1}/{total}")
    await expect(row).to_contain_text(quiz.questions[0].activity)
    await page.screenshot(path=str(shots / "activity-quiz-results.png"), full_page=True)
    await context.close()


async def test_a_supervisor_adds_an_activity_through_its_form(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff,
    tmp_path: Path,
) -> None:  # fmt: skip
    shots = Path(os.environ.get("XIAOER_SCREENSHOTS", tmp_path))
    await make_staff("sup", "supervisor")
    start = (utcnow() + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    end = (utcnow() + timedelta(days=10, hours=8)).strftime("%Y-%m-%dT%H:%M")
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    await sign_in_at(page, server, "sup", "/peakday/activities")
    await page.locator("#new-activity").get_by_role("link", name="满减").click()
    form = page.locator("#activity-form")
    await form.get_by_label("活动名称").fill("双十一满减")
    await form.get_by_label("开始时间").fill(start)
    await form.get_by_label("结束时间").fill(end)
    await form.get_by_label("满减档位").fill("满299减30\n满599减20")
    await form.get_by_label("可与店铺券叠加").check()
    await form.get_by_role("button", name="保存").click()
    await expect(page.locator("#activity-error")).to_have_text("门槛越高，减的金额应越多")
    await expect(form.get_by_label("活动名称")).to_have_value("双十一满减")
    await page.screenshot(path=str(shots / "activity-form.png"), full_page=True)
    await form.get_by_label("满减档位").fill("满299减30\n满599减70")
    await form.get_by_role("button", name="保存").click()
    rules = "满299减30、满599减70（可与店铺券叠加）"
    await expect(page.locator("#activities")).to_contain_text(rules)
    await expect(page.locator("#activities tr[data-state='running']")).to_have_count(1)
    await page.screenshot(path=str(shots / "activities.png"), full_page=True)
    await context.close()
