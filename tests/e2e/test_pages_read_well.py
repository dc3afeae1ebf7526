"""What the staff pages show, read in a real browser: words instead of codes, times on
the shop's clock, the evidence of a fine, the actions an order's state allows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect
from sqlalchemy import update

from tests.conftest import PASSWORD, MakeStaff
from tests.performance.test_kpi import _answer, _ask
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_flag, do_write_note
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.violations import do_add_violation
from xiaoer.reception.service import do_close, do_set_presence
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

# 2026-11-23 02:17 UTC: 10:17 in Shanghai (UTC+8), 11:17 in Tokyo (UTC+9).
EVENT = datetime(2026, 11, 23, 2, 17, tzinfo=UTC)


async def _sign_in(page: Page, server: str, username: str, target: str) -> None:
    await page.goto(f"{server}/login?next={target}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{server}{target}")


async def test_the_transcript_header_says_the_outcome_in_words(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        await do_set_presence(session, agent=mei, status="online", now=EVENT.replace(minute=0))
        await session.commit()
    chat = await _ask(db, shop, "b-1", EVENT, "这款有货吗")
    await _answer(db, mei, chat, EVENT.replace(minute=18))
    async with db.session() as session:
        await do_close(session, actor=mei, conversation_id=chat, outcome="ordered",
                       now=EVENT.replace(minute=30))  # fmt: skip
        await session.commit()

    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await _sign_in(page, server, "boss", f"/performance/conversations/{chat}")
        header = page.locator("h1 + p")
        await expect(header).to_contain_text("已下单")
        await expect(header).not_to_contain_text("ordered")
        await page.goto(f"{server}/performance/kpi/buyers?start=2026-11-23&end=2026-11-23")
        await expect(page.locator("#conversations")).to_contain_text("已下单")
        await expect(page.locator("#conversations")).not_to_contain_text("ordered")
    finally:
        await context.close()


async def _a_morning(db: Database, shop: Shop, mei: StaffAccount) -> tuple[int, int]:
    """A chat, an order paid and noted, and an import, all at EVENT; their ids."""
    async with db.session() as session:
        await do_set_presence(session, agent=mei, status="online", now=EVENT - timedelta(hours=1))
        await session.commit()
    chat = await _ask(db, shop, "b-1", EVENT, "这款有货吗")
    await _answer(db, mei, chat, EVENT + timedelta(seconds=20))
    async with db.session() as session:
        new = NewOrder("T-1", "b-1", (NewItem("遮光窗帘", 9900),), channel="widget",
                       receiver_name="刘贺")  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new,
                                      now=EVENT - timedelta(minutes=9))  # fmt: skip
        await do_flag(session, order=order, agent=mei, flag=1, now=EVENT - timedelta(minutes=8))
        await do_pay_order(session, order=order, now=EVENT - timedelta(minutes=5))
        await do_write_note(session, order=order, author=mei, now=EVENT,
                            text="刘贺,3米*2.4米,图案正常,12月19日发货,自提")  # fmt: skip
        files = {"kind": "orders", "orders": "a.csv"}
        session.add(ImportJob(shop_id=shop.id, status="done", created_at=EVENT,
                              finished_at=EVENT, files=files))  # fmt: skip
        await session.commit()
        return chat, order.id


async def test_every_page_shows_times_on_the_shops_clock(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given a shop in Tokyo (UTC+9, not the default zone) and what happened at 02:17 UTC
    async with db.session() as session:
        await session.execute(update(Shop).where(Shop.id == shop.id).values(timezone="Asia/Tokyo"))
        await session.commit()
    mei = await make_staff("mei", name="小梅")
    boss = await make_staff("boss", "supervisor")
    chat, order = await _a_morning(db, shop, mei)
    async with db.session() as session:
        await do_add_violation(session, supervisor=boss, agent_id=mei.id, order_id=order,
                               rule="note_late_or_wrong", note="备注写错尺寸",
                               occurred_at=EVENT)  # fmt: skip
        await session.commit()

    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await _sign_in(page, server, "boss", "/")
        for path, where in (
            (f"/performance/conversations/{chat}", "#transcript"),
            ("/performance/kpi/buyers?start=2026-11-23&end=2026-11-23", "#conversations"),
            (f"/orders/{order}", "#note-versions"),
            (f"/orders/{order}", "#note-deadline"),
            ("/orders/import", "main"),
            ("/performance/violations", "#violations"),
        ):
            # when the supervisor opens each page
            await page.goto(f"{server}{path}")
            shown = page.locator(where)
            # then the time reads 11:17 in Tokyo, never 02:17 (UTC) nor 10:17 (Shanghai)
            expected = "11:32" if where == "#note-deadline" else "11:17"
            await expect(shown).to_contain_text(expected)
            text = await page.locator("main").inner_text()
            assert "02:17" not in text and "10:17" not in text, (path, text)
    finally:
        await context.close()


async def test_violations_read_in_words_withdraw_quietly_and_filter(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        await do_add_violation(session, supervisor=boss, agent_id=mei.id,
                               rule="note_late_or_wrong", note="备注写错尺寸",
                               occurred_at=datetime(2026, 11, 3, 4, 0, tzinfo=UTC))  # fmt: skip
        await do_add_violation(session, supervisor=boss, agent_id=lan.id,
                               rule="tracking_neglect", note="物流三天没跟",
                               occurred_at=datetime(2026, 10, 9, 4, 0, tzinfo=UTC))  # fmt: skip
        await session.commit()

    context = await browser.new_context(locale="zh-CN")
    try:
        # An agent reads the rule in words, with no handbook number and nothing to withdraw.
        page = await context.new_page()
        await _sign_in(page, server, "mei", "/performance/violations")
        table = page.locator("#violations")
        await expect(table).to_contain_text("备注超时或错误")
        await expect(table).not_to_contain_text("O3")
        await expect(table.get_by_text("撤销")).to_have_count(0)
        await context.clear_cookies()

        # The supervisor sees the number as a small tag and withdraws only after confirming.
        await _sign_in(page, server, "boss", "/performance/violations")
        row = page.locator("#violations tbody tr").filter(has_text="小梅")
        await expect(row.locator(".tag")).to_have_text("O3")
        await expect(row.get_by_role("button", name="撤销")).to_have_count(0)
        sure = row.get_by_role("button", name="确认撤销")
        await expect(sure).to_be_hidden()
        await row.locator("summary", has_text="撤销").click()
        await row.get_by_placeholder("撤销原因").fill("尺寸是买家改的")
        await sure.click()
        await expect(row).to_contain_text("已撤销")

        # Filters are query parameters, kept in the form.
        await page.goto(f"{server}/performance/violations?agent={lan.id}")
        await expect(page.locator("#violations tbody tr")).to_have_count(1)
        await expect(page.locator("#violations")).to_contain_text("小兰")
        await page.goto(f"{server}/performance/violations?rule=note_late_or_wrong")
        await expect(page.locator("#violations")).to_contain_text("小梅")
        await expect(page.locator("#violations")).not_to_contain_text("小兰")
        await page.goto(f"{server}/performance/violations?month=2026-10")
        await expect(page.locator("#violations tbody tr")).to_have_count(1)
        await expect(page.locator("#violations")).to_contain_text("物流三天没跟")
        await page.goto(f"{server}/performance/violations?status=withdrawn")
        await expect(page.locator("#violations tbody tr")).to_have_count(1)
        await expect(page.locator("#violations")).to_contain_text("小梅")
        filters = page.locator("#violation-filters")
        await filters.get_by_label("规则").select_option(label="未跟进物流")
        await filters.get_by_label("状态").select_option(label="全部")
        await filters.get_by_role("button", name="筛选").click()
        await expect(page).to_have_url(re.compile(r"rule=tracking_neglect"))
        await expect(page.locator("#violations tbody tr")).to_have_count(1)

        # A month that is none is refused beside the field, as typed.
        await page.goto(f"{server}/performance/violations?month=2026-13")
        await expect(page.locator("#filter-month-error")).to_contain_text("2026-13")
        await expect(page.locator("#violation-filters").get_by_label("月份")).to_have_value(
            "2026-13"
        )
    finally:
        await context.close()


async def test_the_manager_edits_a_knowledge_answer_in_place(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "manager")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await _sign_in(page, server, "boss", "/assistant/knowledge")
        row = page.locator("#kb-entries tbody tr").first
        title = (await row.locator("td").nth(1).inner_text()).strip()
        await row.get_by_role("link", name="修改").click()
        form = page.locator("#kb-edit")
        await expect(form.get_by_label("标题")).to_have_value(title)

        # A title too long for the field's rule is named beside it; the answer typed stays.
        await form.get_by_label("回答").fill("亲，这款今天有现货，下午四点前拍下当天发出")
        await form.get_by_label("标题").fill("")
        await form.get_by_role("button", name="保存").click()
        await expect(page.locator("#kb-title-error")).to_contain_text("标题须为 1–64 个字")
        await expect(form.get_by_label("回答")).to_have_value(
            "亲，这款今天有现货，下午四点前拍下当天发出"
        )

        await form.get_by_label("标题").fill(title + "（改）")
        await form.get_by_role("button", name="保存").click()
        await expect(page).to_have_url(f"{server}/assistant/knowledge")
        changed = page.locator("#kb-entries tbody tr").filter(has_text=title + "（改）")
        await expect(changed).to_contain_text("下午四点前拍下当天发出")
        titles = page.locator("#kb-entries tbody td:nth-child(2)")
        await expect(titles.filter(has_text=re.compile(f"^{title}$"))).to_have_count(0)
    finally:
        await context.close()


async def test_an_order_offers_only_the_changes_its_state_allows(
    server: str, browser: Browser, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    async with db.session() as session:
        ids = {}
        for number in ("U-1", "P-1", "F-1"):
            new = NewOrder(number, "b-1", (NewItem("遮光窗帘", 9900),), channel="widget")
            order = await do_create_order(session, shop_id=shop.id, new=new)
            await do_flag(session, order=order, agent=mei, flag=1)
            if number != "U-1":
                await do_pay_order(session, order=order)
            ids[number] = order.id
        await session.flush()
        await session.execute(
            update(Order)
            .where(Order.id == ids["F-1"])
            .values(status=TradeStatus.TRADE_FINISHED.value, shipped_at=Order.paid_at)
        )
        await session.commit()

    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await _sign_in(page, server, "mei", f"/orders/{ids['U-1']}")
        unpaid = page.locator("#change-form")
        await expect(unpaid.get_by_label("商品金额")).to_be_visible()
        await expect(page.locator("#changes h2")).to_contain_text("改价")

        await page.goto(f"{server}/orders/{ids['P-1']}")  # paid: the receiver, not the price
        await expect(page.locator("#change-form")).to_be_visible()
        await expect(page.locator("#change-form input[name=goods]")).to_have_count(0)
        await expect(page.locator("#changes h2")).not_to_contain_text("改价")

        await page.goto(f"{server}/orders/{ids['F-1']}")  # finished: nothing to change
        await expect(page.locator("#change-form")).to_have_count(0)
        await expect(page.locator("main")).not_to_contain_text("改价")
    finally:
        await context.close()
