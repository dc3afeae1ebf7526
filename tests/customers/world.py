"""A small customer base with a known history, for the customer file's tests.

All times are fixed (``NOW`` is 2026-06-15 10:00 in Shanghai) so rules such as "two
purchases in 90 days" or "lapsed 180 days" have exact answers:

- 王芳 (``wang``, Taobao) bought tea three times (two in the last 90 days), one refund
  of 30 yuan succeeded, one bad review; her JD account ``wang-jd`` shares her phone.
- 李雷 (``li``) bought a teapot once, 200 days ago: lapsed.
- 赵敏 (``zhao``) has written but never bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Review
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product, Sku
from xiaoer.orders.models import Order, OrderItem, TradeStatus
from xiaoer.shops.models import Shop

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class People:
    ids: dict[str, int]  # key → customer id
    orders: dict[str, int]  # key → order id
    skus: dict[str, int]  # code → sku id


async def people(session: AsyncSession, shop: Shop) -> People:
    tea = Product(shop_id=shop.id, code="TEA", title="龙井茶", price_fen=10000, category="茶叶")
    pot = Product(shop_id=shop.id, code="POT", title="紫砂壶", price_fen=40000, category="茶具")
    session.add_all([tea, pot])
    await session.flush()
    skus = {
        "TEA-1": Sku(shop_id=shop.id, product_id=tea.id, code="TEA-1", price_fen=10000),
        "POT-1": Sku(shop_id=shop.id, product_id=pot.id, code="POT-1", price_fen=40000),
    }
    session.add_all(skus.values())
    buyers = {
        "wang": Customer(shop_id=shop.id, channel="taobao", buyer_id="wang", nick="wang",
                         name="王芳", phone="13800000001", city="杭州", gender="female",
                         birth_year=1990, birth_month=8, birth_day=15, birth_lunar=True),
        "wang-jd": Customer(shop_id=shop.id, channel="jd", buyer_id="wang-jd", nick="wang-jd",
                            phone="13800000001"),
        "li": Customer(shop_id=shop.id, channel="taobao", buyer_id="li", nick="li", name="李雷",
                       phone="13800000002", city="上海", gender="male",
                       birth_year=1985, birth_month=3, birth_day=2),
        "zhao": Customer(shop_id=shop.id, channel="taobao", buyer_id="zhao", nick="zhao",
                         name="赵敏", phone="13800000003", city="北京"),
    }  # fmt: skip
    session.add_all(buyers.values())
    await session.flush()
    orders: dict[str, Order] = {}
    for key, who, sku, days_ago, fen in (
        ("w1", "wang", "TEA-1", 300, 10000),
        ("w2", "wang", "TEA-1", 60, 10000),
        ("w3", "wang-jd", "TEA-1", 20, 20000),
        ("l1", "li", "POT-1", 200, 40000),
    ):
        paid = NOW - timedelta(days=days_ago)
        order = Order(shop_id=shop.id, platform_order_id=f"9000{len(orders) + 1:011d}",
                      customer_id=buyers[who].id, buyer_nick=buyers[who].nick,
                      status=TradeStatus.TRADE_FINISHED.value, total_fen=fen, paid_fen=fen,
                      goods_fen=fen, created_at=paid, paid_at=paid,
                      shipped_at=paid + timedelta(days=1),
                      finished_at=paid + timedelta(days=5))  # fmt: skip
        session.add(order)
        await session.flush()
        session.add(OrderItem(order_id=order.id, sku_id=skus[sku].id, sku_code=sku,
                              title=sku, price_fen=fen, quantity=1))  # fmt: skip
        orders[key] = order
    session.add(Refund(shop_id=shop.id, order_id=orders["w2"].id, kind="refund_only",
                       status=RefundStatus.SUCCESS.value, amount_fen=3000))  # fmt: skip
    session.add(Review(shop_id=shop.id, order_id=orders["w1"].id, rating="bad",
                       content="包装破了", buyer_nick="wang"))  # fmt: skip
    await session.flush()
    return People(
        {k: c.id for k, c in buyers.items()},
        {k: o.id for k, o in orders.items()},
        {k: s.id for k, s in skus.items()},
    )
