"""One customer's file (R1): what is known of the person across their buyers, read
from the orders, refunds and reviews themselves, with personal data masked for
those who do not need it; and the edits an agent or a leader makes to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Review
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.birthdays import Birthday, age_on, birthday_of, lunar_date_exists
from xiaoer.customers.models import CampaignCall, CustomerMerge, OnlineProfile
from xiaoer.customers.people import (
    MANAGERS,
    PRIVACY,
    buyer_ids,
    check_reader,
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


# --- edits -----------------------------------------------------------------------------

GENDERS = ("", "female", "male")
PERSONAL_FIELDS = ("phone", "email", "birthday")
MAX_TAGS = 20
MAX_TAG = 16
MAX_NOTES = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")


def _text(fields: Mapping[str, Any], key: str, limit: int, label: str) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise CustomerFileError(say("{field} must be text", field=label))
    value = value.strip()
    if len(value) > limit:
        raise CustomerFileError(
            say("{field} is at most {limit} characters long", field=label, limit=limit)
        )
    return value


def _number(value: Any, label: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise CustomerFileError(say("{field} must be a whole number", field=label))
    text = str(value).strip()
    if not text.isdigit() or len(text) > 4:
        raise CustomerFileError(say("{field} must be a whole number", field=label))
    return int(text)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "yes", "on", "true", "是")


def parse_tags(value: Any) -> list[str]:
    """Tags as a list, or as text split at commas, 、 or spaces; repeats dropped."""
    if isinstance(value, list):
        words = [w for w in value if isinstance(w, str)]
        if len(words) != len(value):
            raise CustomerFileError(say("tags: expected words"))
    elif isinstance(value, str):
        words = _TAG_SPLIT.split(value)
    else:
        raise CustomerFileError(say("tags: expected words"))
    tags: list[str] = []
    for word in (w.strip() for w in words):
        if not word or word in tags:
            continue
        if len(word) > MAX_TAG:
            raise CustomerFileError(
                say("tag {tag!r} is longer than {limit} characters", tag=word, limit=MAX_TAG)
            )
        tags.append(word)
    if len(tags) > MAX_TAGS:
        raise CustomerFileError(say("at most {limit} tags", limit=MAX_TAGS))
    return tags


def parse_birthday(fields: Mapping[str, Any], today: date) -> Birthday | None:
    """``birth_year`` (optional), ``birth_month``, ``birth_day``, ``birth_lunar``,
    ``birth_leap``; an empty month and day clear the birthday."""
    year = _number(fields.get("birth_year"), say("year of birth"))
    month = _number(fields.get("birth_month"), say("month of birth"))
    day = _number(fields.get("birth_day"), say("day of birth"))
    lunar = _flag(fields.get("birth_lunar"))
    leap = _flag(fields.get("birth_leap"))
    if month is None and day is None:
        if year is not None:
            raise CustomerFileError(say("a birthday needs its month and day"))
        return None
    if month is None or day is None:
        raise CustomerFileError(say("a birthday needs its month and day"))
    if not 1 <= month <= 12:
        raise CustomerFileError(say("birth month must be 1 to 12"))
    if leap and not lunar:
        raise CustomerFileError(say("only a lunar birthday can be in a leap month"))
    if year is not None and not 1900 <= year <= today.year:
        raise CustomerFileError(say("birth year must be 1900 to {year}", year=today.year))
    if lunar:
        if not 1 <= day <= 30:
            raise CustomerFileError(say("a lunar month has at most 30 days"))
        if year is not None and not lunar_date_exists(year, month, day, leap):
            raise CustomerFileError(say("no such lunar date in {year}", year=year))
        return Birthday(month, day, year, True, leap)
    try:
        date(year if year is not None else 2000, month, day)  # 2000: Feb 29 exists
    except ValueError as exc:
        raise CustomerFileError(
            say("{month}/{day} is not a day of the calendar", month=month, day=day)
        ) from exc
    return Birthday(month, day, year, False, False)


def _check_not_erased(person: Customer) -> None:
    if person.erased_at is not None:
        raise CustomerFileError(say("this customer's data was erased on request"))


async def do_edit_customer(
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    fields: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> Customer:
    """Change the fields given (absent ones stay): ``name``, ``gender``, ``city``,
    ``tags``, ``notes`` by any reader; ``phone``, ``email`` and the birthday only by
    those who see personal data. Audited: which fields, and the values of those that
    are not personal."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    _check_not_erased(person)
    wants_personal = [
        key for key in PERSONAL_FIELDS if key in fields or (key == "birthday" and any(
            k.startswith("birth_") for k in fields))
    ]  # fmt: skip
    if wants_personal and not sees_personal(staff):
        raise NotPermitted(
            say("only a supervisor or the manager changes phone, e-mail and birthday")
        )
    changes: dict[str, Any] = {}
    if "name" in fields:
        changes["name"] = _text(fields, "name", 64, say("customer name"))
    if "city" in fields:
        changes["city"] = _text(fields, "city", 32, say("customer city"))
    if "gender" in fields:
        gender = _text(fields, "gender", 8, say("customer gender"))
        if gender not in GENDERS:
            raise CustomerFileError(say("gender must be female, male or left empty"))
        changes["gender"] = gender
    if "notes" in fields:
        changes["notes"] = _text(fields, "notes", MAX_NOTES, say("customer notes"))
    if "tags" in fields:
        changes["tags"] = parse_tags(fields["tags"])
    if "phone" in fields:
        phone = _text(fields, "phone", 32, say("customer phone"))
        if phone and not _PHONE.match(phone):
            raise CustomerFileError(say("phone: digits only, with + - or spaces"))
        changes["phone"] = phone
    if "email" in fields:
        email = _text(fields, "email", 254, say("customer e-mail"))
        if email and not _EMAIL.match(email):
            raise CustomerFileError(say("e-mail: expected an address like name@example.com"))
        changes["email"] = email.lower()
    if "birthday" in wants_personal:
        today = await shop_today(session, person.shop_id, now)
        birthday = parse_birthday(fields, today)
        changes.update(
            birth_year=birthday.year if birthday else None,
            birth_month=birthday.month if birthday else None,
            birth_day=birthday.day if birthday else None,
            birth_lunar=birthday.lunar if birthday else False,
            birth_leap=birthday.leap if birthday else False,
        )
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(person, key)
        if old == value:
            continue
        personal = key in ("phone", "email") or key.startswith("birth_")
        before[key] = "…" if personal else old
        after[key] = "…" if personal else value
        setattr(person, key, value)
    if after:
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="edit", before=before, after=after, at=now,
        )  # fmt: skip
        await session.flush()
    return person


async def do_greetings_off(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, now: datetime | None = None
) -> Customer:
    """The buyer wants no greetings: from this moment none is sent (the sender looks
    at ``greetings_off_at`` just before sending)."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    if person.greetings_off_at is None:
        person.greetings_off_at = now
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="greetings_off", at=now,
        )  # fmt: skip
        await session.flush()
    return person


async def do_greetings_on(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, now: datetime | None = None
) -> Customer:
    """The buyer accepts greetings again."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    _check_not_erased(person)
    if person.greetings_off_at is not None:
        person.greetings_off_at = None
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="greetings_on", at=now,
        )  # fmt: skip
        await session.flush()
    return person


__all__ = [
    "CustomerFile",
    "CustomerFileError",
    "Heat",
    "check_reader",
    "customer_file",
    "do_edit_customer",
    "do_greetings_off",
    "do_greetings_on",
    "heat_of",
    "parse_birthday",
    "parse_tags",
]
