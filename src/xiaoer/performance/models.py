"""People and performance: violations (P4), daily KPI rows (P6), rosters and leave (P7),
payroll (P1–P3), exams (P5) and work logs (P8)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
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


class KpiScope(enum.StrEnum):
    shop = "shop"  # subject ""
    team = "team"  # subject: the team's name
    agent = "agent"  # subject: the agent's id


class KpiDay(Base):
    """One day's counts for the shop, a team or an agent, from which every KPI is figured.

    Rows are written by :func:`xiaoer.performance.kpi.rollup_day` from that day's
    rounds, conversations, messages, orders and credits; a period's figures are sums
    (peaks: maxima) of its days, so no report reads the messages themselves.
    """

    __tablename__ = "kpi_day"
    __table_args__ = (UniqueConstraint("shop_id", "scope", "subject", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(32), default="")
    inquiring_buyers: Mapped[int] = mapped_column(Integer, default=0)
    ordering_buyers: Mapped[int] = mapped_column(Integer, default=0)
    paying_buyers: Mapped[int] = mapped_column(Integer, default=0)  # of the inquiring ones
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    replied_conversations: Mapped[int] = mapped_column(Integer, default=0)
    unanswered_conversations: Mapped[int] = mapped_column(Integer, default=0)
    long_conversations: Mapped[int] = mapped_column(Integer, default=0)
    peak_concurrent: Mapped[int] = mapped_column(Integer, default=0)
    buyer_messages: Mapped[int] = mapped_column(Integer, default=0)
    agent_messages: Mapped[int] = mapped_column(Integer, default=0)
    first_rounds: Mapped[int] = mapped_column(Integer, default=0)
    first_response_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    response_seconds: Mapped[int] = mapped_column(BigInteger, default=0)  # capped
    fast_rounds: Mapped[int] = mapped_column(Integer, default=0)
    slow_rounds: Mapped[int] = mapped_column(Integer, default=0)
    unanswered_rounds: Mapped[int] = mapped_column(Integer, default=0)
    paid_orders: Mapped[int] = mapped_column(Integer, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_buyers: Mapped[int] = mapped_column(Integer, default=0)
    service_orders: Mapped[int] = mapped_column(Integer, default=0)
    service_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    service_buyers: Mapped[int] = mapped_column(Integer, default=0)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    reminders_recovered: Mapped[int] = mapped_column(Integer, default=0)
    notes_due: Mapped[int] = mapped_column(Integer, default=0)
    notes_on_time: Mapped[int] = mapped_column(Integer, default=0)
    # Items of the orders paid that day, and of the refunds that paid money back that
    # day (a partial refund: its share of the order's items, at least one): the refund
    # rate's counts.
    sold_items: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_items: Mapped[int] = mapped_column(BigInteger, default=0)
    # The rounds counted above by how soon they were answered: within 30 s, 30–60 s,
    # 60–120 s, 120–180 s, 180–300 s, 300–600 s, and later (the page's distribution).
    replies_30s: Mapped[int] = mapped_column(Integer, default=0)
    replies_60s: Mapped[int] = mapped_column(Integer, default=0)
    replies_120s: Mapped[int] = mapped_column(Integer, default=0)
    replies_180s: Mapped[int] = mapped_column(Integer, default=0)
    replies_300s: Mapped[int] = mapped_column(Integer, default=0)
    replies_600s: Mapped[int] = mapped_column(Integer, default=0)
    replies_later: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RosterStatus(enum.StrEnum):
    scheduled = "scheduled"  # the shift has not been judged yet
    present = "present"
    late = "late"
    absent = "absent"  # not online in the shift, no leave
    on_leave = "on_leave"


class RosterEntry(Base):
    """One agent on one shift of one day (P7), and how it went once judged."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        UniqueConstraint("shop_id", "staff_id", "day", "shift"),
        Index("ix_roster_day", "shop_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    shift: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=RosterStatus.scheduled.value)
    clock_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clock_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    late_minutes: Mapped[int] = mapped_column(Integer, default=0)
    online_minutes: Mapped[int] = mapped_column(Integer, default=0)
    leave_id: Mapped[int | None] = mapped_column(
        ForeignKey("leave_request.id", ondelete="SET NULL"), nullable=True
    )
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )


class LeaveStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    refused = "refused"
    cancelled = "cancelled"


class LeaveRequest(Base):
    """Time off asked by an agent and decided by the supervisor (P7)."""

    __tablename__ = "leave_request"
    __table_args__ = (Index("ix_leave_staff", "shop_id", "staff_id", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=LeaveStatus.pending.value)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdjustmentKind(enum.StrEnum):
    sale_deduction = "sale_deduction"  # a return or bad review: the sale leaves commission (P3)
    bonus = "bonus"  # an extra payment with its reason
    deduction = "deduction"  # money taken off with its reason
    team_score = "team_score"  # the team's score for the month, 0–100 (P2)


class PayAdjustment(Base):
    """What the supervisor adds to a month's pay that no event records."""

    __tablename__ = "pay_adjustment"
    __table_args__ = (Index("ix_pay_adjustment_month", "shop_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="CASCADE"), nullable=True
    )
    team: Mapped[str] = mapped_column(String(16), default="")  # for team_score
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # the score for team_score
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PayrollMonth(Base):
    """A month whose payroll the supervisor locked, with the lines as they were then."""

    __tablename__ = "payroll_month"
    __table_args__ = (UniqueConstraint("shop_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    locked_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExamResult(Base):
    """An exam an agent sat for promotion, as the supervisor recorded it (P5)."""

    __tablename__ = "exam_result"
    __table_args__ = (Index("ix_exam_staff", "shop_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    to_level: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    taken_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkLog(Base):
    """An agent's day: the problems met and how they were solved (P8)."""

    __tablename__ = "work_log"
    __table_args__ = (UniqueConstraint("shop_id", "staff_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    problems: Mapped[str] = mapped_column(Text, default="")
    solutions: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
