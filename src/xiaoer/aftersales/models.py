"""After-sales tables: refunds (returns, exchanges and resends are refunds of a kind)
and buyers' reviews."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
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
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
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
