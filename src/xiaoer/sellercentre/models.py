"""Imports of seller-centre exports started from the pages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class JobStatus(enum.StrEnum):
    running = "running"
    done = "done"
    failed = "failed"
    # Its process died (or stopped) during the import; it may be resumed.
    interrupted = "interrupted"


class ImportJob(Base):
    """An import started from the pages: its files, its progress and its report (O1)."""

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_shop", "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    started_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.running.value)
    # {"orders": name, "items": name} as uploaded, and where they were stored.
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    phase: Mapped[str] = mapped_column(String(16), default="")
    done_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The first rejected rows, each as ``core.texts.to_data`` keeps a message (a plain
    # string in jobs from before messages were kept translatable).
    messages: Mapped[list[str | dict[str, Any]]] = mapped_column(JSON, default=list)
    rejects: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")  # in English, for logs and the CLI
    # The same error as ``to_data`` keeps it, for the pages; null in older jobs.
    error_data: Mapped[str | dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Written by the process running the job every few seconds: a running job whose
    # heartbeat is old has lost its process.
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How many times the job was started: 1, and one more per resumption. A process
    # writes to the job only while it is still its run.
    runs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
