"""The peak day's tables: forecasts of the sessions per quarter-hour and team, and
peak mode as the manager prepares it.

A forecast is made from the shop's own history and the manager's expectation for the
event, or imported from a workbook; its intervals hold the sessions expected with a
low and a high band. The staffing plan is not stored: it is computed from the
intervals, the handling times the forecast measured and the policy in force, so a
changed target or shrinkage shows at once.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class ForecastSource(enum.StrEnum):
    history = "history"  # the shop's own history times the manager's expectation
    workbook = "workbook"  # imported from a file


class Forecast(Base):
    """Sessions expected per quarter-hour of one day, for each team."""

    __tablename__ = "peak_forecast"
    __table_args__ = (Index("ix_peak_forecast_shop_day", "shop_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    day: Mapped[date] = mapped_column(Date)  # the day forecast, on the shop's clock
    source: Mapped[str] = mapped_column(String(16), default=ForecastSource.history.value)
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    spike: Mapped[float] = mapped_column(Float, default=1.0)
    spike_minutes: Mapped[int] = mapped_column(Integer, default=60)
    weeks: Mapped[int] = mapped_column(Integer, default=8)
    # Per team: {"aht_s", "handled", "patience_s", "abandoned"} as measured when made.
    measured: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ForecastInterval(Base):
    """One quarter-hour of one team in a forecast."""

    __tablename__ = "peak_forecast_interval"
    __table_args__ = (UniqueConstraint("forecast_id", "team", "slot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    forecast_id: Mapped[int] = mapped_column(
        ForeignKey("peak_forecast.id", ondelete="CASCADE"), index=True
    )
    team: Mapped[str] = mapped_column(String(16))
    slot: Mapped[int] = mapped_column(SmallInteger)  # 0–95: the quarter-hour of the day
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sessions: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    last_year: Mapped[float | None] = mapped_column(Float, nullable=True)


class PeakStatus(enum.StrEnum):
    scheduled = "scheduled"  # prepared, waiting for its start
    on = "on"
    off = "off"  # ended, on time or by hand
    cancelled = "cancelled"  # called off before it began


class PeakMode(Base):
    """Peak mode as the manager prepares it: when it is on, who works in which team,
    the cap of conversations per agent and whether refunds are held (D1, C6)."""

    __tablename__ = "peak_mode"
    __table_args__ = (Index("ix_peak_mode_shop_status", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=PeakStatus.scheduled.value)
    agent_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refund_blackout: Mapped[bool] = mapped_column(Boolean, default=False)
    # {staff id: team} while on; the teams they had before are kept in ``saved_teams``.
    teams: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    saved_teams: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    forecast_id: Mapped[int | None] = mapped_column(
        ForeignKey("peak_forecast.id", ondelete="SET NULL"), nullable=True
    )
    phrases_reviewed_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    phrases_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    switched_on_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    switched_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
