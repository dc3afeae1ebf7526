"""The demo shop's targets (D3), set by its manager from the shop's own last month:
this month's trades (the policy's milestones and last month's count plus a tenth),
sales and conversion; today's trades; the pre-sales team's month; the coming 双十一
and the last one, with what it made: the targets page and the supervisor's floor show
real progress."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.db import Database
from xiaoer.core.policy_store import policy_on
from xiaoer.peakday.target_progress import shop_sales
from xiaoer.peakday.targets import TargetForm, do_add_target, midnight
from xiaoer.performance.kpi import month_bounds, report
from xiaoer.performance.models import KpiScope
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount, Team


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def _double_elevens(today: date) -> tuple[date, date]:
    """The last 双十一 that is over and the next to come (today's counts as to come)."""
    this_year = date(today.year, 11, 11)
    if today <= this_year:
        return date(today.year - 1, 11, 11), this_year
    return this_year, date(today.year + 1, 11, 11)


async def _last_month(
    session: AsyncSession, shop_id: int, today: date
) -> tuple[int, int, int, float | None]:
    """Last month's (days, trades, sales in fen, conversion) as the targets count them."""
    zone = await shop_zone(session, shop_id)
    first, last = month_bounds((today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
    trades, paid, refunded = await shop_sales(
        session, shop_id, None, midnight(first, zone), midnight(last + timedelta(days=1), zone)
    )
    figures = (await report(session, shop_id, first, last, KpiScope.shop)).subjects.get("")
    conversion = figures.rate("conversion") if figures is not None else None
    return (last - first).days + 1, trades, paid - refunded, conversion


async def seed_targets(db: Database, shop_id: int, manager_id: int, now: datetime) -> int:
    """Set the demo's targets as its manager; returns how many were set."""
    async with db.session() as session:
        manager = await session.get(StaffAccount, manager_id)
        assert manager is not None
        zone = await shop_zone(session, shop_id)
        today = now.astimezone(zone).date()
        days, trades, sales_fen, conversion = await _last_month(session, shop_id, today)
        milestones = sorted((await policy_on(session, shop_id, today)).targets.monthly_trades)
        month_goal = _round_up(trades * 1.1, 10)
        month_trades = "/".join(str(m) for m in sorted({*milestones, month_goal}))
        month = today.strftime("%Y-%m")
        last_eleven, eleven = _double_elevens(today)
        daily = trades / days
        forms = [
            TargetForm(period="month", month=month, trades=month_trades,
                       sales=str(_round_up(sales_fen * 1.1 / 100, 100)),
                       conversion=(f"{min(100.0, conversion * 100 + 2):.0f}"
                                   if conversion else "")),
            TargetForm(period="day", day=today.isoformat(),
                       trades=str(_round_up(daily * 1.2, 1))),
            TargetForm(period="month", month=month, team=Team.presale.value,
                       trades=str(_round_up(trades * 0.6, 10))),
            TargetForm(period="event", name=f"双十一 {eleven.year}",
                       starts=f"{eleven}T00:00", ends=f"{eleven + timedelta(days=1)}T00:00",
                       trades=f"{_round_up(daily * 5, 10)}/{_round_up(daily * 8, 10)}",
                       sales=str(_round_up(sales_fen / days * 8 / 100, 100))),
            TargetForm(period="event", name=f"双十一 {last_eleven.year}",
                       starts=f"{last_eleven}T00:00",
                       ends=f"{last_eleven + timedelta(days=1)}T00:00",
                       trades=f"{_round_up(daily * 3, 10)}/{_round_up(daily * 5, 10)}"),
        ]  # fmt: skip
        for form in forms:
            await do_add_target(session, manager, form, now=now)
        await session.commit()
    return len(forms)
