"""Conversations with buyers and everything recorded around them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class ChannelKind(enum.StrEnum):
    widget = "widget"  # the shop's own site
    bridge = "bridge"  # another platform, through the HTTP API
    phone = "phone"  # calls logged by hand
    email = "email"


class Channel(Base):
    """Where buyers reach the shop; a bridge channel authenticates with its secret."""

    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresenceStatus(enum.StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class AgentPresence(Base):
    """Whether an agent takes conversations now, and when they last did anything."""

    __tablename__ = "agent_presence"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_account.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PresenceStatus.offline.value)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a workbench page of the agent was last seen open (any process): presence is
    # what the pages say, not what was last clicked.
    socket_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConversationStatus(enum.StrEnum):
    queued = "queued"  # waiting for an agent
    active = "active"  # with an agent
    closed = "closed"


class Conversation(Base):
    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_shop_status", "shop_id", "status", "queued_at"),
        Index("ix_conversation_agent_status", "agent_id", "status"),
        Index("ix_conversation_customer", "customer_id", "opened_at"),
        Index("ix_conversation_shop_opened", "shop_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL"), nullable=True
    )
    team: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.queued.value)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32), default="")
    unread: Mapped[int] = mapped_column(Integer, default=0)  # buyer messages the agent has not read
    buyer_messages: Mapped[int] = mapped_column(Integer, default=0)
    agent_messages: Mapped[int] = mapped_column(Integer, default=0)


class Sender(enum.StrEnum):
    buyer = "buyer"
    agent = "agent"
    auto = "auto"  # automatic replies: never counted as a human response
    system = "system"  # transfers, closing, queue notices


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("shop_id", "dedupe_key"),
        Index("ix_message_conversation", "conversation_id", "id"),
        Index("ix_message_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(8))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text)
    # "b<customer>:<client id>" or "a<staff>:<client id>": a resend is not stored twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(96), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResponseRound(Base):
    """A buyer message (or run of them) up to the next human reply: a KPI row (C3, P6)."""

    __tablename__ = "response_round"
    __table_args__ = (
        Index("ix_response_round_agent", "shop_id", "agent_id", "started_at"),
        Index("ix_response_round_started", "shop_id", "started_at"),
        Index("ix_response_round_open", "conversation_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    first: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    capped_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    breached: Mapped[bool] = mapped_column(Boolean, default=False)


class QuickPhrase(Base):
    """快捷短语: shop-wide (no owner) or an agent's own."""

    __tablename__ = "quick_phrase"
    __table_args__ = (Index("ix_quick_phrase_shop_owner", "shop_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="CASCADE"), nullable=True
    )
    group: Mapped[str] = mapped_column(String(32), default="")
    shortcut: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Prepared for peak mode (D1): offered only while the shop is in it, before the
    # others, and hiding an everyday phrase of the same shortcut.
    peak: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AutoReplyKind(enum.StrEnum):
    welcome = "welcome"
    keyword = "keyword"
    busy = "busy"
    offline = "offline"


class AutoReply(Base):
    __tablename__ = "auto_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Prepared for peak mode (D1): while the shop is in it, a kind's peak replies take
    # the place of its everyday ones (which answer when the kind has no peak reply).
    peak: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CallLog(Base):
    """客服电话记录: a phone call logged into the buyer's history (C1, C10)."""

    __tablename__ = "call_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresenceLog(Base):
    """Each change of an agent's presence: going online and offline clock in and out (P7)."""

    __tablename__ = "presence_log"
    __table_args__ = (Index("ix_presence_log_staff", "shop_id", "staff_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdleRecord(Base):
    """An agent online with buyers waiting and no activity: 空挂 (C7), for the KPIs."""

    __tablename__ = "idle_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_account.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    waiting_buyers: Mapped[int] = mapped_column(Integer)
