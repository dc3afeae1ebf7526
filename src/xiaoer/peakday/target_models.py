"""The shop's targets (D3): a period (a day, a month, or a named event such as 双十一)
for the whole shop or one team, and the goals set for it, each a measure with its
milestones.

A period is kept as its two moments in UTC, from the first included to the first
excluded; a day or a month is its midnights on the shop's clock, an event whatever
the manager typed. Goals are whole numbers in the measure's unit: paid trades, sales
in fen, conversion in hundredths of a percent (basis points).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class TargetPeriod(enum.StrEnum):
    day = "day"
    month = "month"
    event = "event"


class Measure(enum.StrEnum):
    trades = "trades"  # paid orders (成交笔数)
    sales = "sales"  # paid less refunded, in fen (销售额)
    conversion = "conversion"  # inquiry→payment conversion, in basis points (询单转化率)


class ShopTarget(Base):
    """A period the shop (or one of its teams) has goals for."""

    __tablename__ = "shop_target"
    __table_args__ = (UniqueConstraint("shop_id", "period", "team", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64), default="")  # an event's name
    team: Mapped[str] = mapped_column(String(16), default="")  # "": the whole shop
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)  # excluded
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TargetGoal(Base):
    """One measure's goal for a target: ``goal`` is the last of its ``milestones``."""

    __tablename__ = "target_goal"
    __table_args__ = (UniqueConstraint("target_id", "measure"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("shop_target.id", ondelete="CASCADE"), index=True
    )
    measure: Mapped[str] = mapped_column(String(16))
    goal: Mapped[int] = mapped_column(BigInteger)
    milestones: Mapped[list[int]] = mapped_column(JSON, default=list)  # ascending, goal last
