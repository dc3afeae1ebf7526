"""Orders from the shop's own site through a bridge channel's API (O1)."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.models import Timer
from xiaoer.http.i18n import Translator
from xiaoer.orders.models import Order, OrderTask, TaskKind
from xiaoer.orders.tasks import do_finish_task
from xiaoer.reception.bridge import ChannelError, authenticated_channel, do_add_bridge_channel
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

Channel = tuple[int, dict[str, str]]


@pytest.fixture
async def channel(db: Database, shop: Shop) -> Channel:
    async with db.session() as session:
        created, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="own-site")
        await session.commit()
    return created.id, {"Authorization": f"Bearer {secret}"}


def _order(number: str = "S-1001", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": number,
        "buyer_id": "site-42",
        "buyer_nick": "小王",
        "items": [
            {"title": "遮光窗帘 米白", "price_fen": 12900, "quantity": 2, "sku_code": "CL-101"},
            {"title": "罗马杆", "price_fen": 3500},
        ],
        "postage_fen": 1000,
        "receiver_name": "王先生",
        "receiver_phone": "13800001234",
        "receiver_address": "上海市徐汇区漕溪北路 1 号",
    }
    body.update(extra)
    return body


async def _create(client: httpx.AsyncClient, channel: Channel, **extra: Any) -> dict[str, Any]:
    cid, auth = channel
    created = await client.post(f"/site/{cid}/orders", json=_order(**extra), headers=auth)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


async def test_creating_twice_with_one_number_stores_once(
    client: httpx.AsyncClient, channel: Channel, db: Database
) -> None:
    cid, auth = channel
    first = await client.post(f"/site/{cid}/orders", json=_order(), headers=auth)
    second = await client.post(f"/site/{cid}/orders", json=_order(), headers=auth)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["created"] is True and second.json()["created"] is False
    order = first.json()
    assert order["status"] == "WAIT_BUYER_PAY" and order["status_text"] == "等待买家付款"
    assert (order["goods_fen"], order["postage_fen"], order["total_fen"]) == (29300, 1000, 30300)
    assert order["paid_at"] is None and order["created_at"].endswith("+00:00")
    assert [(i["title"], i["quantity"], i["sku_code"]) for i in order["items"]] == [
        ("遮光窗帘 米白", 2, "CL-101"),
        ("罗马杆", 1, ""),
    ]
    assert {k: v for k, v in second.json().items() if k != "created"} == {
        k: v for k, v in order.items() if k != "created"
    }
    async with db.session() as session:
        orders = list(await session.scalars(select(Order)))
        assert [o.platform_order_id for o in orders] == ["S-1001"]
        customer = await session.get(Customer, orders[0].customer_id)
        assert customer is not None
        # The buyer who chats through this channel is the same customer.
        assert (customer.channel, customer.buyer_id) == (f"ch{cid}", "site-42")


async def test_paying_sets_the_status_and_the_note_deadline(
    client: httpx.AsyncClient, channel: Channel, db: Database
) -> None:
    cid, auth = channel
    await _create(client, channel)
    paid = await client.post(f"/site/{cid}/orders/S-1001/pay", headers=auth)
    assert paid.status_code == 200, paid.text
    order = paid.json()
    assert order["status"] == "WAIT_SELLER_SEND_GOODS"
    assert order["paid_at"] is not None and order["paid_fen"] == 30300
    again = await client.post(f"/site/{cid}/orders/S-1001/pay", json={}, headers=auth)
    assert again.status_code == 200 and again.json()["paid_at"] == order["paid_at"]
    async with db.session() as session:
        timers = list(await session.scalars(select(Timer).where(Timer.kind == "order.note_due")))
    assert len(timers) == 1 and timers[0].cancelled_at is None
    read = await client.get(f"/site/{cid}/orders/S-1001", headers=auth)
    assert read.status_code == 200 and read.json()["status"] == "WAIT_SELLER_SEND_GOODS"


async def test_a_part_payment_is_kept_as_given(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    await _create(client, channel)
    paid = await client.post(
        f"/site/{cid}/orders/S-1001/pay", json={"paid_fen": 30000}, headers=auth
    )
    assert paid.status_code == 200 and paid.json()["paid_fen"] == 30000


async def test_cash_on_delivery_ships_only_after_the_phone_call(
    client: httpx.AsyncClient, channel: Channel, db: Database, make_staff: MakeStaff
) -> None:
    cid, auth = channel
    await _create(client, channel, number="COD-7", cash_on_delivery=True)
    ship = {"courier": "顺丰", "tracking_number": "SF1234567890"}
    refused = await client.post(f"/site/{cid}/orders/COD-7/ship", json=ship, headers=auth)
    assert refused.status_code == 409
    # The site's server gets the message in Chinese, the default where nobody signed in.
    assert refused.json()["detail"] == "货到付款订单：发货前请先打电话和买家确认订单"
    agent = await make_staff("lina", "agent")
    async with db.session() as session:
        task = await session.scalar(
            select(OrderTask).where(OrderTask.kind == TaskKind.cod_call.value)
        )
        assert task is not None
        await do_finish_task(session, task=task, agent=agent, outcome="confirmed")
        await session.commit()
    shipped = await client.post(f"/site/{cid}/orders/COD-7/ship", json=ship, headers=auth)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert shipped.json()["paid_at"] is None
    finished = await client.post(f"/site/{cid}/orders/COD-7/finish", headers=auth)
    assert finished.json()["status"] == "TRADE_FINISHED"
    assert finished.json()["paid_fen"] == finished.json()["total_fen"]


async def test_an_order_ships_and_finishes(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    await _create(client, channel)
    base = f"/site/{cid}/orders/S-1001"
    early = await client.post(f"{base}/finish", headers=auth)
    assert early.status_code == 409 and early.json()["detail"] == "订单 S-1001 还没有发货"
    await client.post(f"{base}/pay", headers=auth)
    ship = {"courier": "顺丰", "tracking_number": "SF1234567890"}
    shipped = await client.post(f"{base}/ship", json=ship, headers=auth)
    assert shipped.status_code == 200
    order = shipped.json()
    assert (
        order["status"] == "WAIT_BUYER_CONFIRM_GOODS" and order["status_text"] == "已发货，待收货"
    )
    assert (order["courier"], order["tracking_number"]) == ("顺丰", "SF1234567890")
    assert order["shipped_at"] is not None
    again = await client.post(f"{base}/ship", json=ship, headers=auth)
    assert again.status_code == 200 and again.json()["shipped_at"] == order["shipped_at"]
    finished = await client.post(f"{base}/finish", headers=auth)
    assert finished.status_code == 200
    assert finished.json()["status"] == "TRADE_FINISHED" and finished.json()["finished_at"]
    closing = await client.post(f"{base}/close", json={"reason": "买家不要了"}, headers=auth)
    assert closing.status_code == 409


async def test_closing_an_unpaid_order(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    await _create(client, channel)
    closed = await client.post(f"/site/{cid}/orders/S-1001/close", headers=auth)
    assert closed.status_code == 200
    order = closed.json()
    assert order["status"] == "TRADE_CLOSED_BY_TAOBAO" and order["closed_at"] is not None
    assert order["close_reason"] == "买家未付款" and order["refunded_fen"] == 0
    paying = await client.post(f"/site/{cid}/orders/S-1001/pay", headers=auth)
    assert paying.status_code == 409
    # The trade state is named in the seller centre's words inside the Chinese message.
    assert paying.json()["detail"] == "订单 S-1001 当前是“交易关闭（未付款）”，不能付款"


async def test_closing_a_paid_order_refunds_it(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    await _create(client, channel)
    await client.post(f"/site/{cid}/orders/S-1001/pay", headers=auth)
    closed = await client.post(
        f"/site/{cid}/orders/S-1001/close", json={"reason": "缺货"}, headers=auth
    )
    order = closed.json()
    assert (order["status"], order["close_reason"]) == ("TRADE_CLOSED", "缺货")
    assert order["refunded_fen"] == order["paid_fen"] == 30300


async def test_a_wrong_secret_is_refused(
    client: httpx.AsyncClient, channel: Channel, db: Database
) -> None:
    cid, _ = channel
    await _create(client, channel)
    wrong = {"Authorization": "Bearer nope"}
    created = await client.post(f"/site/{cid}/orders", json=_order("S-2"), headers=wrong)
    assert created.status_code == 401
    async with db.session() as session:
        with pytest.raises(ChannelError) as refusal:
            await authenticated_channel(session, cid, "Bearer nope")
    assert created.json()["detail"] == Translator("zh").error(refusal.value)
    assert (await client.get(f"/site/{cid}/orders/S-1001")).status_code == 401
    paid = await client.post(f"/site/{cid}/orders/S-1001/pay", headers=wrong)
    assert paid.status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        {"items": []},
        {"items": [{"title": "窗帘", "price_fen": 100, "quantity": 0}]},
        {"items": [{"title": "窗帘", "price_fen": -1}]},
        {"items": [{"title": "窗帘", "price_fen": 100}] * 51},
        {"number": "S 1/2"},
        {"buyer_id": ""},
        {"postage_fen": -5},
        {"receiver_phone": "1" * 33},
    ],
)
async def test_an_invalid_body_is_refused(
    client: httpx.AsyncClient, channel: Channel, db: Database, change: dict[str, Any]
) -> None:
    cid, auth = channel
    refused = await client.post(f"/site/{cid}/orders", json=_order(**change), headers=auth)
    assert refused.status_code == 422
    async with db.session() as session:
        assert await session.scalar(select(Order.id)) is None


async def test_a_missing_field_is_named(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    body = _order()
    del body["buyer_id"]
    refused = await client.post(f"/site/{cid}/orders", json=body, headers=auth)
    assert refused.status_code == 422 and "buyer_id" in refused.text
    await _create(client, channel)
    ship = await client.post(
        f"/site/{cid}/orders/S-1001/ship", json={"courier": "顺丰"}, headers=auth
    )
    assert ship.status_code == 422 and "tracking_number" in ship.text


async def test_an_unknown_number_is_not_found(client: httpx.AsyncClient, channel: Channel) -> None:
    cid, auth = channel
    assert (await client.get(f"/site/{cid}/orders/NOPE", headers=auth)).status_code == 404
    for action in ("pay", "finish", "close"):
        answer = await client.post(f"/site/{cid}/orders/NOPE/{action}", headers=auth)
        assert answer.status_code == 404
        assert answer.json()["detail"] == "本渠道没有订单 NOPE"


async def test_another_shop_or_channel_cannot_see_the_order(
    client: httpx.AsyncClient, channel: Channel, db: Database, shop: Shop
) -> None:
    await _create(client, channel)
    async with db.session() as session:
        other_shop = await do_create_shop(session, code="silk", name="丝绸坊")
        elsewhere, elsewhere_secret = await do_add_bridge_channel(
            session, shop_id=other_shop.id, name="own-site"
        )
        sibling, sibling_secret = await do_add_bridge_channel(
            session, shop_id=shop.id, name="jd-store"
        )
        await session.commit()
    for cid, secret in ((elsewhere.id, elsewhere_secret), (sibling.id, sibling_secret)):
        auth = {"Authorization": f"Bearer {secret}"}
        assert (await client.get(f"/site/{cid}/orders/S-1001", headers=auth)).status_code == 404
        closing = await client.post(f"/site/{cid}/orders/S-1001/close", headers=auth)
        assert closing.status_code == 404
    # The other shop has its own numbers; the sibling channel may not reuse this one.
    other = await client.post(
        f"/site/{elsewhere.id}/orders",
        json=_order(),
        headers={"Authorization": f"Bearer {elsewhere_secret}"},
    )
    assert other.status_code == 201
    taken = await client.post(
        f"/site/{sibling.id}/orders",
        json=_order(),
        headers={"Authorization": f"Bearer {sibling_secret}"},
    )
    assert taken.status_code == 409
    own = await client.get(f"/site/{channel[0]}/orders/S-1001", headers=channel[1])
    assert own.json()["status"] == "WAIT_BUYER_PAY"


async def test_a_retry_racing_the_first_call_answers_the_stored_order(
    client: httpx.AsyncClient, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xiaoer.orders import site_api, site_orders

    cid, auth = channel
    first = await _create(client, channel)
    real = site_api.order_by_platform_id
    calls: list[str] = []

    async def unseen_once(session: Any, shop_id: int, number: str) -> Order | None:
        calls.append(number)
        return None if len(calls) == 1 else await real(session, shop_id, number)

    async def unseen(session: Any, shop_id: int, number: str) -> Order | None:
        return None

    # Both lookups miss, as when the first call commits between them: the insert clashes.
    monkeypatch.setattr(site_api, "order_by_platform_id", unseen_once)
    monkeypatch.setattr(site_orders, "order_by_platform_id", unseen)
    second = await client.post(f"/site/{cid}/orders", json=_order(), headers=auth)
    assert second.status_code == 200, second.text
    assert second.json()["created"] is False
    assert second.json()["created_at"] == first["created_at"]
