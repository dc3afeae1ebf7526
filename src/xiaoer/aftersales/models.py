"""After-sales tables: refunds (returns, exchanges and resends are refunds of a kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
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
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
