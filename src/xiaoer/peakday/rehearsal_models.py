"""A load rehearsal's record, kept for the real shop it rehearsed (peak day, point 6).

The rehearsal itself runs in a scratch shop that is removed afterwards; this row stays
with the real shop so the readiness checklist can say whether the last one held.
``scratch_code`` names the scratch shop while it exists: a rehearsal killed halfway
leaves its row ``running``, and the next one removes that shop by this code.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class RehearsalStatus(enum.StrEnum):
    running = "running"
    done = "done"
    failed = "failed"
    abandoned = "abandoned"  # killed halfway; its scratch shop removed by a later run


class RehearsalRun(Base):
    """One rehearsal: when, which peak hour of which forecast, how fast, the figures."""

    __tablename__ = "rehearsal_run"
    __table_args__ = (Index("ix_rehearsal_run_shop_started", "shop_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    status: Mapped[str] = mapped_column(String(16), default=RehearsalStatus.running.value)
    scratch_code: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)  # it stops by then at latest
    url: Mapped[str] = mapped_column(String(255))
    forecast_name: Mapped[str] = mapped_column(String(255))
    peak_start: Mapped[datetime] = mapped_column(UTCDateTime)  # the forecast's peak hour
    peak_sessions: Mapped[int] = mapped_column(Integer)
    speed: Mapped[float] = mapped_column(Float)
    buyers: Mapped[int] = mapped_column(Integer, default=0)
    agents: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(String(500), default="")
