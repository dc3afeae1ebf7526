"""A shop's chat history for forecasts: conversations opened at set quarter-hours of
set days, handled for a set time, and buyers who left the queue."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.reception.models import Conversation

ZONE = ZoneInfo("Asia/Shanghai")
EVENT = date(2026, 11, 11)  # a Wednesday


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(ZoneInfo("UTC"))


async def buyer(session: AsyncSession, shop_id: int) -> int:
    customer = Customer(shop_id=shop_id, nick="history-buyer", channel="taobao", buyer_id="h1")
    session.add(customer)
    await session.flush()
    return customer.id


async def chats(
    session: AsyncSession,
    shop_id: int,
    customer_id: int,
    opened: datetime,
    count: int,
    *,
    team: str = "presale",
    handled_s: float = 240.0,
    waited_s: float = 5.0,
    left: int = 0,
) -> None:
    """``count`` conversations opened at ``opened``: handled for ``handled_s`` after a
    wait of ``waited_s``, and ``left`` more whose buyer left after ``waited_s``."""
    for n in range(count + left):
        taken = opened + timedelta(seconds=waited_s)
        gone = n >= count
        session.add(
            Conversation(
                shop_id=shop_id, customer_id=customer_id, team=team, status="closed",
                opened_at=opened, queued_at=opened,
                assigned_at=None if gone else taken,
                closed_at=taken if gone else taken + timedelta(seconds=handled_s),
                last_message_at=opened,
            )
        )  # fmt: skip
    await session.flush()
