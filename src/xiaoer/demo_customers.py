"""The demo shop's customer file, made through the services as the shop's people make it.

Every person's sums and online hours computed from the demo's orders and chats; the
three suggested rule groups and a hand-made group of the best customers; a follow-up
campaign of that group split among the agents, every call recorded (one problem raised
opening its after-sales case) and the campaign closed; member prices of the best sellers
and the points the demo's orders earned; and today's greetings planned.
Birthdays, some of them lunar, come with the buyers (``demo_data.build_customers``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Sku
from xiaoer.core.db import Database
from xiaoer.core.policy_store import policy_on
from xiaoer.customers.campaigns import do_close_campaign, do_record_result, do_start_campaign
from xiaoer.customers.greetings import do_plan_day
from xiaoer.customers.groups import SUGGESTIONS, do_add_members, do_create_group
from xiaoer.customers.membership import do_set_member_price
from xiaoer.customers.models import CampaignCall, CustomerStats
from xiaoer.customers.online import refresh_profiles
from xiaoer.customers.points_settle import settle_points
from xiaoer.customers.stats import refresh
from xiaoer.orders.models import OrderItem
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

GROUP_NAMES = {
    "twice_in_90_days": "90天内复购两次",
    "spent_over_500": "累计消费满500元",
    "lapsed_180_days": "半年未回购",
}
BEST = "年度好客户"
SCRIPT = (
    "您好，我是店里的客服，想问问您最近收到的商品用着怎么样？有没有哪里不满意、需要我们改进的？"
)
FEEDBACK = (
    (5, "很满意，已经推荐给朋友"),
    (4, "质量不错，物流再快点更好"),
    (5, "回购好几次了，一直很放心"),
    (3, "颜色和图片有点差别"),
    (4, "包装很用心"),
)


LEVEL_PRICES = (("member", 95), ("silver", 90), ("gold", 85))  # % of the list price


@dataclass(frozen=True)
class CustomersSummary:
    persons: int
    profiles: int
    groups: int
    calls: int
    greetings: int


async def _account(session: AsyncSession, staff_id: int) -> StaffAccount:
    account = await session.get(StaffAccount, staff_id)
    assert account is not None
    return account


async def seed_customers(
    db: Database, rng: random.Random, shop_id: int, base: datetime, staff_ids: dict[str, int]
) -> CustomersSummary:
    async with db.session() as session:
        policy = await policy_on(session, shop_id)
        persons = await refresh(session, shop_id, policy, now=base)
        profiles = await refresh_profiles(session, shop_id, policy, now=base)
        await session.commit()

    async with db.session() as session:
        manager = await _account(session, staff_ids["manager"])
        for key, rule in SUGGESTIONS.items():
            await do_create_group(session, manager, name=GROUP_NAMES[key], kind="rule", rule=rule)
        best = await do_create_group(
            session, manager, name=BEST, kind="hand", note="一年里消费最多的客户，年底回访"
        )
        top = await session.scalars(
            select(CustomerStats.customer_id)
            .where(CustomerStats.shop_id == shop_id, CustomerStats.orders > 0)
            .order_by(CustomerStats.spent_fen.desc(), CustomerStats.customer_id)
            .limit(12)
        )
        await do_add_members(session, manager, best.id, list(top))
        await session.commit()

    started = base - timedelta(days=6)
    async with db.session() as session:
        supervisor = await _account(session, staff_ids["supervisor"])
        agents = [staff_ids["agent"], staff_ids["agent3"]]
        campaign = await do_start_campaign(
            session, supervisor, "年终好客户回访", SCRIPT, {"group_id": best.id}, "balanced",
            agents, now=started,
        )  # fmt: skip
        calls = list(
            await session.scalars(
                select(CampaignCall)
                .where(CampaignCall.campaign_id == campaign.id)
                .order_by(CampaignCall.id)
            )
        )
        for n, call in enumerate(calls):
            assert call.agent_id is not None
            agent = await _account(session, call.agent_id)
            at = started + timedelta(days=1 + n % 4, hours=2 + n)
            if n % 5 == 4:  # no answer twice: noted, tried again next time
                await do_record_result(
                    session, agent, call.id, False, feedback="电话未接通",
                    next_step="下周再联系", now=at,
                )  # fmt: skip
            elif n == 3:  # the last call of the campaign: its case is the newest in the queue
                at = base - timedelta(hours=2)
                await do_record_result(
                    session, agent, call.id, True, 2, "上次的茶叶受潮结块了",
                    problem_kind="quality", problem="收到的茶叶受潮结块，希望换一罐",
                    next_step="售后联系补发", now=at,
                )  # fmt: skip
            else:
                score, words = FEEDBACK[rng.randrange(len(FEEDBACK))]
                await do_record_result(
                    session, agent, call.id, True, score, words, next_step="节日问候", now=at
                )
        await do_close_campaign(session, supervisor, campaign.id, now=base - timedelta(hours=1))
        await session.commit()

    async with db.session() as session:  # member prices of the three best sellers
        manager = await _account(session, staff_ids["manager"])
        best_sellers = await session.execute(
            select(Sku.id, Sku.price_fen)
            .join(OrderItem, OrderItem.sku_id == Sku.id)
            .where(Sku.shop_id == shop_id)
            .group_by(Sku.id, Sku.price_fen)
            .order_by(func.count(OrderItem.id).desc(), Sku.id)
            .limit(3)
        )
        for sku_id, price in best_sellers.all():
            for level, share in LEVEL_PRICES:
                await do_set_member_price(session, manager, sku_id, level, price * share // 100)

        # points earned by the demo's paid orders, confirmed where received
        await settle_points(session, shop_id, now=base)
        await session.commit()

    async with db.session() as session:
        shop = await session.get(Shop, shop_id)
        assert shop is not None
        policy = await policy_on(session, shop_id)
        today = base.astimezone(ZoneInfo(shop.timezone)).date()
        _plan, greetings = await do_plan_day(session, shop, policy, today)
        await session.commit()
    return CustomersSummary(persons, profiles, len(SUGGESTIONS) + 1, len(calls), greetings)
