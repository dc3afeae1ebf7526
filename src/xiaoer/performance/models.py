"""Violations of the handbook's rules, each with its fine and its evidence (P4)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class ViolationStatus(enum.StrEnum):
    recorded = "recorded"
    appealed = "appealed"  # the agent disagrees; the supervisor decides
    upheld = "upheld"  # the appeal was refused: the fine stands
    withdrawn = "withdrawn"  # the appeal was granted, or the supervisor took it back


class ViolationSource(enum.StrEnum):
    detected = "detected"  # from the event stream
    supervisor = "supervisor"  # added by a supervisor


class Violation(Base):
    """One breach by one agent: the rule, the fine of the policy version in force, why."""

    __tablename__ = "violation"
    __table_args__ = (
        UniqueConstraint("shop_id", "event_seq"),
        Index("ix_violation_agent", "shop_id", "agent_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))  # the policy's fine key, e.g. note_late_or_wrong
    requirement: Mapped[str] = mapped_column(String(16), default="")  # e.g. O3
    amount_fen: Mapped[int] = mapped_column(Integer)
    policy_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_version.id", ondelete="SET NULL"), nullable=True
    )
    source: Mapped[str] = mapped_column(String(16))
    event_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL"), nullable=True
    )
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=ViolationStatus.recorded.value)
    appeal: Mapped[str] = mapped_column(Text, default="")
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
