"""The manager keeps the shop's bridge channels in the browser: creates one, sees its
secret once, gives it a new secret and disables it (C1); each step as a connector
calling the bridge API with the secret would notice it."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, MakeStaff
from xiaoer.shops.models import Shop


def _replies(server: str, channel: str, secret: str) -> int:
    answer = httpx.get(
        f"{server}/b/bridge/{channel}/replies", headers={"Authorization": f"Bearer {secret}"}
    )
    return answer.status_code


async def test_the_manager_creates_renews_and_disables_a_channel(
    server: str, browser: Browser, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "manager", name="王经理")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("boss")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.get_by_role("link", name="渠道").click()
        await expect(page.get_by_role("heading", name="渠道", exact=True)).to_be_visible()
        await expect(page.locator("#channels")).to_contain_text("还没有渠道")

        # A name too long is refused beside the field, and what was typed stays.
        name = page.get_by_label("名称")
        await name.evaluate("(el) => el.removeAttribute('maxlength')")
        await name.fill("京" * 65)
        await page.get_by_role("button", name="创建").click()
        await expect(page.locator("#channel-name-error")).to_have_text("渠道名称须为 1–64 个字")
        await expect(page.get_by_label("名称")).to_have_value("京" * 65)

        await page.get_by_label("名称").fill("jd-store")
        await page.get_by_role("button", name="创建").click()
        shown = page.locator("#channel-secret")
        await expect(shown).to_contain_text("jd-store")
        await expect(shown).to_contain_text("只显示这一次")
        secret = await page.locator("#secret").inner_text()
        assert secret.startswith("xc_")
        row = page.locator("#channels tbody tr").first
        channel = (await row.locator("td").first.inner_text()).strip()
        await expect(row).to_contain_text("jd-store")
        await expect(row).to_contain_text("启用")
        assert _replies(server, channel, secret) == 200

        # The secret is not shown again.
        await page.goto(f"{server}/reception/channels")
        await expect(page.locator("#channel-secret")).to_have_count(0)
        assert secret not in await page.content()

        # A new secret: the old one stops working at once.
        await page.get_by_role("button", name="更换密钥").click()
        renewed = await page.locator("#secret").inner_text()
        assert renewed.startswith("xc_") and renewed != secret
        assert _replies(server, channel, secret) == 401
        assert _replies(server, channel, renewed) == 200

        # Disabled, the channel's secret is refused; enabled again, it works.
        await page.get_by_role("button", name="停用").click()
        await expect(page.locator("#channels tbody tr").first).to_contain_text("已停用")
        assert _replies(server, channel, renewed) == 401
        await page.get_by_role("button", name="重新启用").click()
        await expect(page.locator("#channels tbody tr").first).to_contain_text("启用")
        assert _replies(server, channel, renewed) == 200
    finally:
        await context.close()


async def test_an_agent_has_no_channel_page(
    server: str, browser: Browser, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("mei", "agent")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server}/login")
        await page.get_by_label("用户名").fill("mei")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page.get_by_role("link", name="工作台")).to_be_visible()
        await expect(page.get_by_role("link", name="渠道")).to_have_count(0)
        answer = await page.goto(f"{server}/reception/channels")
        assert answer is not None and answer.status == 403
    finally:
        await context.close()
