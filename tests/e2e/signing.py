"""Signing in through the real login page, as a member of staff does."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.conftest import PASSWORD

LAPTOP = {"width": 1280, "height": 900}


async def sign_in_at(page: Page, server: str, username: str, then: str) -> None:
    """Sign in from the login page and land on ``then``."""
    await page.goto(f"{server}/login?next={then}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}{then}")
