"""The assistant's tables: a shop's knowledge base and what agents did with suggestions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class KnowledgeEntry(Base):
    """One answer of the shop's knowledge base (A1, A2): for an intent, and for a
    bargaining buyer a type, with example questions and an answer template whose
    ``{variables}`` are filled from live shop data when it is suggested."""

    __tablename__ = "knowledge_entry"
    __table_args__ = (Index("ix_knowledge_entry_intent", "shop_id", "intent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    intent: Mapped[str] = mapped_column(String(32))
    bargain_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(64))
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuggestionFeedback(Base):
    """An agent picked, edited or rejected a suggestion: what learning folds back (A1)."""

    __tablename__ = "suggestion_feedback"
    __table_args__ = (Index("ix_suggestion_feedback_shop", "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_entry.id", ondelete="SET NULL"), nullable=True
    )
    buyer_text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(32))
    bargain_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # picked, edited, rejected
    sent_text: Mapped[str] = mapped_column(Text, default="")
    learned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApprovalStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    refused = "refused"


class ApprovalRequest(Base):
    """An agent asks the supervisor to let a message through that goes beyond their
    authority (A5) or promises what the shop cannot be sure of (A6)."""

    __tablename__ = "approval_request"
    __table_args__ = (Index("ix_approval_request_shop_status", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.pending.value)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShopClassifier(Base):
    """A shop's own classifier: the shipped examples plus what its agents accepted."""

    __tablename__ = "shop_classifier"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    examples: Mapped[int] = mapped_column(Integer)
    learned: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
