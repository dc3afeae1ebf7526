"""An agent signs in through the real login page in Chromium and sees the home page."""

from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, MakeStaff


async def test_agent_signs_in_and_sees_the_home_page(
    server: str, browser: Browser, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜", level="intermediate")
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(f"{server}/")
        await expect(page).to_have_url(f"{server}/login?next=/")
        await expect(page.locator("h1")).to_have_text("登录")
        await page.get_by_label("用户名").fill("lina")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page).to_have_url(f"{server}/")
        await expect(page.locator("h1")).to_have_text("李娜，您好")
        await expect(page.locator("#agent-home")).to_contain_text("首次响应不超过 30 秒")
        await expect(page.locator("main")).to_contain_text("中级")

        await page.get_by_role("button", name="退出").click()
        await expect(page).to_have_url(f"{server}/login")
    finally:
        await context.close()


async def test_wrong_password_shows_the_error_in_the_page(
    server: str, browser: Browser, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("lina")
        await page.get_by_label("密码").fill("wrong-password")
        await page.get_by_role("button", name="登录").click()
        await expect(page.get_by_role("alert")).to_have_text("用户名或密码不正确。")
    finally:
        await context.close()
