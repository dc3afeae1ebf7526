"""The order pages (O2–O9) through the real app and database."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.clock import local, utcnow
from xiaoer.core.db import Database
from xiaoer.core.timers import fire_all_due
from xiaoer.http.i18n import Translator
from xiaoer.orders.lifecycle import STATUS_SAID
from xiaoer.orders.marks import do_flag, note_versions
from xiaoer.orders.models import Order, OrderTask, SellerNote, TaskKind, TaskStatus, TradeStatus
from xiaoer.orders.service import load_order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.orders.tasks import ENDS_AS, NO_MESSAGE, TASK_OUTCOMES
from xiaoer.reception.models import Conversation
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

# 14:00 in Shanghai: outside the reminder rest hours (22:30–08:30).
NOON = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
NOTE = "刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。"
PHONE = "13800001234"
ADDRESS = "上海市徐汇区漕溪北路1号"


def _new(number: str, buyer: str, message: str = "") -> NewOrder:
    return NewOrder(
        number=number,
        buyer_id=buyer,
        buyer_nick=buyer,
        items=(NewItem("遮光窗帘 米白", 12900, 2, sku_code="CL-101", sku_text="颜色：米白"),),
        postage_fen=1000,
        receiver_name="刘贺",
        receiver_phone=PHONE,
        receiver_address=ADDRESS,
        buyer_message=message,
    )


async def _order(
    db: Database,
    shop_id: int,
    number: str,
    *,
    owner: StaffAccount | None = None,
    paid: bool = True,
    message: str = "",
    buyer: str = "",
) -> int:
    """An order placed at noon, flagged by ``owner`` and paid a minute later."""
    async with db.session() as session:
        new = _new(number, buyer or f"buyer-{number}", message)
        order = await do_create_order(session, shop_id=shop_id, new=new, now=NOON)
        if owner is not None:
            await do_flag(session, order=order, agent=owner, flag=1, now=NOON)
        if paid:
            await do_pay_order(session, order=order, now=NOON + timedelta(minutes=1))
        await session.commit()
        return order.id


async def _tasks(db: Database, order_id: int) -> list[OrderTask]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OrderTask).where(OrderTask.order_id == order_id).order_by(OrderTask.id)
        )
        return list(rows)


async def _post(client: httpx.AsyncClient, path: str, page: str, **data: str) -> httpx.Response:
    """Post a form of the page at ``page`` with its CSRF token."""
    token = csrf_from((await client.get(page)).text)
    return await client.post(path, data={**data, "csrf_token": token})


def _section(html: str, section: str) -> str:
    start = html.index(f'id="{section}"')
    end = html.find("</section>", start)
    return html[start:end]


# --- the list --------------------------------------------------------------------------


async def test_an_agent_sees_their_own_tasks_and_not_another_agents(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="美美")
    lan = await make_staff("lan", name="兰兰")
    mine = await _order(db, shop.id, "W-1", owner=mei)
    await _order(db, shop.id, "W-2", owner=lan)
    await sign_in(client, "mei")
    page = await client.get("/orders/tasks")
    assert page.status_code == 200
    assert 'href="/orders"' in page.text  # the navigation link
    tasks = _section(page.text, "open-tasks")
    assert f'href="/orders/{mine}"' in tasks and "W-1" in tasks and "确认订单" in tasks
    assert "W-2" not in page.text
    # Shop-local time: paid at 06:01 UTC is 14:01 in Shanghai.
    assert "2026-11-23 14:01" in _section(page.text, "unconfirmed")


async def test_a_supervisor_sees_every_task_with_its_agent_and_filters_by_agent(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="美美")
    lan = await make_staff("lan", name="兰兰")
    await make_staff("boss", "supervisor", name="主管")
    await _order(db, shop.id, "W-1", owner=mei)
    await _order(db, shop.id, "W-2", owner=lan)
    # An unpaid order left 10 minutes gets a payment reminder for its owner (O6).
    await _order(db, shop.id, "W-3", owner=lan, paid=False)
    await fire_all_due(db, now=NOON + timedelta(minutes=11))
    await sign_in(client, "boss")
    tasks = _section((await client.get("/orders/tasks")).text, "open-tasks")
    assert "W-1" in tasks and "W-2" in tasks and "W-3" in tasks
    assert "美美" in tasks and "兰兰" in tasks and "催付" in tasks
    only_lan = _section((await client.get(f"/orders/tasks?agent={lan.id}")).text, "open-tasks")
    assert "W-2" in only_lan and "W-3" in only_lan and "W-1" not in only_lan


async def test_the_search_box_opens_an_order_or_says_it_is_unknown(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1")
    await sign_in(client, "mei")
    found = await client.get("/orders/tasks", params={"q": " W-1 "})
    assert found.status_code == 303 and found.headers["location"] == f"/orders/{order_id}"
    missing = await client.get("/orders/tasks", params={"q": "NOPE-9"})
    assert missing.status_code == 404
    assert "没有找到订单号为 NOPE-9 的订单" in missing.text


async def test_staff_without_an_order_role_is_refused(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("audit", "auditor")
    order_id = await _order(db, shop.id, "W-1")
    await sign_in(client, "audit")
    assert (await client.get("/orders/tasks")).status_code == 403
    assert (await client.get("/orders")).status_code == 403
    assert (await client.get("/orders/export.xlsx")).status_code == 403
    assert (await client.get(f"/orders/{order_id}")).status_code == 403
    assert (await client.get(f"/orders/{order_id}/slip")).status_code == 403
    assert (await client.get("/orders/memos.csv")).status_code == 403
    assert 'href="/orders"' not in (await client.get("/")).text


async def test_another_shops_order_is_not_found(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        other = await do_create_shop(session, code="silk", name="丝绸坊")
        await session.commit()
    theirs = await _order(db, other.id, "S-1")
    ours = await _order(db, shop.id, "W-1")
    [task] = await _tasks(db, theirs)
    await sign_in(client, "boss")
    page = f"/orders/{ours}"
    assert (await client.get(f"/orders/{theirs}")).status_code == 404
    assert (await client.get(f"/orders/{theirs}/slip")).status_code == 404
    assert (await _post(client, f"/orders/{theirs}/note", page, text=NOTE)).status_code == 404
    assert (await _post(client, f"/orders/{theirs}/flag", page, flag="1")).status_code == 404
    finish = await _post(
        client, f"/orders/tasks/{task.id}/finish", page, outcome="confirmed_by_phone"
    )
    assert finish.status_code == 404
    assert (await client.get("/orders/tasks", params={"q": "S-1"})).status_code == 404
    assert [t.status for t in await _tasks(db, theirs)] == [TaskStatus.open.value]


# --- the order page --------------------------------------------------------------------


async def test_the_phone_is_masked_for_an_agent_who_does_not_own_the_order(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("lan")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    await sign_in(client, "lan")
    other = await client.get(f"/orders/{order_id}")
    assert other.status_code == 200
    assert "138****1234" in other.text and PHONE not in other.text
    assert "上海市徐汇区…" in other.text and ADDRESS not in other.text
    assert "/send" not in other.text and "/finish" not in other.text  # not hers to act on
    await sign_in(client, "mei")
    owner = await client.get(f"/orders/{order_id}")
    assert PHONE in owner.text and ADDRESS in owner.text
    assert "买家已付款，等待卖家发货" in owner.text  # the seller centre's words
    assert "颜色：米白" in owner.text and "258.00" in owner.text and "268.00" in owner.text
    assert "红" in _section(owner.text, "order")  # flag 1


async def test_the_note_form_keeps_every_version_and_needs_a_reason_to_change(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    first = await _post(client, f"{page}/note", page, text=NOTE)
    assert first.status_code == 303 and first.headers["location"] == page
    assert 'id="note-v1"' in (await client.get(page)).text

    changed = "刘贺,3米*2.6米,图案正常,12月19发货,自提。送胶。"
    refused = await _post(client, f"{page}/note", page, text=changed)
    assert refused.status_code == 422
    assert "修改已写好的备注，需要写明原因" in _section(refused.text, "note")
    assert changed in refused.text  # what was typed stays in the form
    assert 'id="note-v2"' not in refused.text

    accepted = await _post(client, f"{page}/note", page, text=changed, reason="买家改高度")
    assert accepted.status_code == 303
    shown = (await client.get(page)).text
    versions = _section(shown, "note")
    assert NOTE in versions and changed in versions and "买家改高度" in versions
    assert 'id="note-v1"' in versions and 'id="note-v2"' in versions
    assert mei.number in versions
    memo = shown[shown.index('id="memo-text"') :]
    assert memo.index(changed) < memo.index(NOTE)  # current first, the original kept
    timeline = _section(shown, "timeline")
    assert "写备注" in timeline and "修改备注" in timeline


async def test_a_note_with_errors_is_kept_with_its_errors_per_field(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    await _post(client, f"{page}/note", page, text="刘贺,3米*2.4米,图案正常,自提")
    versions = _section((await client.get(page)).text, "note-versions")
    # The field in words, and the message in the agent's Chinese.
    assert "发货时间: 缺少发货时间：应写如 12月19发货、12.19、12-19 或 12/19" in versions
    assert "ship_date is missing" not in versions
    async with db.session() as session:
        [kept] = await note_versions(session, order_id)
        [error] = kept.errors
        assert error["message"] == (
            "ship_date is missing: expected e.g. 12月19发货, 12.19, 12-19 or 12/19"
        )
        assert error["data"]["template"] == error["message"]  # kept to translate


async def test_note_errors_are_in_english_for_an_english_reader(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", language="en")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    await _post(client, f"{page}/note", page, text="刘贺,3米*2.4米,图案乱,12月19发货,自提")
    versions = _section((await client.get(page)).text, "note-versions")
    assert (
        "design &#34;图案乱&#34; is not a known design word: expected one of "
        "图案正常, 正常, 原图 (normal); 图案修改, 改图, 修改图案, 图案改 (modified); "
        "定制, 定制图案, 来图定制, 图案定制 (custom)"
    ) in versions


async def test_a_note_kept_before_its_errors_were_translatable_shows_its_english(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        old = {"field": "size", "message": "size is missing: the old words"}
        session.add(
            SellerNote(shop_id=shop.id, order_id=order.id, version=1, text="刘贺", fields=None,
                       errors=[old], author_id=mei.id, author_number="", reason="")
        )  # fmt: skip
        await session.commit()
    await sign_in(client, "mei")
    versions = _section((await client.get(f"/orders/{order_id}")).text, "note-versions")
    assert "尺寸: size is missing: the old words" in versions
    blocked = _section((await client.get(f"/orders/{order_id}/slip")).text, "slip-blocked")
    assert "尺寸: size is missing: the old words" in blocked


async def test_the_flag_form_flags_and_shows_refusals_inline(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("lan")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page = f"/orders/{order_id}"
    await sign_in(client, "lan")
    refused = await _post(client, f"{page}/flag", page, flag="4")
    assert refused.status_code == 422
    assert "这一单已被其他客服插旗" in _section(refused.text, "confirmation")
    await sign_in(client, "mei")
    bad = await _post(client, f"{page}/flag", page, flag="9")
    assert bad.status_code == 422 and "9 不是平台的旗帜：只能选 0 到 5" in bad.text
    done = await _post(client, f"{page}/flag", page, flag="3")
    assert done.status_code == 303
    shown = await client.get(page)
    assert 'id="flag">绿<' in shown.text
    assert "红 → 绿" in _section(shown.text, "timeline")
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.flag == 3 and order.owner_id == mei.id


async def test_the_timeline_says_a_change_of_status_in_words(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    order_id = await _order(db, shop.id, "W-2")
    await sign_in(client, "sup")
    timeline = _section((await client.get(f"/orders/{order_id}")).text, "timeline")
    assert "<td>订单状态变更</td>" in timeline
    assert "等待买家付款 → 买家已付款，等待卖家发货" in timeline
    assert ">status<" not in timeline


# --- the production slip (O9) -----------------------------------------------------------


async def test_the_slip_is_refused_until_the_note_parses(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("store", "warehouse")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page, slip = f"/orders/{order_id}", f"/orders/{order_id}/slip"
    await sign_in(client, "mei")
    none = await client.get(slip)
    assert none.status_code == 409 and "还没有备注" in none.text

    await _post(client, f"{page}/note", page, text="刘贺,3米*2.4米,图案正常,13月40发货,自提")
    blocked = await client.get(slip)
    assert blocked.status_code == 409
    errors = _section(blocked.text, "slip-blocked")
    assert "发货时间" in errors and "13月40" in errors and f'href="{page}"' in errors
    assert "发货时间: 发货时间 &#34;13月40发货&#34;：没有 13 月：月份应为 1 到 12" in errors
    assert "制作单" in blocked.text and 'id="slip"' not in blocked.text

    await _post(client, f"{page}/note", page, text=NOTE, reason="改日期")
    await sign_in(client, "store")  # the production team reads it too
    issued = await client.get(slip)
    assert issued.status_code == 200
    body = _section(issued.text, "slip")
    for text in ("W-1", "刘贺", "遮光窗帘 米白", "颜色：米白", "× 2", "宽 3 米 × 高 2.4 米"):
        assert text in body, text
    for text in ("图案正常", "12月19日", "自提", "送胶", "第 2 版", mei.number):
        assert text in body, text
    assert '<link rel="stylesheet" href="/static/slip.css">' in issued.text
    printed = (await client.get("/static/slip.css")).text
    assert "@media print" in printed and ".topbar" in printed
    assert (await client.get(page)).status_code == 403  # the slip only, not the order page


# --- tasks -----------------------------------------------------------------------------


async def test_finishing_a_task_records_its_outcome(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("lan")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    [task] = await _tasks(db, order_id)
    page, finish = f"/orders/{order_id}", f"/orders/tasks/{task.id}/finish"
    await sign_in(client, "lan")
    assert (await _post(client, finish, page, outcome="confirmed_by_phone")).status_code == 403

    await sign_in(client, "mei")
    shown = await client.get(page)
    assert f'action="{finish}"' in shown.text and "电话确认" in shown.text
    no_reply = await _post(client, finish, page, outcome="confirmed")
    assert no_reply.status_code == 422 and "发出确认后买家还没有回复" in no_reply.text
    wrong = await _post(client, finish, page, outcome="shipped")
    assert wrong.status_code == 422 and "确认订单任务的结果只能是" in wrong.text
    done = await _post(client, finish, page, outcome="confirmed_by_phone", remark="下午电话确认")
    assert done.status_code == 303
    [task] = await _tasks(db, order_id)
    assert task.status == TaskStatus.done.value and task.outcome == "confirmed_by_phone"
    assert task.evidence["remark"] == "下午电话确认" and task.done_by == mei.id
    shown = await client.get(page)
    assert "已完成" in shown.text and "下午电话确认" in shown.text
    assert f'action="{finish}"' not in shown.text
    assert "买家尚未确认" not in shown.text
    assert "W-1" not in _section((await client.get("/orders/tasks")).text, "open-tasks")


@pytest.mark.database_free
def test_the_task_and_status_messages_match_the_tables_they_are_written_from() -> None:
    for kind, outcomes in TASK_OUTCOMES.items():
        assert str(ENDS_AS[kind]) == f"a {kind} task ends as one of: {', '.join(outcomes)}"
    for kind in set(TASK_OUTCOMES) - {TaskKind.confirm.value, TaskKind.remind.value}:
        assert str(NO_MESSAGE[kind]) == f"a {kind} task sends no message"
    assert {code: str(said) for code, said in STATUS_SAID.items()} == {
        status.value: status.value for status in TradeStatus
    }
    zh = Translator("zh")
    duplicate = ENDS_AS[TaskKind.duplicate.value]
    assert zh.error(duplicate) == "疑似重复任务的结果只能是：已关闭订单、保留订单"
    assert zh.text(STATUS_SAID["WAIT_SELLER_SEND_GOODS"]) == "买家已付款，待发货"


async def test_the_confirmation_is_sent_and_the_buyers_answer_kept_escaped(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1", owner=mei, buyer="buyer-x")
    [task] = await _tasks(db, order_id)
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    send = f"/orders/tasks/{task.id}/send"
    no_chat = await _post(client, send, page, text="")
    assert no_chat.status_code == 422 and "买家现在没有进行中的会话" in no_chat.text
    # The buyer's conversation is open with the agent.
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.customer_id is not None
        session.add(
            Conversation(
                shop_id=shop.id, customer_id=order.customer_id, agent_id=mei.id,
                team="presale", status="active", opened_at=NOON,
            )
        )  # fmt: skip
        await session.commit()
    shown = await client.get(page)
    assert f'action="{send}"' in shown.text and "麻烦核对一下信息" in shown.text
    sent = await _post(client, send, page, text="亲，请核对：刘贺 138****1234，回复确认即可")
    assert sent.status_code == 303
    async with db.session() as session:
        buyer = await session.scalar(select(Customer).where(Customer.buyer_id == "buyer-x"))
        assert buyer is not None
        await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="<script>alert(1)</script>确认"
        )
        await session.commit()
    finish = f"/orders/tasks/{task.id}/finish"
    assert (await _post(client, finish, page, outcome="confirmed")).status_code == 303
    shown = await client.get(page)
    block = shown.text[shown.text.index(f'id="task-{task.id}"') :]
    assert "亲，请核对：刘贺" in block and "买家已确认" in block
    assert "&lt;script&gt;alert(1)&lt;/script&gt;确认" in block
    assert "<script>alert(1)" not in shown.text
    assert f'action="{send}"' not in shown.text
    [task] = await _tasks(db, order_id)
    assert task.evidence["answer_text"] == "<script>alert(1)</script>确认"


async def test_note_text_and_buyer_message_are_shown_escaped(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    order_id = await _order(db, shop.id, "W-1", owner=mei, message="<script>evil()</script>")
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    await _post(client, f"{page}/note", page, text='<script>alert("x")</script>,3米*2米')
    shown = await client.get(page)
    assert "<script>" not in shown.text
    assert "&lt;script&gt;evil()&lt;/script&gt;" in shown.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in shown.text
    slip = await client.get(f"{page}/slip")
    assert slip.status_code == 409 and "<script>" not in slip.text


async def test_the_page_speaks_english_to_an_english_user(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", language="en")
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    await sign_in(client, "mei")
    listing = await client.get("/orders/tasks")
    assert "My to-dos" in listing.text and "Confirm the order" in listing.text
    shown = await client.get(f"/orders/{order_id}")
    assert "Seller note" in shown.text and "Paid, to ship" in shown.text
    page = f"/orders/{order_id}"
    refused = await _post(client, f"{page}/note", page, text="   ")
    assert refused.status_code == 422 and "the note is empty" in _section(refused.text, "note")


async def test_errors_on_the_order_page_are_in_the_agents_chinese(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")  # Chinese, as staff are by default
    order_id = await _order(db, shop.id, "W-1", owner=mei)
    page = f"/orders/{order_id}"
    await sign_in(client, "mei")
    empty = await _post(client, f"{page}/note", page, text="   ")
    assert empty.status_code == 422
    assert "备注是空的" in _section(empty.text, "note") and "the note is empty" not in empty.text
    long = await _post(client, f"{page}/note", page, text="窗" * 400)
    assert "备注有 1200 字节，平台最多只保存 1000 字节" in _section(long.text, "note")
    price = await _post(client, f"{page}/change", page, goods="三百", reason="买家议价")
    assert price.status_code == 422
    assert "&#39;三百&#39; 不是以元为单位的金额" in price.text
    paid = await _post(client, f"{page}/change", page, goods="200", reason="买家议价")
    assert paid.status_code == 422 and "价格和运费只能在买家付款前修改" in paid.text


# --- the memo export --------------------------------------------------------------------


async def test_memos_csv_lists_notes_and_flags_changed_since_the_day(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("boss", "supervisor")
    noted = await _order(db, shop.id, "W-1", owner=mei)
    flagged = await _order(db, shop.id, "W-2")
    await _order(db, shop.id, "W-3")  # neither note nor flag
    await sign_in(client, "mei")
    page = f"/orders/{noted}"
    await _post(client, f"{page}/note", page, text=NOTE)
    await _post(client, f"{page}/note", page, text=NOTE.replace("2.4", "2.6"), reason="改尺寸")
    await _post(client, f"/orders/{flagged}/flag", f"/orders/{flagged}", flag="5")
    assert (await client.get("/orders/memos.csv")).status_code == 403

    await sign_in(client, "boss")
    today = local(utcnow()).date().isoformat()
    for query in ("", f"?since={today}"):
        response = await client.get(f"/orders/memos.csv{query}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == ["tid", "flag", "memo"]
        by_tid = {row[0]: row for row in rows[1:]}
        assert set(by_tid) == {"W-1", "W-2"}
        assert by_tid["W-1"][1] == "1"
        assert by_tid["W-1"][2] == f"{NOTE.replace('2.4', '2.6')}\n1:{NOTE}"
        assert by_tid["W-2"][1:] == ["5", ""]
    later = (local(utcnow()) + timedelta(days=1)).date().isoformat()
    empty = await client.get(f"/orders/memos.csv?since={later}")
    assert empty.content.decode("utf-8-sig").splitlines() == ["tid,flag,memo"]
    bad = await client.get("/orders/memos.csv?since=2026-13-01")
    assert bad.status_code == 422 and "2026-13-01" in bad.text


def test_the_task_kinds_and_outcomes_all_have_words() -> None:
    from xiaoer.http.i18n import catalogue
    from xiaoer.orders.tasks import TASK_OUTCOMES

    for language in ("zh", "en"):
        messages = catalogue(language)
        for kind in TaskKind:
            assert f"orders.kind.{kind.value}" in messages
            for outcome in TASK_OUTCOMES[kind.value]:
                assert f"orders.outcome.{outcome}" in messages


def test_every_order_template_message_exists() -> None:
    from pathlib import Path

    from xiaoer.http.i18n import catalogue

    folder = Path(__file__).resolve().parents[2] / "src/xiaoer/orders/templates/orders"
    keys: set[str] = set()
    for name in ("list.html", "tasks.html", "detail.html", "slip.html", "slip_blocked.html"):
        keys |= set(re.findall(r't\("([a-z_.]+)"', (folder / name).read_text("utf-8")))
    assert keys and keys <= set(catalogue("zh")), keys - set(catalogue("zh"))
