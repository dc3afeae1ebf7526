"""The customer file's tables: what is known of each person, groups, greetings,
follow-up campaigns, member prices and the points ledger.

The person is the buyer row that others were merged into (``customer.merged_into_id``
is null). ``customer_stats`` is a projection of orders, refunds and reviews for
filters over many customers, recomputed by ``stats.refresh``; one customer's file
reads the orders themselves. Points have one truth, the append-only ``points_move``;
``points_balance`` is written in the same statement as each move.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


def phone_tail(phone: Any = Customer.phone) -> ColumnElement[str]:
    """A phone's last four characters, as ``ix_customer_search_tail`` holds them (the 3
    written out, so that a query's expression is the index's)."""
    return func.substr(phone, func.length(phone) - literal_column("3"))


# The customer list's search (``filters.search_sql``) on a million buyers: the start of a
# nick, a name or a phone (LIKE 'x%' needs the pattern operators on PostgreSQL unless
# the database's collation is C), and the last four digits of a phone.
for _name in ("nick", "name", "phone"):
    Index(f"ix_customer_search_{_name}", Customer.shop_id, getattr(Customer, _name),
          postgresql_ops={_name: "varchar_pattern_ops"})  # fmt: skip
Index("ix_customer_search_tail", Customer.shop_id, phone_tail())


class CustomerStats(Base):
    """One person's purchases, refunds and reviews, summed for filters and groups."""

    __tablename__ = "customer_stats"
    __table_args__ = (
        Index("ix_customer_stats_spent", "shop_id", "spent_fen"),
        Index("ix_customer_stats_last", "shop_id", "last_paid_at"),
        Index("ix_customer_stats_orders", "shop_id", "orders"),
        Index("ix_customer_stats_second", "shop_id", "second_paid_at"),
        Index("ix_customer_stats_third", "shop_id", "third_paid_at"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    orders: Mapped[int] = mapped_column(Integer, default=0)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    first_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The second and third latest payments: "two (three) purchases in 90 days" is then
    # one index range, not a count of every person's orders in the window.
    second_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    third_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    bad_reviews: Mapped[int] = mapped_column(Integer, default=0)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_level: Mapped[str] = mapped_column(String(8), default="")  # low, middle, high
    level: Mapped[str] = mapped_column(String(32), default="")  # member level, "" if none
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerMerge(Base):
    """Buyers merged into one person, and how to take it back."""

    __tablename__ = "customer_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    into_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    # [{"id": buyer id, "was": its merged_into_id before}]: what undo restores.
    moved: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    how: Mapped[str] = mapped_column(String(8))  # phone, hand
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    undone_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )


class GroupKind(enum.StrEnum):
    rule = "rule"  # members are whoever the rule matches when asked
    hand = "hand"  # members were picked one by one


class CustomerGroup(Base):
    __tablename__ = "customer_group"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8), default=GroupKind.rule)
    # A rule's conditions, all of which must hold: [{"field", "op", "value"}].
    rule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerGroupMember(Base):
    """A customer put into a hand-made group."""

    __tablename__ = "customer_group_member"
    __table_args__ = (Index("ix_customer_group_member_customer", "customer_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("customer_group.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OnlineProfile(Base):
    """When a customer is likely online: an hour-of-week profile (R2)."""

    __tablename__ = "online_profile"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    # 168 shares (Monday 00:00 first, shop time), smoothed, summing to 1.
    hours: Mapped[list[float]] = mapped_column(JSON, default=list)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)  # 0 (a guess) to 1 (sure)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GreetingKind(enum.StrEnum):
    birthday = "birthday"
    holiday = "holiday"
    anniversary = "anniversary"


class GreetingTemplate(Base):
    """A greeting in the shop's words, with variables such as ``{name}``."""

    __tablename__ = "greeting_template"
    __table_args__ = (UniqueConstraint("shop_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))  # a holiday's name, or "default"
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GreetingStatus(enum.StrEnum):
    planned = "planned"
    sent = "sent"
    skipped = "skipped"  # opted out, over the cap, no channel: the reason says
    failed = "failed"


class Greeting(Base):
    """One greeting planned for one customer, and what became of it: the log."""

    __tablename__ = "greeting"
    __table_args__ = (
        UniqueConstraint("customer_id", "occasion"),
        Index("ix_greeting_due", "status", "send_at"),
        Index("ix_greeting_shop_sent", "shop_id", "send_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # What is greeted, once per customer: "birthday:2026", "holiday:2026-02-17", …
    occasion: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(64), default="")  # e.g. the holiday's name
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(8))  # chat, email, sms
    status: Mapped[str] = mapped_column(String(8), default=GreetingStatus.planned)
    reason: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("greeting_template.id", ondelete="SET NULL"), nullable=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignSplit(enum.StrEnum):
    balanced = "balanced"  # as evenly as the agents chosen allow
    seller = "seller"  # to the agent who sold to the customer last, the rest balanced


class Campaign(Base):
    """A follow-up visit (回访) of many customers, worked by agents (R4)."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    script: Mapped[str] = mapped_column(Text, default="")
    # Who was picked: {"group_id": n} or {"filter": {...}}, as it was when started.
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    split: Mapped[str] = mapped_column(String(8), default=CampaignSplit.balanced)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open, closed
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CampaignCall(Base):
    """One customer on one agent's list, and the result the agent recorded."""

    __tablename__ = "campaign_call"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        Index("ix_campaign_call_agent", "agent_id", "done_at"),
        CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    reached: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    feedback: Mapped[str] = mapped_column(Text, default="")
    problem_kind: Mapped[str] = mapped_column(String(16), default="")  # "" when none
    problem: Mapped[str] = mapped_column(Text, default="")
    next_step: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True
    )
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MemberPrice(Base):
    """What a member of a level pays for a SKU on the shop's own site."""

    __tablename__ = "member_price"
    __table_args__ = (CheckConstraint("price_fen > 0", name="price"),)

    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    price_fen: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsKind(enum.StrEnum):
    earn = "earn"  # a paid order: pending points
    confirm = "confirm"  # the return window closed or receipt confirmed: pending → usable
    reverse = "reverse"  # a refund takes back what its order earned
    expire = "expire"  # usable points past their months
    spend = "spend"  # taken off an order
    restore = "restore"  # what was spent on an order that is refunded, given back
    adjust = "adjust"  # a supervisor's correction, with a reason


class PointsMove(Base):
    """One change of a customer's points: the ledger, never rewritten."""

    __tablename__ = "points_move"
    __table_args__ = (
        # Each document moves a customer's points of a kind once: a second import of the
        # same paid order or refund earns or reverses nothing more.
        UniqueConstraint("customer_id", "kind", "document"),
        Index("ix_points_move_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    document: Mapped[str] = mapped_column(String(48))  # "order:12", "refund:7", "expire:2026-12"
    pending: Mapped[int] = mapped_column(Integer, default=0)  # change of pending points
    usable: Mapped[int] = mapped_column(Integer, default=0)  # change of usable points
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True, index=True
    )
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # for confirm moves
    reason: Mapped[str] = mapped_column(String(200), default="")
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsBalance(Base):
    """A customer's points as the ledger sums them; written with each move."""

    __tablename__ = "points_balance"
    __table_args__ = (CheckConstraint("pending >= 0", name="pending"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    # May fall below zero only when a refund takes back points already spent: then
    # nothing more can be spent until it is earned back.
    usable: Mapped[int] = mapped_column(Integer, default=0)
