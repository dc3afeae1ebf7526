"""Tables every capability shares: events, timers, policy versions, sign-in, audit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class EventCounter(Base):
    """The last number handed out per shop (topic ``""``) and per topic of a shop.

    The shop-wide row's lock, held until commit, orders a shop's commits.
    """

    __tablename__ = "event_counter"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(Base):
    """One state change, numbered per shop without gaps, readable "after N".

    An event may belong to a topic (a buyer's conversations, say); it is then
    also numbered without gaps within the topic, so that a follower of one topic
    can tell a missed event from one of another topic.
    """

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_topic", "shop_id", "topic", "topic_seq"),)

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(String(64), default="")
    topic_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Timer(Base):
    """A deadline of the handbook: fires once at ``due_at`` unless cancelled."""

    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_due", "fired_at", "cancelled_at", "due_at"),
        Index("ix_timer_subject", "shop_id", "kind", "subject"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PolicyVersion(Base):
    """A shop's handbook numbers as applied, in force from ``effective_from``."""

    __tablename__ = "policy_version"
    __table_args__ = (Index("ix_policy_version_shop_from", "shop_id", "effective_from"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    effective_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Failed sign-ins counted per account name and client address (``*``: all addresses).

    One row per key, changed by one conditional upsert, so concurrent attempts cannot
    all read "no failures yet" before any of them writes.
    """

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed what, when and why: orders, notes, payroll lines, accounts."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_subject", "shop_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
