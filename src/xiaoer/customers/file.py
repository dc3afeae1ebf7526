"""One customer's file (R1): what is known of the person across their buyers, read
from the orders, refunds and reviews themselves, with personal data masked for
those who do not need it; and the edits an agent or a leader makes to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Review
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.policy_store import policy_on
from xiaoer.customers.birthdays import Birthday, age_on, birthday_of
from xiaoer.customers.models import CampaignCall, CustomerMerge, OnlineProfile
from xiaoer.customers.people import (
    MANAGERS,
    PRIVACY,
    buyer_ids,
    person_of,
    sees_personal,
)
from xiaoer.customers.stats import level_of, price_level_of
from xiaoer.orders.models import Order, OrderItem
from xiaoer.reception.models import Conversation
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount

RECENT_ORDERS = 5
RECENT_CONVERSATIONS = 5
RECENT_REVIEWS = 3
UNSURE_BELOW = 0.5  # an online profile less sure than this is shown as a guess
WEEKDAYS = 7
HOURS = 24


class CustomerFileError(ValueError):
    """An edit the file refuses; the message says which field and why."""


def actor_of(staff: StaffAccount) -> str:
    return staff.number or staff.username


@dataclass(frozen=True)
class Heat:
    """The online-hours strip: 7 rows of 24 shares (Monday first, shop time), each as
    a shade 0–4 of the busiest hour, with the day's and the week's sums."""

    cells: list[list[int]]  # [weekday][hour] → shade 0..4
    day: list[float]  # share per hour of the day, summed over the week
    week: list[float]  # share per weekday
    confidence: float
    samples: int
    refreshed_at: datetime

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE_BELOW

    @property
    def busiest_hour(self) -> int:
        return max(range(HOURS), key=lambda h: self.day[h])

    def as_json(self) -> dict[str, Any]:
        return {
            "cells": self.cells,
            "day": [round(v, 4) for v in self.day],
            "week": [round(v, 4) for v in self.week],
            "confidence": round(self.confidence, 3),
            "unsure": self.unsure,
            "samples": self.samples,
            "busiest_hour": self.busiest_hour,
        }


def heat_of(profile: OnlineProfile | None) -> Heat | None:
    """The strip of a profile; None when there is none (or it is not 168 hours)."""
    if profile is None or len(profile.hours) != WEEKDAYS * HOURS:
        return None
    shares = [max(float(v), 0.0) for v in profile.hours]
    top = max(shares) or 1.0
    cells = [
        [round(4 * shares[d * HOURS + h] / top) for h in range(HOURS)] for d in range(WEEKDAYS)
    ]
    day = [sum(shares[d * HOURS + h] for d in range(WEEKDAYS)) for h in range(HOURS)]
    week = [sum(shares[d * HOURS : (d + 1) * HOURS]) for d in range(WEEKDAYS)]
    return Heat(cells, day, week, float(profile.confidence), profile.samples, profile.refreshed_at)


@dataclass(frozen=True)
class BuyerShown:
    id: int
    channel: str
    nick: str
    phone: str  # masked unless the reader sees it


@dataclass
class CustomerFile:
    person: Customer
    buyers: list[BuyerShown]
    phone: str
    email: str
    birthday: Birthday | None  # masked (the month only) unless the reader sees it
    age: int | None
    orders: int
    spent_fen: int
    first_paid_at: datetime | None
    last_paid_at: datetime | None
    price_level: str
    level: str
    categories: list[str]
    refunds: int
    refund_fen: int
    reviews: int
    bad_reviews: int
    last_reviews: list[Review]
    recent_orders: list[Order]
    recent_conversations: list[Conversation]
    heat: Heat | None
    merges: list[CustomerMerge] = field(default_factory=list)
    sees_personal: bool = False
    sees_phone: bool = False
    may_edit_personal: bool = False
    may_merge: bool = False
    may_erase: bool = False

    @property
    def greetings_on(self) -> bool:
        return self.person.greetings_off_at is None and self.person.erased_at is None

    @property
    def erased(self) -> bool:
        return self.person.erased_at is not None


async def on_follow_up_list(session: AsyncSession, staff: StaffAccount, ids: list[int]) -> bool:
    """The agent has one of these buyers on their own open follow-up list."""
    found = await session.scalar(
        select(CampaignCall.id)
        .where(
            CampaignCall.shop_id == staff.shop_id,
            CampaignCall.agent_id == staff.id,
            CampaignCall.done_at.is_(None),
            CampaignCall.customer_id.in_(ids),
        )
        .limit(1)
    )
    return found is not None


async def sees_phone_of(session: AsyncSession, staff: StaffAccount, ids: list[int]) -> bool:
    return sees_personal(staff) or await on_follow_up_list(session, staff, ids)


async def customer_file(
    session: AsyncSession, staff: StaffAccount, customer_id: int, now: datetime | None = None
) -> CustomerFile:
    """Everything the file shows of the person behind buyer ``customer_id``, as
    ``staff`` may see it."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    ids = await buyer_ids(session, person)
    personal = sees_personal(staff)
    phone_shown = personal or await on_follow_up_list(session, staff, ids)
    rows = list(
        await session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))
    )
    rows.sort(key=lambda c: (c.id != person.id, c.id))

    def phone(value: str) -> str:
        return value if phone_shown or not value else mask_phone(value)

    buyers = [BuyerShown(c.id, c.channel, c.nick, phone(c.phone)) for c in rows]
    birthday = birthday_of(person)
    today = await shop_today(session, person.shop_id, now)
    age = age_on(birthday, today) if birthday is not None else None
    if birthday is not None and not personal:
        birthday = birthday.masked()

    paid = (
        await session.execute(
            select(
                func.count(Order.id),
                func.coalesce(func.sum(Order.paid_fen), 0),
                func.min(Order.paid_at),
                func.max(Order.paid_at),
            ).where(
                Order.shop_id == person.shop_id,
                Order.customer_id.in_(ids),
                Order.paid_at.is_not(None),
            )
        )
    ).one()
    refunded = (
        await session.execute(
            select(
                func.count(Refund.id),
                func.coalesce(
                    func.sum(Refund.amount_fen).filter(Refund.status == RefundStatus.SUCCESS.value),
                    0,
                ),
            )
            .join(Order, Order.id == Refund.order_id)
            .where(Refund.shop_id == person.shop_id, Order.customer_id.in_(ids))
        )
    ).one()
    reviews_of = (
        select(Review)
        .join(Order, Order.id == Review.order_id)
        .where(Review.shop_id == person.shop_id, Order.customer_id.in_(ids))
    )
    review_counts = (
        await session.execute(
            select(
                func.count(Review.id),
                func.count(Review.id).filter(Review.rating.in_(("bad", "neutral"))),
            )
            .join(Order, Order.id == Review.order_id)
            .where(Review.shop_id == person.shop_id, Order.customer_id.in_(ids))
        )
    ).one()
    last_reviews = list(
        await session.scalars(reviews_of.order_by(Review.id.desc()).limit(RECENT_REVIEWS))
    )
    categories = sorted(
        str(c)
        for c in await session.scalars(
            select(Product.category)
            .distinct()
            .select_from(OrderItem)
            .join(Order, Order.id == OrderItem.order_id)
            .join(Sku, Sku.id == OrderItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(
                Order.shop_id == person.shop_id,
                Order.customer_id.in_(ids),
                Order.paid_at.is_not(None),
                Product.category != "",
            )
        )
    )
    recent_orders = list(
        await session.scalars(
            select(Order)
            .where(Order.shop_id == person.shop_id, Order.customer_id.in_(ids))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(RECENT_ORDERS)
        )
    )
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(Conversation.shop_id == person.shop_id, Conversation.customer_id.in_(ids))
            .order_by(Conversation.opened_at.desc(), Conversation.id.desc())
            .limit(RECENT_CONVERSATIONS)
        )
    )
    profile = await session.get(OnlineProfile, person.id)
    merges: list[CustomerMerge] = []
    may_merge = staff.has_role(*MANAGERS)
    if may_merge:
        merges = list(
            await session.scalars(
                select(CustomerMerge)
                .where(CustomerMerge.shop_id == person.shop_id, CustomerMerge.into_id == person.id)
                .order_by(CustomerMerge.id.desc())
                .limit(20)
            )
        )
    policy = await policy_on(session, person.shop_id, today)
    orders, paid_fen = int(paid[0]), int(paid[1])
    spent = paid_fen - int(refunded[1])
    return CustomerFile(
        person=person,
        buyers=buyers,
        phone=phone(person.phone),
        email=person.email if personal else "",
        birthday=birthday,
        age=age,
        orders=orders,
        spent_fen=spent,
        first_paid_at=paid[2],
        last_paid_at=paid[3],
        price_level=price_level_of(policy, orders, spent),
        level=level_of(policy, orders, spent),
        categories=categories,
        refunds=int(refunded[0]),
        refund_fen=int(refunded[1]),
        reviews=int(review_counts[0]),
        bad_reviews=int(review_counts[1]),
        last_reviews=last_reviews,
        recent_orders=recent_orders,
        recent_conversations=conversations,
        heat=heat_of(profile),
        merges=merges,
        sees_personal=personal,
        sees_phone=phone_shown,
        may_edit_personal=personal,
        may_merge=may_merge,
        may_erase=staff.has_role(*PRIVACY),
    )


__all__ = ["CustomerFile", "CustomerFileError", "Heat", "customer_file", "heat_of"]
