"""Given 王芳 with orders, a chat, a review and points, when the manager exports her data,
then one JSON document holds it all; when she asks to be erased, then her personal data
is gone from every buyer of hers while the orders' amounts and the ledgers stay."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.models import Review
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.core.policy import Policy
from xiaoer.customers.filters import matching_ids
from xiaoer.customers.merges import do_merge
from xiaoer.customers.models import PointsBalance, PointsMove
from xiaoer.customers.privacy import ERASED_TEXT, PrivacyError, do_erase, export_person
from xiaoer.customers.stats import refresh
from xiaoer.orders.models import Order
from xiaoer.reception.models import Conversation, Message
from xiaoer.shops.models import Shop

from .world import NOW, people


async def _her_world(db: Database, shop: Shop, make_staff: MakeStaff) -> tuple[int, int, int]:
    """王芳 with the JD account merged in, a chat on it and points earned. (wang, jd, chat)"""
    supervisor = await make_staff("sup", "supervisor")
    async with db.session() as session:
        world = await people(session, shop)
        wang, jd = world.ids["wang"], world.ids["wang-jd"]
        await do_merge(session, supervisor, wang, [jd], "phone", now=NOW)
        conversation = Conversation(shop_id=shop.id, customer_id=jd, team="presale")
        session.add(conversation)
        await session.flush()
        session.add_all([
            Message(shop_id=shop.id, conversation_id=conversation.id, sender="buyer",
                    text="我的地址是杭州市西湖区1号"),
            Message(shop_id=shop.id, conversation_id=conversation.id, sender="agent",
                    text="好的亲"),
            PointsMove(shop_id=shop.id, customer_id=wang, kind="earn",
                       document=f"order:{world.orders['w2']}", pending=100,
                       order_id=world.orders["w2"]),
            PointsBalance(customer_id=wang, shop_id=shop.id, pending=100),
        ])  # fmt: skip
        for order in await session.scalars(select(Order)):
            order.receiver_name, order.receiver_phone = "王芳", "13800000001"
            order.receiver_address = "浙江省杭州市西湖区1号"
        await session.commit()
    return wang, jd, conversation.id


async def test_export_holds_everything_and_only_the_manager_may(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    wang, jd, _chat = await _her_world(db, shop, make_staff)
    manager = await make_staff("man", "manager")
    supervisor = await make_staff("sup2", "supervisor")
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await export_person(session, supervisor, wang)
        document = await export_person(session, manager, jd, now=NOW)
        await session.commit()
    json.dumps(document)  # every value is JSON
    assert document["person"] == wang
    assert [b["channel"] for b in document["buyers"]] == ["taobao", "jd"]
    assert document["buyers"][0]["birth_lunar"] is True
    assert len(document["orders"]) == 3 and document["orders"][0]["items"][0]["quantity"] == 1
    assert document["orders"][0]["receiver_address"] == "浙江省杭州市西湖区1号"
    assert [m["text"] for m in document["conversations"][0]["messages"]] == [
        "我的地址是杭州市西湖区1号", "好的亲"]  # fmt: skip
    assert document["refunds"][0]["amount_fen"] == 3000
    assert document["reviews"][0]["content"] == "包装破了"
    assert document["points"][0]["pending"] == 100
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert entry is not None and entry.entity_id == str(wang)


async def test_erase_anonymises_and_keeps_amounts_and_ledgers(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    wang, jd, chat = await _her_world(db, shop, make_staff)
    manager = await make_staff("man", "manager")
    # a missing confirmation or reason is refused and nothing changes
    async with db.session() as session:
        with pytest.raises(PrivacyError, match="to confirm"):
            await do_erase(session, manager, wang, "本人要求", confirm="")
        with pytest.raises(PrivacyError, match="say why"):
            await do_erase(session, manager, wang, " ")
    # when the manager erases her on her request
    async with db.session() as session:
        await do_erase(session, manager, wang, "顾客本人电话要求删除", now=NOW)
        await session.commit()
    async with db.session() as session:
        rows = {c.id: c for c in await session.scalars(select(Customer))}
        for ident in (wang, jd):
            row = rows[ident]
            assert (row.name, row.phone, row.city, row.birth_month, row.tags, row.notes) == (
                "", "", "", None, [], "")  # fmt: skip
            assert row.nick == row.buyer_id == f"erased-{ident}"
            assert row.erased_at == NOW and row.greetings_off_at == NOW
        orders = list(await session.scalars(select(Order).order_by(Order.id)))
        hers = [o for o in orders if o.customer_id in (wang, jd)]
        assert [o.paid_fen for o in hers] == [10000, 10000, 20000]
        assert {(o.receiver_name, o.receiver_phone, o.receiver_address) for o in hers} == {
            ("", "", "")}  # fmt: skip
        texts = list(await session.scalars(
            select(Message.text).where(Message.conversation_id == chat).order_by(Message.id)
        ))  # fmt: skip
        assert texts == [ERASED_TEXT, "好的亲"]
        review = await session.scalar(select(Review))
        assert review is not None and review.rating == "bad" and review.content == ERASED_TEXT
        assert await session.scalar(select(PointsMove.pending)) == 100
        balance = await session.get(PointsBalance, wang)
        assert balance is not None and balance.pending == 100
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "erase"))
        assert entry is not None and entry.reason == "顾客本人电话要求删除"
        # and she is gone from lists, and erasing twice is refused
        picked = await matching_ids(session, shop.id, [], NOW)
        assert wang not in picked and world_li(rows) in picked
        with pytest.raises(PrivacyError, match="erased"):
            await do_erase(session, manager, wang, "again")
        assert await refresh(session, shop.id, Policy(), [wang], now=NOW) == 1


def world_li(rows: dict[int, Customer]) -> int:
    return next(i for i, c in rows.items() if c.buyer_id == "li")


async def test_export_and_erase_pages(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    wang, _jd, _chat = await _her_world(db, shop, make_staff)
    await make_staff("man", "manager")
    await sign_in(client, "man")
    page = await client.get(f"/customers/{wang}")
    token = csrf_from(page.text)
    exported = await client.get(f"/customers/{wang}/export.json")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="customer-{wang}.json"'
    assert exported.json()["person"] == wang
    unconfirmed = await client.post(f"/customers/{wang}/erase",
                                    data={"csrf_token": token, "reason": "本人要求"})  # fmt: skip
    assert unconfirmed.status_code == 422 and "请输入 ERASE 确认删除" in unconfirmed.text
    assert 'value="本人要求"' in unconfirmed.text
    erased = await client.post(f"/customers/{wang}/erase", data={
        "csrf_token": token, "reason": "本人要求", "confirm": "ERASE"})  # fmt: skip
    assert erased.status_code == 303
    page = await client.get(f"/customers/{wang}")
    assert "已按本人要求删除" in page.text and "13800000001" not in page.text
