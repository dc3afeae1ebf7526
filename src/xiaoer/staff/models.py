"""Staff accounts: who works the shop, at what level, in which team, with which roles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class Level(enum.StrEnum):
    junior = "junior"
    intermediate = "intermediate"
    senior = "senior"
    account_manager = "account_manager"


class Team(enum.StrEnum):
    presale = "presale"
    aftersale = "aftersale"
    assist = "assist"


class Role(enum.StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    manager = "manager"
    auditor = "auditor"
    warehouse = "warehouse"
    admin = "admin"


# Who may import the platform's files (checked by ``sellercentre.imports.check_may_import``;
# the menu shows the import to the same roles).
IMPORTERS = (Role.supervisor.value, Role.manager.value)


class StaffAccount(Base):
    __tablename__ = "staff_account"
    __table_args__ = (UniqueConstraint("shop_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str] = mapped_column(String(16))  # 工号
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16), default=Level.junior.value)
    team: Mapped[str] = mapped_column(String(16), default=Team.presale.value)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hired_on: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


# Who leads the floor: they see every agent's work and decide on it.
LEADERS = (Role.supervisor.value, Role.manager.value)
# Who works at the chat: the agents and their leaders.
WORKBENCH_ROLES = (Role.agent.value, *LEADERS)


def is_leader(staff: StaffAccount) -> bool:
    return staff.has_role(*LEADERS)


class StaffSession(Base):
    """One signed-in browser. The cookie holds a random secret; this row, keyed by the
    secret's SHA-256, decides on every request whether it is still good."""

    __tablename__ = "staff_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")
