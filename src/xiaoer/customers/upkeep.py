"""Keeping ``customer_stats`` fresh: a timer per shop that sums every person again
every hour, started with the server or the worker and by ``xiaoer customers refresh``.

Merges, undos and erasures refresh their own persons at once; the timer catches what
orders, refunds and reviews changed since.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Timer
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop

REFRESH = "customers.refresh"
REFRESH_EVERY = timedelta(hours=1)


def _subject(shop_id: int) -> str:
    return f"shop:{shop_id}"


async def do_schedule_refresh(
    session: AsyncSession, shop_id: int, *, now: datetime | None = None, at: datetime | None = None
) -> None:
    """One open refresh timer per shop: made when there is none, left alone when there
    is (a server started every few minutes must not push it back each time)."""
    moment = now or utcnow()
    open_one = await session.scalar(
        select(Timer.id).where(
            Timer.shop_id == shop_id,
            Timer.kind == REFRESH,
            Timer.subject == _subject(shop_id),
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
    )
    if open_one is None:
        await schedule_timer(
            session, shop_id=shop_id, kind=REFRESH, subject=_subject(shop_id),
            due_at=at or moment + REFRESH_EVERY, none_open=True,
        )  # fmt: skip


async def schedule_every_shop(db: Database, *, now: datetime | None = None) -> None:
    """Each shop's refresh timer and nightly greetings plan, for the processes that
    fire timers; an open one is left where it is."""
    from xiaoer.customers.greetings import DAILY, do_schedule_daily

    async with db.session() as session:
        for shop_id in list(await session.scalars(select(Shop.id).order_by(Shop.id))):
            await do_schedule_refresh(session, shop_id, now=now)
            nightly = await session.scalar(
                select(Timer.id).where(
                    Timer.shop_id == shop_id,
                    Timer.kind == DAILY,
                    Timer.fired_at.is_(None),
                    Timer.cancelled_at.is_(None),
                )
            )
            if nightly is None:
                await do_schedule_daily(session, shop_id, now=now)
        await session.commit()


async def refresh_shop(session: AsyncSession, shop_id: int, *, now: datetime | None = None) -> int:
    """Sum every person of the shop again; returns how many persons."""
    moment = now or utcnow()
    policy = await policy_on(session, shop_id)
    return await refresh(session, shop_id, policy, now=moment)


@timer_handler(REFRESH)
async def _refresh_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    await refresh_shop(session, timer.shop_id, now=now)
    await schedule_timer(
        session, shop_id=timer.shop_id, kind=REFRESH, subject=timer.subject,
        due_at=now + REFRESH_EVERY, none_open=True,
    )  # fmt: skip
