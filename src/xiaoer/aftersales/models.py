"""After-sales tables: tickets (work orders) with their timelines and causes, refunds
(returns, exchanges and resends are refunds of a kind), buyers' reviews and the shop's
reviews of its buyers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.aftersales.refund_states import GoodsStatus, RefundStatus
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class Refund(Base):
    """A buyer's request for money back, goods exchanged or sent again, on one order,
    with the platform's two states (money, goods) and what moved them."""

    __tablename__ = "refund"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_refund_id"),
        Index("ix_refund_shop_status", "shop_id", "status"),
        Index("ix_refund_shop_approval", "shop_id", "approval"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    # The item (子订单) the refund is about; None for the whole order.
    order_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_item.id", ondelete="SET NULL"), nullable=True
    )
    # The seller centre's 退款编号 for a refund that came from there; None for ours.
    platform_refund_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default=RefundStatus.WAIT_SELLER_AGREE.value)
    goods: Mapped[str] = mapped_column(String(32), default=GoodsStatus.BUYER_NOT_RECEIVED.value)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")  # the buyer's, as given
    refusal: Mapped[str] = mapped_column(String(500), default="")  # the shop's, when refused
    return_carrier: Mapped[str] = mapped_column(String(32), default="")
    return_waybill: Mapped[str] = mapped_column(String(64), default="")
    # The platform's own deadline (超时时间), which runs whatever the shop does.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # An agreement above the agent's authority waits for a supervisor: asked, approved
    # or refused, by whom and why.
    approval: Mapped[str] = mapped_column(String(16), default="")
    asked_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    # When the buyer asked (退款的申请时间) and when the case ended (退款完结时间).
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Who the platform holds responsible (责任方), as it writes it.
    responsible: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # "onsale" (售中, before the order ended) or "aftersale" (售后); "" when unknown.
    phase: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # The platform's arbitration (客服介入状态), as it writes it.
    intervention: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The fingerprint of the report row last imported (see sellercentre.ingest.row_digest).
    import_digest: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketKind(enum.StrEnum):
    """What the case is about: money or goods back, a complaint, a review, a question."""

    refund = "refund"
    complaint = "complaint"
    review = "review"
    inquiry = "inquiry"


class TicketSource(enum.StrEnum):
    chat = "chat"
    phone = "phone"
    email = "email"
    refund_import = "refund_import"
    review_import = "review_import"
    hand = "hand"


class TicketStatus(enum.StrEnum):
    queued = "queued"  # waiting in the team's queue, nobody owns it
    taken = "taken"  # an owner works on it
    escalated = "escalated"  # with the supervisor
    closed = "closed"
    merged = "merged"  # a duplicate, folded into another ticket


OPEN_TICKET = (TicketStatus.queued.value, TicketStatus.taken.value, TicketStatus.escalated.value)


class Ticket(Base):
    """One after-sales case (工单): who owns it, by when, what it is about, how it ended."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_queue", "shop_id", "team", "status", "queued_at", "id"),
        Index("ix_ticket_owner", "shop_id", "owner_id", "status", "due_at"),
        Index("ix_ticket_shop_created", "shop_id", "created_at", "id"),
        Index("ix_ticket_shop_status_due", "shop_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.queued.value)
    team: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # 0 normal, 1 high, 2 urgent
    subject: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True, index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL"), nullable=True, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), nullable=True, index=True
    )
    refund_id: Mapped[int | None] = mapped_column(
        ForeignKey("refund.id", ondelete="SET NULL"), nullable=True, index=True
    )
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("review.id", ondelete="SET NULL"), nullable=True, index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalation: Mapped[str] = mapped_column(String(500), default="")  # the reason given
    cause_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_cause.id", ondelete="SET NULL"), nullable=True
    )
    outcome: Mapped[str] = mapped_column(String(32), default="")
    result: Mapped[str] = mapped_column(String(1000), default="")  # what was done, in words
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True
    )
    # Complaints: the five steps as they were done, a major complaint's flag and the
    # next reply promised to the buyer while unresolved.
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    next_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketLine(Base):
    """A line of a ticket's timeline: who did what, when and why; notes are internal."""

    __tablename__ = "ticket_line"
    __table_args__ = (Index("ix_ticket_line_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(32))
    # The line as a stored text (template and values), shown in the reader's language.
    what: Mapped[Any] = mapped_column(JSON)
    why: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketCause(Base):
    """A cause a closed case is filed under; the shop edits the list (S6). Whether it is
    about the goods' quality, and whether an agent caused it, decide the P3 deduction."""

    __tablename__ = "ticket_cause"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    about_quality: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_caused: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AftersalesProposal(Base):
    """What the supervisor proposes, for a month, to cut the after-sales cost (S6)."""

    __tablename__ = "aftersales_proposal"
    __table_args__ = (UniqueConstraint("shop_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    text: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SellerReview(Base):
    """The shop's own review of a finished trade's buyer (S5), as written on the platform."""

    __tablename__ = "seller_review"
    __table_args__ = (UniqueConstraint("order_id"), Index("ix_seller_review_shop", "shop_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"))
    rating: Mapped[str] = mapped_column(String(8), default="good")  # good, neutral, bad
    text: Mapped[str] = mapped_column(String(500))
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewRating(enum.StrEnum):
    """评价结果: 好评, 中评, 差评."""

    good = "good"
    neutral = "neutral"
    bad = "bad"


class Review(Base):
    """A buyer's review of one item of an order (子订单), as the platform's review
    report gives it: the rating, the words, the buyer's follow-up and the shop's reply."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id", "platform_sub_order_id"),
        Index("ix_review_shop_rating", "shop_id", "rating"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    # The platform's 子订单编号; "" when the report gives none (one review per order).
    platform_sub_order_id: Mapped[str] = mapped_column(String(32), default="")
    rating: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(String(500), default="")
    item_title: Mapped[str] = mapped_column(String(200), default="")
    buyer_nick: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    follow_up: Mapped[str] = mapped_column(String(500), default="")  # 追评内容
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply: Mapped[str] = mapped_column(String(500), default="")  # 解释内容, the shop's
    import_digest: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
