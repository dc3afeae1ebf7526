"""A buyer as known on one channel of one shop."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("shop_id", "channel", "buyer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # taobao, tmall, jd, own_site, phone
    buyer_id: Mapped[str] = mapped_column(String(64))  # the channel's own id for the buyer
    nick: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    gender: Mapped[str] = mapped_column(String(8), default="")
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
