"""A shop: the tenant every other row belongs to."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.db import Base, UTCDateTime

# A load rehearsal's scratch shop (``peakday.rehearsal``) has a code with this prefix: it
# lives only while the rehearsal runs, and shop lists leave it out.
SCRATCH_PREFIX = "rehearsal-"


class Platform(enum.StrEnum):
    taobao = "taobao"
    tmall = "tmall"
    jd = "jd"
    own_site = "own_site"


class Shop(Base):
    __tablename__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    platform: Mapped[str] = mapped_column(String(16), default=Platform.taobao.value)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_ZONE)
    default_courier: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Peak mode (D1, C6), switched on and off by the peak-day package: while
    # ``peak_mode_id`` is set, routing gives an agent at most ``peak_agent_cap``
    # conversations (the policy's cap when none), the peak automatic replies and quick
    # phrases are used, and with ``peak_refund_blackout`` refunds wait for the shop's
    # agreement as on a blackout day of the policy.
    peak_mode_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    peak_agent_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    peak_refund_blackout: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
