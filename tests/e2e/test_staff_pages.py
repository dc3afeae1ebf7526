"""The manager keeps the staff in the browser: adds someone, who signs in with the
password shown once, then disables them and they cannot sign in any more."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, MakeStaff


async def _sign_in(page: Page, server: str, username: str, password: str) -> None:
    await page.goto(f"{server}/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


async def test_a_manager_adds_a_member_then_disables_them(
    server: str, browser: Browser, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager", name="王店长")
    await make_staff("taken", "agent", name="老员工")
    manager = await browser.new_context(locale="zh-CN")
    newcomer = await browser.new_context(locale="zh-CN")
    try:
        page = await manager.new_page()
        await _sign_in(page, server, "man", PASSWORD)
        await page.goto(f"{server}/staff")
        form = page.locator("#add-staff")
        # a username already taken: the error beside it, the rest as typed
        await form.get_by_label("用户名").fill("taken")
        await form.get_by_label("工号").fill("A77")
        await form.get_by_label("姓名").fill("林小雨")
        await form.get_by_label("组别").select_option(label="售后")
        await form.get_by_role("button", name="添加").click()
        await expect(page.locator("#error-username")).to_have_text("用户名 'taken' 已被占用")
        await expect(form.get_by_label("工号")).to_have_value("A77")
        await expect(form.get_by_label("姓名")).to_have_value("林小雨")
        await expect(form.get_by_label("组别")).to_have_value("aftersale")
        await form.get_by_label("用户名").fill("xiaoyu")
        await form.get_by_role("button", name="添加").click()
        password = (await page.locator("#password").text_content() or "").strip()
        assert len(password) == 14
        row = page.locator('#staff-list tr[data-username="xiaoyu"]')
        await expect(row).to_contain_text("林小雨")
        await expect(row).to_contain_text("售后")
        await expect(row).to_contain_text("在职")
        # the password is shown once: the list read again does not hold it
        await page.goto(f"{server}/staff")
        await expect(page.locator("main")).not_to_contain_text(password)

        their = await newcomer.new_page()
        await _sign_in(their, server, "xiaoyu", password)
        await expect(their.locator("h1")).to_have_text("林小雨，您好")

        await row.get_by_role("link").click()
        await page.get_by_role("button", name="停用账号").click()
        await expect(page.locator("#member-state")).to_have_text("已停用")
        history = page.locator("#staff-history")
        await expect(history.locator("tbody tr").first).to_contain_text("停用")
        await expect(history.locator("tbody tr").first).to_contain_text("man")

        # signed out at once, and refused at the door
        await their.reload()
        await expect(their).to_have_url(f"{server}/login?next=/")
        await _sign_in(their, server, "xiaoyu", password)
        await expect(their.get_by_role("alert")).to_have_text("用户名或密码不正确。")
    finally:
        await manager.close()
        await newcomer.close()
