"""Price, shipping fee and address changes within the agent's authority (O8)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.orders.access import OrderForbidden
from xiaoer.orders.changes import (
    RECEIVER_PARTS,
    ChangeRequest,
    change_reasons,
    changeable_parts,
    do_change_order,
    do_decide_change,
    pending_changes,
)
from xiaoer.orders.errors import OrderError
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import ChangeStatus, Order, OrderChange, TradeStatus
from xiaoer.orders.service import load_order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def _order(db: Database, shop: Shop, owner: StaffAccount, number: str = "C-1") -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id="b", items=(NewItem("定制窗帘", 50000),),
                       postage_fen=2000, receiver_address="上海市黄浦区1号")  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_flag(session, order=order, agent=owner, flag=1)
        await session.commit()
        return order.id


async def _change(db: Database, shop: Shop, order_id: int, agent: StaffAccount,
                  **parts: object) -> ChangeStatus:  # fmt: skip
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        change = await do_change_order(
            session,
            order=order,
            agent=agent,
            request=ChangeRequest(reason="买家议价", **parts),  # type: ignore[arg-type]
        )
        await session.commit()
        return ChangeStatus(change.status)


async def test_a_cut_within_the_level_is_made_at_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mid", level="intermediate")  # ¥5 and 2 %
    order_id = await _order(db, shop, agent)
    assert await _change(db, shop, order_id, agent, goods_fen=49600) == ChangeStatus.applied
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert (order.goods_fen, order.total_fen) == (49600, 51600)
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "changed"))
        assert audit is not None and audit.before == {"goods_fen": 50000}
        assert audit.after == {"goods_fen": 49600}


async def test_a_cut_beyond_the_level_waits_for_the_supervisor(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("junior")  # a junior may give nothing
    boss = await make_staff("boss", "supervisor", level="senior")
    order_id = await _order(db, shop, agent)
    assert await _change(db, shop, order_id, agent, goods_fen=48000) == ChangeStatus.pending
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.goods_fen == 50000  # nothing changed yet
        from xiaoer.orders.changes import pending_changes

        [(change, _order_row)] = await pending_changes(session, shop.id)
        [why] = change_reasons(change)
        assert (
            why
            == "a price cut of ¥20.00 is more than the ¥0.00 a junior agent may give on this order"
        )
        with pytest.raises(OrderForbidden, match="supervisor"):
            await do_decide_change(session, change=change, supervisor=agent, approve=True)
        await do_decide_change(session, change=change, supervisor=boss, approve=True)
        await session.commit()
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.goods_fen == 48000 and order.total_fen == 50000


async def test_waiving_shipping_needs_the_right_to_and_money_changes_stop_at_payment(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mid = await make_staff("mid", level="intermediate")  # may not waive; ±¥5
    senior = await make_staff("old", level="senior")  # may waive
    mid_order = await _order(db, shop, mid, "C-1")
    order_id = await _order(db, shop, senior, "C-2")
    assert await _change(db, shop, mid_order, mid, postage_fen=0) == ChangeStatus.pending
    assert await _change(db, shop, order_id, senior, postage_fen=0) == ChangeStatus.applied
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_pay_order(session, order=order)
        await session.commit()
    with pytest.raises(OrderError, match="before the buyer pays"):
        await _change(db, shop, order_id, senior, goods_fen=100)
    # The address may still change until the order ships.
    assert (
        await _change(db, shop, order_id, senior, receiver_address="上海市徐汇区2号")
        == ChangeStatus.applied
    )


async def test_an_agent_changes_only_their_own_sales(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mid = await make_staff("mid", level="intermediate")
    senior = await make_staff("old", level="senior")
    order_id = await _order(db, shop, mid)
    with pytest.raises(OrderForbidden, match="another agent's sale"):
        await _change(db, shop, order_id, senior, postage_fen=0)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.postage_fen == 2000
        assert list(await session.scalars(select(OrderChange))) == []


async def test_a_supervisor_is_told_in_chinese_which_parts_moved_meanwhile(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("junior")  # a junior may give nothing: the change waits
    await make_staff("boss", "supervisor", level="senior")
    order_id = await _order(db, shop, agent)
    status = await _change(db, shop, order_id, agent, goods_fen=48000, postage_fen=0)
    assert status == ChangeStatus.pending
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        order.goods_fen, order.postage_fen = 49000, 1500  # changed on the platform meanwhile
        [(change, _order_row)] = await pending_changes(session, shop.id)
        await session.commit()
    await sign_in(client, "boss")
    listing = await client.get("/orders/tasks")
    decided = await client.post(
        f"/orders/changes/{change.id}/decide",
        data={"decision": "approve", "csrf_token": csrf_from(listing.text)},
    )
    assert decided.status_code == 409
    assert "订单在此期间已有变动（商品金额、运费），请重新申请" in decided.text
    async with db.session() as session:
        with pytest.raises(OrderForbidden) as caught:
            await do_decide_change(session, change=change, supervisor=agent, approve=False)
    assert str(caught.value) == "only a supervisor or a manager decides on a change"


async def test_a_change_needs_a_reason_and_something_to_change(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mid", level="intermediate")
    order_id = await _order(db, shop, agent)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        with pytest.raises(OrderError, match="why"):
            await do_change_order(session, order=order, agent=agent,
                                  request=ChangeRequest(goods_fen=49900))  # fmt: skip
        with pytest.raises(OrderError, match="nothing"):
            await do_change_order(session, order=order, agent=agent,
                                  request=ChangeRequest(goods_fen=50000, reason="x"))  # fmt: skip


async def test_the_order_page_files_and_decides_a_change(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    await make_staff("boss", "supervisor", level="senior")
    order_id = await _order(db, shop, agent)
    await sign_in(client, "mei")
    page = await client.get(f"/orders/{order_id}")
    asked = await client.post(
        f"/orders/{order_id}/change",
        data={"goods": "480", "reason": "老客要求便宜20", "csrf_token": csrf_from(page.text)},
    )
    assert asked.status_code == 303
    shown = await client.get(f"/orders/{order_id}")
    assert "待主管审批" in shown.text
    bad = await client.post(
        f"/orders/{order_id}/change",
        data={"goods": "4.801", "reason": "x", "csrf_token": csrf_from(shown.text)},
    )
    assert bad.status_code == 422 and "4.801&#39; 的小数超过两位" in bad.text  # in Chinese
    await client.post("/logout", data={"csrf_token": csrf_from(shown.text)})

    await sign_in(client, "boss")
    listing = await client.get("/orders/tasks")
    assert "老客要求便宜20" in listing.text
    async with db.session() as session:
        from xiaoer.orders.models import OrderChange

        change = await session.scalar(select(OrderChange))
        assert change is not None
    decided = await client.post(
        f"/orders/changes/{change.id}/decide",
        data={"decision": "approve", "note": "可以", "csrf_token": csrf_from(listing.text)},
    )
    assert decided.status_code == 303
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.goods_fen == 48000


CUT_ZH = "降价 ¥20.00，超过了初级客服在这一单上最多能让的 ¥0.00"
CUT_EN = "a price cut of ¥20.00 is more than the ¥0.00 a junior agent may give on this order"
POSTAGE_ZH = "运费改动 ¥20.00，超过了初级客服最多能改的 ¥0.00"


async def test_a_chinese_supervisor_reads_why_a_change_waits_in_chinese(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("junior")  # a junior may give nothing
    await make_staff("boss", "supervisor", level="senior")
    order_id = await _order(db, shop, agent)
    status = await _change(db, shop, order_id, agent, goods_fen=48000, postage_fen=0)
    assert status == ChangeStatus.pending
    await sign_in(client, "boss")
    listing = await client.get("/orders/tasks")
    pending = listing.text[listing.text.index('id="pending-changes"') :]
    assert f"（{CUT_ZH}）" in pending and f"（{POSTAGE_ZH}）" in pending
    assert "a price cut" not in listing.text
    shown = await client.get(f"/orders/{order_id}")
    changes = shown.text[shown.text.index('id="changes"') :]
    assert CUT_ZH in changes and POSTAGE_ZH in changes and "a price cut" not in changes


async def test_an_english_supervisor_reads_it_in_english_and_an_old_change_keeps_its_words(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("junior")
    boss = await make_staff("boss", "supervisor", level="senior", language="en")
    await make_staff("lead", "supervisor", level="senior")  # reads Chinese
    order_id = await _order(db, shop, agent)
    assert await _change(db, shop, order_id, agent, goods_fen=48000) == ChangeStatus.pending
    async with db.session() as session:
        session.add(  # a change kept before its reasons were kept to translate
            OrderChange(shop_id=shop.id, order_id=order_id, agent_id=agent.id,
                        before={"postage_fen": 2000}, after={"postage_fen": 0}, reason="包邮",
                        beyond=["the old English reason"], status=ChangeStatus.pending.value)
        )  # fmt: skip
        await session.commit()
    await sign_in(client, boss.username)
    listing = await client.get("/orders/tasks")
    assert f"（{CUT_EN}）" in listing.text and "（the old English reason）" in listing.text
    assert CUT_ZH not in listing.text
    await client.post("/logout", data={"csrf_token": csrf_from(listing.text)})
    await sign_in(client, "lead")
    shown = await client.get(f"/orders/{order_id}")
    changes = shown.text[shown.text.index('id="changes"') :]
    assert CUT_ZH in changes and "the old English reason" in changes


async def test_a_finished_order_offers_and_takes_no_change(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given a paid order, then a finished one
    agent = await make_staff("mid", level="intermediate")
    order_id = await _order(db, shop, agent)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_pay_order(session, order=order)
        await session.commit()
        # the receiver and the courier, not the price
        assert changeable_parts(order) == RECEIVER_PARTS | {"courier"}
        order.status = TradeStatus.TRADE_FINISHED.value
        order.shipped_at = order.paid_at
        await session.commit()
        assert changeable_parts(order) == frozenset()
    await sign_in(client, "mid")

    # when the owner opens it and tries a change anyway
    page = await client.get(f"/orders/{order_id}")
    with pytest.raises(OrderError, match="no longer change"):
        await _change(db, shop, order_id, agent, receiver_address="北京市")
    posted = await client.post(
        f"/orders/{order_id}/change",
        data={"goods": "400", "reason": "买家议价", "csrf_token": csrf_from(page.text)},
    )

    # then nothing offers a change, the post is refused in words, and nothing changed
    assert page.status_code == 200 and 'id="change-form"' not in page.text
    assert "改价" not in page.text
    assert "这笔订单已不能再改动" in posted.text
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert order.goods_fen == 50000 and order.receiver_address == "上海市黄浦区1号"
        assert (await session.scalars(select(OrderChange))).all() == []


async def test_after_payment_the_fee_changes_only_with_the_courier_it_pays_for(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("senior", level="senior")
    order_id = await _order(db, shop, agent)
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        await do_pay_order(session, order=order)
        await session.commit()
    with pytest.raises(OrderError, match="only before the buyer pays"):
        await _change(db, shop, order_id, agent, postage_fen=3000)
    assert await _change(db, shop, order_id, agent, postage_fen=3000, courier="顺丰速运") == (
        ChangeStatus.applied
    )
    async with db.session() as session:
        order = await load_order(session, shop.id, order_id)
        assert (order.courier, order.postage_fen, order.total_fen) == ("顺丰速运", 3000, 53000)
