"""The tables of D2: each activity's rules, and the quiz attempts of the agents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class ActivityRules(Base):
    """The rules of one promotion as data (see :mod:`xiaoer.peakday.activities`), kept
    beside the catalogue's row so that the catalogue needs no change of its table."""

    __tablename__ = "activity_rules"

    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotion.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Bumped on every change of the rules or the dates: a quiz taken before covers it no more.
    version: Mapped[int] = mapped_column(Integer, default=1)
    ended_early_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuizAttempt(Base):
    """One agent's answers to one quiz about the shop's activities, scored."""

    __tablename__ = "activity_quiz_attempt"
    __table_args__ = (Index("ix_activity_quiz_attempt_staff", "shop_id", "staff_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "promotion id:version" of every activity the quiz asked about
    covers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"promotion_id", "activity", "question", "options", "correct", "given"}]
    answers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    score: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    missed: Mapped[list[str]] = mapped_column(JSON, default=list)  # activity names
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
