"""A buyer as known on one channel of one shop, with the personal data the shop keeps.

One person may be several buyers (a Taobao nick, a JD account, the shop site); the
customer file merges them by pointing each at the one that stands for the person
(``merged_into_id``), which keeps every order's and conversation's own buyer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("shop_id", "channel", "buyer_id"),
        CheckConstraint("birth_month IS NULL OR birth_month BETWEEN 1 AND 12", name="birth_month"),
        CheckConstraint("birth_day IS NULL OR birth_day BETWEEN 1 AND 31", name="birth_day"),
        # A buyer found by the exact phone or nick reads the customer list's search
        # indexes (``customers.models``), whose pattern operators also answer "=".
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # (The shop's buyers are found by the unique key, which begins with the shop.)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # taobao, tmall, jd, own_site, phone
    buyer_id: Mapped[str] = mapped_column(String(64))  # the channel's own id for the buyer
    nick: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    gender: Mapped[str] = mapped_column(String(8), default="")
    # The birthday as the buyer gave it: on the solar calendar, or on the lunar one
    # (month and day of the lunar year; ``birth_leap`` for a leap month). The year may
    # be unknown.
    birth_year: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    birth_month: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    birth_day: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    birth_lunar: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    birth_leap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Greetings stop at once when the buyer says so; the moment is kept.
    greetings_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The buyer that stands for this person in the customer file, when merged. No
    # foreign key: SQLite could only add one by rebuilding the table, and a person
    # whose row is gone stands for themselves again (``customers.people``).
    merged_into_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Erased on the buyer's request: personal data gone, orders' amounts and ledgers kept.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The buyers merged into one: only merged buyers are in it (a new buyer writes no entry).
Index(
    "ix_customer_merged_into_id",
    Customer.merged_into_id,
    postgresql_where=Customer.merged_into_id.isnot(None),
    sqlite_where=Customer.merged_into_id.isnot(None),
)
