"""The workbench's order panel: note from the chat, confirmation sent and answered (O2, O3)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, sign_in
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import Order, OrderTask, TaskKind
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.models import Message
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop


async def _token(client: httpx.AsyncClient) -> str:
    page = await client.get("/workbench")
    return page.text.split('name="csrf-token" content="')[1].split('"')[0]


async def test_an_agent_confirms_an_order_from_the_chat(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    now = utcnow()
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online", now=now)
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b-1", nick="小林"
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="我拍好了", client_id="c1", now=now
        )
        assert posted.conversation.agent_id == agent.id
        new = NewOrder(
            number="P-1", buyer_id="b-1", channel="widget",
            items=(NewItem("遮光窗帘", 15900, 1, sku_text="颜色：米白"),),
            receiver_name="林小", receiver_phone="13900001111", receiver_address="杭州市西湖区",
        )  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new, now=now)
        await do_flag(session, order=order, agent=agent, flag=1, now=now)
        await do_pay_order(session, order=order, now=now)
        await session.commit()
        order_id, customer_id = order.id, buyer.id

    await sign_in(client, "mei")
    token = await _token(client)
    headers = {"X-CSRF-Token": token}
    panel = (await client.get(f"/api/orders/panel?customer_id={customer_id}")).json()
    [shown] = panel["orders"]
    assert shown["number"] == "P-1" and shown["mine"] is True
    assert shown["note"] is None and shown["note_due_at"] is not None
    assert shown["phone"] == "13900001111"  # the owner sees it
    [task] = shown["tasks"]
    assert task["kind"] == TaskKind.confirm.value

    bad = await client.post(
        f"/api/orders/{order_id}/note", json={"text": "林小,3米x,图案正常,12月19发货,自提"},
        headers=headers,
    )  # fmt: skip
    assert bad.status_code == 200 and bad.json()["note"]["ok"] is False
    size_zh = '尺寸 "3米x" 不是 宽*高 的写法：应写如 3米*2.4米 或 300cm×240cm'
    assert bad.json()["note"]["errors"] == [{"field": "size", "message": size_zh}]
    again = (await client.get(f"/api/orders/panel?customer_id={customer_id}")).json()
    assert again["orders"][0]["note"]["errors"] == [{"field": "size", "message": size_zh}]
    fixed = await client.post(
        f"/api/orders/{order_id}/note",
        json={"text": "林小,3米*2.4米,图案正常,12月19发货,自提", "reason": "尺寸漏了高"},
        headers=headers,
    )
    assert fixed.json()["note"] == {**fixed.json()["note"], "ok": True, "version": 2}

    early = await client.post(
        f"/api/orders/tasks/{task['id']}/finish", json={"outcome": "confirmed"}, headers=headers
    )
    assert early.status_code == 409 and "发出确认后买家还没有回复" in early.json()["detail"]

    missing = await client.get("/api/orders/tasks/999999/message")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "本店没有编号为 999999 的任务"
    sent = await client.post(f"/api/orders/tasks/{task['id']}/send", json={}, headers=headers)
    assert sent.status_code == 200, sent.text
    async with db.session() as session:
        message = await session.get(Message, sent.json()["message_id"])
        assert message is not None and message.sender == "agent"
        assert "林小" in message.text and "遮光窗帘" in message.text and "宽3米" in message.text
        buyer = await session.get(type(buyer), customer_id)
        assert buyer is not None
        await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="确认，没问题", client_id="c2",
            now=now + timedelta(minutes=2),
        )  # fmt: skip
        await session.commit()

    done = await client.post(
        f"/api/orders/tasks/{task['id']}/finish", json={"outcome": "confirmed"}, headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["evidence"]["answer_text"] == "确认，没问题"
    async with db.session() as session:
        stored = await session.get(Order, order_id)
        assert stored is not None and stored.confirmed_at is not None
        kept = await session.scalar(select(OrderTask).where(OrderTask.id == task["id"]))
        assert kept is not None and kept.evidence["sent_text"].startswith("亲，您的订单已付款")


async def test_another_agent_sees_the_phone_masked(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    owner = await make_staff("mei", "agent")
    await make_staff("lan", "agent")
    async with db.session() as session:
        new = NewOrder(number="P-2", buyer_id="b-2", items=(NewItem("抱枕", 3900),),
                       receiver_phone="13900002222")  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_flag(session, order=order, agent=owner, flag=1)
        await session.commit()
        customer_id = order.customer_id
    await sign_in(client, "lan")
    panel = (await client.get(f"/api/orders/panel?customer_id={customer_id}")).json()
    assert panel["orders"][0]["phone"] == "139****2222"
    assert panel["orders"][0]["mine"] is False


async def test_each_send_is_kept_and_a_requested_change_asks_again(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    now = utcnow()
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online", now=now)
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b-3"
        )
        await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="在吗", client_id="c1", now=now
        )
        new = NewOrder(number="P-3", buyer_id="b-3", channel="widget",
                       items=(NewItem("桌布", 5900),))  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new, now=now)
        await do_flag(session, order=order, agent=agent, flag=1, now=now)
        await do_pay_order(session, order=order, now=now)
        await session.commit()
        order_id = order.id
    await sign_in(client, "mei")
    headers = {"X-CSRF-Token": await _token(client)}
    panel = (await client.get(f"/api/orders/panel?customer_id={buyer.id}")).json()
    task_id = panel["orders"][0]["tasks"][0]["id"]
    for text in ("第一遍确认", "第二遍确认"):
        sent = await client.post(f"/api/orders/tasks/{task_id}/send", json={"text": text},
                                 headers=headers)  # fmt: skip
        assert sent.status_code == 200, sent.text
    async with db.session() as session:
        task = await session.get(OrderTask, task_id)
        assert task is not None
        assert [s["text"] for s in task.evidence["sends"]] == ["第一遍确认", "第二遍确认"]
        await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="颜色要换成灰色", client_id="c2",
            now=now + timedelta(minutes=1),
        )  # fmt: skip
        await session.commit()
    done = await client.post(f"/api/orders/tasks/{task_id}/finish",
                             json={"outcome": "changes_requested"}, headers=headers)  # fmt: skip
    assert done.status_code == 200
    async with db.session() as session:
        confirms = list(
            await session.scalars(
                select(OrderTask)
                .where(OrderTask.order_id == order_id, OrderTask.kind == TaskKind.confirm.value)
                .order_by(OrderTask.id)
            )
        )
        stored = await session.get(Order, order_id)
    assert [(t.status, t.outcome) for t in confirms] == [
        ("done", "changes_requested"), ("open", ""),
    ]  # fmt: skip
    assert stored is not None and stored.confirmed_at is None


async def test_the_panel_gives_note_errors_in_english_to_an_english_reader(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent", language="en")
    async with db.session() as session:
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b-1", nick="小林"
        )
        new = NewOrder(number="P-1", buyer_id="b-1", channel="widget",
                       items=(NewItem("遮光窗帘", 15900, 1),))  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_flag(session, order=order, agent=agent, flag=1)
        await do_pay_order(session, order=order)
        await session.commit()
        order_id, customer_id = order.id, buyer.id
    await sign_in(client, "mei")
    headers = {"X-CSRF-Token": await _token(client)}
    bad = await client.post(
        f"/api/orders/{order_id}/note", json={"text": "林小,3米x,图案正常,12月19发货,自提"},
        headers=headers,
    )  # fmt: skip
    size_en = 'size "3米x" is not width*height: expected e.g. 3米*2.4米 or 300cm×240cm'
    assert bad.json()["note"]["errors"] == [{"field": "size", "message": size_en}]
    panel = (await client.get(f"/api/orders/panel?customer_id={customer_id}")).json()
    assert panel["orders"][0]["note"]["errors"] == [{"field": "size", "message": size_en}]
