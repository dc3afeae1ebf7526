"""The manager changes a section of the shop policy in the browser: a bad value is
shown beside its field with everything typed kept, the preview says old → new, and
the saved version is in the history with its author."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, MakeStaff


async def test_a_manager_edits_previews_and_saves_a_policy_section(
    server: str, browser: Browser, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager", name="王店长")
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("man")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.goto(f"{server}/policy")
        reminder_row = page.locator('tr[data-key="orders.payment_reminder_minutes"]')
        await expect(reminder_row).to_contain_text("催付时间")
        await expect(reminder_row).to_contain_text("10 分钟")
        await page.locator("#section-orders").get_by_role("link", name="修改").click()
        await expect(page.locator("h1")).to_have_text("修改店铺规则：订单")

        # one good change, one bad value
        await page.get_by_label("催付时间").fill("15")
        await page.get_by_label("发货时限").fill("四十八")
        await page.get_by_label("货到付款电话确认").select_option(label="否")
        await page.get_by_label("生效日期").fill("2099-01-01")
        await page.get_by_role("button", name="预览修改").click()
        await expect(page.locator("#error-orders-ship_within_hours")).to_have_text("请填写整数")
        await expect(page.get_by_label("催付时间")).to_have_value("15")
        await expect(page.get_by_label("发货时限")).to_have_value("四十八")
        await expect(page.get_by_label("货到付款电话确认")).to_have_value("no")
        await expect(page.get_by_label("生效日期")).to_have_value("2099-01-01")
        await expect(page.locator("#policy-preview")).to_have_count(0)

        await page.get_by_label("发货时限").fill("36")
        await page.get_by_role("button", name="预览修改").click()
        preview = page.locator("#policy-preview")
        await expect(preview.locator("tbody tr")).to_have_count(3)
        await expect(preview).to_contain_text("催付时间10 分钟→15 分钟")
        await expect(preview).to_contain_text("发货时限48 小时→36 小时")
        await expect(preview).to_contain_text("货到付款电话确认是→否")
        await expect(preview).to_contain_text("2099-01-01")

        await page.get_by_role("button", name="确认保存").click()
        await expect(page.locator("#policy-saved")).to_contain_text("已保存为新版本")
        latest = page.locator("#history tbody tr").first
        await expect(latest).to_contain_text("2099-01-01")
        await expect(latest).to_contain_text("man")
        await expect(latest).to_contain_text("订单 · 催付时间：10 分钟 → 15 分钟")
        await expect(latest).to_contain_text("订单 · 货到付款电话确认：是 → 否")
        # in force only from its date: today the old value stands
        await expect(reminder_row).to_contain_text("10 分钟")
        await expect(page.locator("main")).not_to_contain_text("True")
    finally:
        await context.close()
