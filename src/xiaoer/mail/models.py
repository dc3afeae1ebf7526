"""A shop's mailboxes, and every mail that went in or out through them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class Mailbox(Base):
    """A shop's address: mail to it becomes conversations on its e-mail channel, and
    replies leave through its SMTP relay. Polled over IMAP when ``imap_host`` is set.

    The relay's and the IMAP server's passwords are kept as given (the servers ask for
    them, so a hash would not do) and never shown again after they are set.
    """

    __tablename__ = "mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254), unique=True)  # lower case
    display_name: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str] = mapped_column(String(16), default="presale")
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_user: Mapped[str] = mapped_column(String(255), default="")
    smtp_password: Mapped[str] = mapped_column(String(255), default="")
    smtp_starttls: Mapped[bool] = mapped_column(Boolean, default=True)
    imap_host: Mapped[str] = mapped_column(String(255), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_user: Mapped[str] = mapped_column(String(255), default="")
    imap_password: Mapped[str] = mapped_column(String(255), default="")
    imap_folder: Mapped[str] = mapped_column(String(128), default="INBOX")
    imap_ssl: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Direction(enum.StrEnum):
    inbound = "in"
    outbound = "out"


class MailStatus(enum.StrEnum):
    received = "received"  # inbound, stored
    queued = "queued"  # outbound, waiting for (another) try
    sent = "sent"
    failed = "failed"  # outbound, given up after every try


class MailRecord(Base):
    """One mail of a thread: its Message-ID, the conversation it belongs to, and for a
    reply of ours what is sent and how the sending went."""

    __tablename__ = "mail_message"
    __table_args__ = (
        UniqueConstraint("shop_id", "mail_id"),
        Index("ix_mail_message_topic", "shop_id", "peer", "topic", "created_at"),
        Index("ix_mail_message_conversation", "conversation_id", "id"),
        Index("ix_mail_message_status", "shop_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("message.id", ondelete="SET NULL"), nullable=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    direction: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16))
    mail_id: Mapped[str] = mapped_column(String(255))  # the Message-ID, without < >
    peer: Mapped[str] = mapped_column(String(254))  # the buyer's address
    reply_to: Mapped[str] = mapped_column(String(254), default="")  # inbound: where replies go
    subject: Mapped[str] = mapped_column(String(255), default="")
    topic: Mapped[str] = mapped_column(String(200), default="")  # the subject as matched
    in_reply_to: Mapped[str] = mapped_column(String(255), default="")
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    body: Mapped[str] = mapped_column(Text, default="")  # outbound: the text sent
    raw_path: Mapped[str] = mapped_column(String(255), default="")  # inbound: under the data dir
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
