"""Membership (R5): levels from paid orders less refunds, member prices per SKU and
level, paid on the shop's own site and shown beside the chat.

The default levels: member (2 orders), silver (4 orders and 1,000 yuan), gold (8
orders and 3,000 yuan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.customers.points_world import refund
from xiaoer.buyers.models import Customer
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.core.policy import Policy
from xiaoer.customers.membership import (
    MembershipError,
    Standing,
    do_delete_member_price,
    do_set_member_price,
    live_level,
    member_price_for,
    member_summary,
)
from xiaoer.customers.models import MemberPrice
from xiaoer.customers.points import settle_points
from xiaoer.orders.models import Order, OrderItem, TradeStatus
from xiaoer.reception.bridge import customer_channel, do_add_bridge_channel
from xiaoer.reception.models import Channel
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


async def _catalogue(session: AsyncSession, shop_id: int) -> dict[str, Sku]:
    tea = Product(shop_id=shop_id, code="TEA", title="龙井茶", price_fen=10000, category="茶叶")
    session.add(tea)
    await session.flush()
    skus = {
        "TEA-1": Sku(shop_id=shop_id, product_id=tea.id, code="TEA-1", price_fen=10000),
        "TEA-2": Sku(shop_id=shop_id, product_id=tea.id, code="TEA-2", price_fen=20000),
    }
    session.add_all(skus.values())
    await session.flush()
    return skus


async def _history(
    session: AsyncSession, buyer: Customer, count: int, yuan: int, sku: Sku | None = None
) -> list[Order]:
    """``count`` orders of ``yuan`` each, paid and received before ``NOW``."""
    orders = []
    for n in range(count):
        paid = NOW - timedelta(days=10 + n)
        order = Order(shop_id=buyer.shop_id, platform_order_id=f"H{buyer.id}-{n}",
                      customer_id=buyer.id, buyer_nick=buyer.nick, source="api",
                      status=TradeStatus.TRADE_FINISHED.value, total_fen=yuan * 100,
                      paid_fen=yuan * 100, goods_fen=yuan * 100, created_at=paid, paid_at=paid,
                      shipped_at=paid, finished_at=paid)  # fmt: skip
        session.add(order)
        await session.flush()
        if sku is not None:
            session.add(OrderItem(order_id=order.id, sku_id=sku.id, sku_code=sku.code,
                                  title="龙井茶", price_fen=yuan * 100, quantity=1))  # fmt: skip
        orders.append(order)
    await session.flush()
    return orders


async def _staff(
    session: AsyncSession, shop: Shop, name: str, number: str, role: str
) -> StaffAccount:
    return await do_add_staff(session, shop_id=shop.id, username=name, number=number, name=name,
                              password="correct-horse-7", roles=(role,))  # fmt: skip


async def test_a_level_counts_paid_orders_less_refunds(db: Database, shop: Shop) -> None:
    policy = Policy()
    async with db.session() as session:
        buyer = await do_get_or_create_customer(session, shop_id=shop.id, channel="taobao",
                                                buyer_id="fang", nick="fang")  # fmt: skip
        # given 4 orders of 300 yuan: 1,200 yuan, silver
        orders = await _history(session, buyer, 4, 300)
        assert await live_level(session, policy, buyer) == Standing(4, 120000, "silver")
        # when one is refunded in full, then 3 orders and 900 yuan: a member only
        await refund(session, orders[0], 300)
        assert await live_level(session, policy, buyer) == Standing(3, 90000, "member")
        await session.commit()


async def test_member_prices_are_kept_by_leaders_within_the_rules(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        skus = await _catalogue(session, shop.id)
        agent = await _staff(session, shop, "mei", "1001", "agent")
        boss = await _staff(session, shop, "sup", "1100", "supervisor")
        far = await do_create_shop(session, code="far", name="远方小店")
        far_skus = await _catalogue(session, far.id)
        tea = skus["TEA-1"].id
        # an agent may not set one
        with pytest.raises(NotPermitted):
            await do_set_member_price(session, agent, tea, "gold", 8000)
        # a level the policy has not, a price at or above the SKU's, or 0, is refused
        with pytest.raises(MembershipError, match="no member level 'diamond'"):
            await do_set_member_price(session, boss, tea, "diamond", 8000)
        with pytest.raises(MembershipError, match=r"below the SKU's own price of 100\.00"):
            await do_set_member_price(session, boss, tea, "gold", 10000)
        with pytest.raises(MembershipError, match="more than 0"):
            await do_set_member_price(session, boss, tea, "gold", 0)
        # another shop's SKU is not found
        with pytest.raises(NotFound):
            await do_set_member_price(session, boss, far_skus["TEA-1"].id, "gold", 8000)
        assert await session.scalar(select(MemberPrice.sku_id)) is None
        # a supervisor sets gold at 80 yuan, then 85, then deletes silver's (none): refused
        await do_set_member_price(session, boss, tea, "gold", 8000)
        row = await do_set_member_price(session, boss, tea, "gold", 8500)
        assert row.price_fen == 8500
        with pytest.raises(MembershipError, match="no member price"):
            await do_delete_member_price(session, boss, tea, "silver")
        await do_delete_member_price(session, boss, tea, "gold")
        assert await session.scalar(select(MemberPrice.sku_id)) is None
        actions = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "member_price")
            .order_by(AuditEntry.id)
        )
        assert list(actions) == ["set", "set", "delete"]
        await session.commit()


async def test_a_member_pays_their_level_or_the_best_lower_one(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        skus = await _catalogue(session, shop.id)
        boss = await _staff(session, shop, "sup", "1100", "supervisor")
        tea, pot = skus["TEA-1"].id, skus["TEA-2"].id
        await do_set_member_price(session, boss, tea, "member", 9500)
        await do_set_member_price(session, boss, tea, "gold", 8000)
        await do_set_member_price(session, boss, pot, "member", 19000)
        silver = await do_get_or_create_customer(session, shop_id=shop.id, channel="taobao",
                                                 buyer_id="silver", nick="silver")  # fmt: skip
        await _history(session, silver, 4, 300)
        stranger = await do_get_or_create_customer(session, shop_id=shop.id, channel="taobao",
                                                   buyer_id="new", nick="new")  # fmt: skip
        # a silver member pays the member level's price (no silver price is set)
        assert await member_price_for(session, shop.id, silver.id, tea) == 9500
        assert await member_price_for(session, shop.id, silver.id, pot) == 19000
        # a buyer with no orders pays the list price
        assert await member_price_for(session, shop.id, stranger.id, tea) == 10000
        await session.commit()


async def _gold_buyer_of_the_site(
    db: Database, shop: Shop
) -> tuple[int, dict[str, str], dict[str, Sku]]:
    """The site's channel, its secret, and a buyer of it with 8 orders of 400 yuan."""
    async with db.session() as session:
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="own-site")
        skus = await _catalogue(session, shop.id)
        boss = await _staff(session, shop, "sup", "1100", "supervisor")
        await do_set_member_price(session, boss, skus["TEA-1"].id, "gold", 8000)
        await do_set_member_price(session, boss, skus["TEA-1"].id, "member", 9500)
        gold = await do_get_or_create_customer(
            session, shop_id=shop.id, channel=customer_channel(channel), buyer_id="gold-1",
            nick="金卡",
        )  # fmt: skip
        await _history(session, gold, 8, 400, skus["TEA-1"])
        await session.commit()
    return channel.id, {"Authorization": f"Bearer {secret}"}, skus


async def test_the_site_charges_a_gold_member_the_gold_price(
    db: Database, shop: Shop, client: httpx.AsyncClient
) -> None:
    # given a gold member (8 orders, 3,200 yuan) and a gold price of 80 yuan for TEA-1
    cid, auth, _skus = await _gold_buyer_of_the_site(db, shop)
    item = {"title": "龙井茶", "price_fen": 10000, "quantity": 2, "sku_code": "TEA-1"}
    # when the gold member orders two on the site
    body = {"number": "G-1", "buyer_id": "gold-1", "items": [item]}
    made = await client.post(f"/site/{cid}/orders", headers=auth, json=body)
    # then each costs 80 yuan
    assert made.status_code == 201, made.text
    assert made.json()["total_fen"] == 16000
    assert made.json()["items"][0]["price_fen"] == 8000
    # and a new buyer pays the list price
    body = {"number": "G-2", "buyer_id": "new-1", "items": [item]}
    other = await client.post(f"/site/{cid}/orders", headers=auth, json=body)
    assert other.json()["total_fen"] == 20000
    # and an item without a SKU code, or a price sent below the member price, is as sent
    cheap = {"title": "龙井茶", "price_fen": 7000, "sku_code": "TEA-1"}
    loose = {"title": "茶包", "price_fen": 500}
    third = await client.post(f"/site/{cid}/orders", headers=auth,
                              json={"number": "G-3", "buyer_id": "gold-1",
                                    "items": [cheap, loose]})  # fmt: skip
    assert [i["price_fen"] for i in third.json()["items"]] == [7000, 500]


async def test_the_summary_shows_an_agent_level_points_and_member_prices(
    db: Database, shop: Shop
) -> None:
    cid, _auth, skus = await _gold_buyer_of_the_site(db, shop)
    async with db.session() as session:
        channel = await session.get(Channel, cid)
        assert channel is not None
        gold = await session.scalar(select(Customer).where(Customer.buyer_id == "gold-1"))
        assert gold is not None
        summary = await member_summary(session, shop.id, gold.id, now=NOW)
        assert (summary.level, summary.orders, summary.spent_fen) == ("gold", 8, 320000)
        assert summary.next_level == ""
        assert [(s.code, s.price_fen, s.member_fen) for s in summary.skus] == [
            ("TEA-1", 10000, 8000)
        ]
        assert summary.as_json()["points"] == {"usable": 0, "pending": 0, "debt": False}
        with pytest.raises(NotFound):
            await member_summary(session, shop.id + 999, gold.id)
        assert skus["TEA-2"].id not in {s.sku_id for s in summary.skus}


async def test_the_site_reads_a_buyers_points_and_spends_them_on_an_unpaid_order(
    db: Database, shop: Shop, client: httpx.AsyncClient
) -> None:
    # given the gold member's 3,200 points usable (8 orders of 400 yuan, received)
    cid, auth, _skus = await _gold_buyer_of_the_site(db, shop)
    async with db.session() as session:
        await settle_points(session, shop.id, now=NOW)
        far = await do_create_shop(session, code="far", name="远方小店")
        far_channel, far_secret = await do_add_bridge_channel(session, shop_id=far.id, name="far")
        await session.commit()
    read = await client.get(f"/site/{cid}/buyers/gold-1/points", headers=auth)
    assert read.json() == {"buyer_id": "gold-1", "level": "gold", "usable": 3200, "pending": 0,
                           "debt": False}  # fmt: skip
    item = {"title": "龙井茶", "price_fen": 10000, "quantity": 2, "sku_code": "TEA-1"}
    body = {"number": "S-1", "buyer_id": "gold-1", "items": [item]}
    assert (await client.post(f"/site/{cid}/orders", headers=auth, json=body)).is_success
    # when the site takes 500 points off the order of 160 yuan
    spent = await client.post(f"/site/{cid}/orders/S-1/points", headers=auth, json={"points": 500})
    # then it costs 155 yuan, and the buyer has 2,700 points left
    assert spent.status_code == 200, spent.text
    assert spent.json() == {"number": "S-1", "points": 500, "discount_fen": 500,
                            "total_fen": 15500}  # fmt: skip
    assert (await client.get(f"/site/{cid}/buyers/gold-1/points", headers=auth)).json()[
        "usable"
    ] == 2700
    # and a second time, or beyond the order's half, is refused with the reason
    again = await client.post(f"/site/{cid}/orders/S-1/points", headers=auth, json={"points": 1})
    assert again.status_code == 409 and "已经用过积分" in again.text
    # and another shop's channel reaches neither the buyer nor the order
    far_auth = {"Authorization": f"Bearer {far_secret}"}
    assert (
        await client.get(f"/site/{cid}/buyers/gold-1/points", headers=far_auth)
    ).status_code == 401
    other = await client.post(f"/site/{far_channel.id}/orders/S-1/points", headers=far_auth,
                              json={"points": 1})  # fmt: skip
    assert other.status_code == 404
    unknown = await client.get(f"/site/{far_channel.id}/buyers/gold-1/points", headers=far_auth)
    assert unknown.json()["usable"] == 0
