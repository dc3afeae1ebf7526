"""How far each of the shop's targets has come (D3), counted as the KPIs count
(``performance.kpi``, DOMAIN.md):

- ``trades``: orders paid within the period (``Order.paid_at``), the KPIs'
  ``paid_orders``; a team's are the orders its agents own, as the team's KPI row sums
  its agents';
- ``sales``: those orders' paid amount (``paid_fen``) less the refunds that paid money
  back within the period (what the refund rate counts), by the same owners;
- ``conversion``: paying buyers / inquiring buyers (询单→最终付款转化率) summed over the
  rolled-up KPI days the period touches: an event counts the whole shop days it
  touches, since the KPIs count buyers per shop day.

The pace is where a count should stand by now: the goal times the share of the
period's expected trade gone by. A shop sells unevenly over the day (the handbook's
peak hours), so each hour of the period weighs as much as the shop's paid orders in
that hour of the day over the four weeks before the period began (plus one, so that a
quiet hour still counts); with fewer than :data:`MIN_HISTORY_ORDERS` such orders the
hours weigh alike. A rate has no pace; it is held to its goal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.core.hooks import FloorPanel
from xiaoer.orders.models import Order
from xiaoer.peakday.target_models import Measure, ShopTarget
from xiaoer.peakday.targets import goals_by_target
from xiaoer.performance.kpi import ensure_rolled_up, report
from xiaoer.performance.models import KpiScope
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount, is_leader

HISTORY_DAYS = 28
MIN_HISTORY_ORDERS = 50
_HOUR = timedelta(hours=1)

Status = Literal["upcoming", "running", "ended"]
Standing = Literal["reached", "ahead", "behind", "waiting"]


@dataclass(frozen=True)
class GoalProgress:
    """One measure of a target: its figure so far against its goal and pace."""

    measure: str
    goal: int
    milestones: list[int]
    actual: int | None  # None: nothing counted yet (a rate with no inquiries)
    pace: int | None  # where the figure should be by now; a rate has none
    reached: list[int]
    standing: Standing
    detail: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """How much of the goal is done, 0 to 1 (for the bar)."""
        return min(1.0, (self.actual or 0) / self.goal) if self.goal else 0.0


@dataclass(frozen=True)
class TargetProgress:
    target: ShopTarget
    status: Status
    elapsed: float  # the share of the period's time gone by, 0 to 1
    expected: float  # the share of its expected trade gone by: the pace's
    first_day: date
    last_day: date
    goals: list[GoalProgress]


def elapsed(start: datetime, end: datetime, now: datetime) -> float:
    whole = (end - start).total_seconds()
    gone = (now - start).total_seconds()
    return max(0.0, min(1.0, gone / whole)) if whole > 0 else 1.0


def _epoch_hour(session: AsyncSession, column: Any) -> Any:
    """The whole hours since 1970 of a stored UTC time, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), Integer)
    return cast(func.floor((func.julianday(column) - 2440587.5) * 24), Integer)


async def hour_profile(
    session: AsyncSession, shop_id: int, before: datetime, zone: ZoneInfo
) -> list[int] | None:
    """Paid orders per hour of the shop's day over the four weeks before ``before``,
    each plus one; None when too few were paid to tell a shape."""
    hour = _epoch_hour(session, Order.paid_at)
    rows = await session.execute(
        select(hour, func.count())
        .where(Order.shop_id == shop_id, Order.paid_at >= before - timedelta(days=HISTORY_DAYS),
               Order.paid_at < before)
        .group_by(hour)
    )  # fmt: skip
    counts = [1] * 24
    paid = 0
    for epoch_hour, count in rows.all():
        local = datetime.fromtimestamp(int(epoch_hour) * 3600, zone)
        counts[local.hour] += int(count)
        paid += int(count)
    return counts if paid >= MIN_HISTORY_ORDERS else None


def expected_share(
    start: datetime, end: datetime, now: datetime, zone: ZoneInfo, profile: list[int] | None
) -> float:
    """The share of a period's expected trade that falls before ``now``: each stretch
    of it within one hour weighs that hour of the day's ``profile`` per hour."""
    if profile is None or now <= start or now >= end:
        return elapsed(start, end, now)
    total = gone = 0.0
    moment = start
    while moment < end:
        following = min(end, datetime.fromtimestamp((moment.timestamp() // 3600 + 1) * 3600,
                                                     moment.tzinfo))  # fmt: skip
        weight = profile[moment.astimezone(zone).hour] * ((following - moment) / _HOUR)
        total += weight
        if now >= following:
            gone += weight
        elif now > moment:
            gone += weight * ((now - moment) / (following - moment))
        moment = following
    return gone / total if total else elapsed(start, end, now)


async def _owners(session: AsyncSession, shop_id: int, team: str) -> list[int] | None:
    if not team:
        return None
    return list(
        await session.scalars(
            select(StaffAccount.id).where(StaffAccount.shop_id == shop_id,
                                          StaffAccount.team == team)
        )
    )  # fmt: skip


async def shop_sales(
    session: AsyncSession, shop_id: int, owners: list[int] | None, start: datetime,
    end: datetime,
) -> tuple[int, int, int]:  # fmt: skip
    """(paid orders, their paid fen, fen refunded) of the owners' orders in the window."""
    paid = select(func.count(Order.id), func.coalesce(func.sum(Order.paid_fen), 0)).where(
        Order.shop_id == shop_id, Order.paid_at >= start, Order.paid_at < end
    )
    refunded = (
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.shop_id == shop_id, Refund.status == RefundStatus.SUCCESS.value,
               Refund.kind.in_([k.value for k in MONEY_BACK]),
               Refund.finished_at >= start, Refund.finished_at < end)
    )  # fmt: skip
    if owners is not None:
        paid = paid.where(Order.owner_id.in_(owners))
        refunded = refunded.where(Order.owner_id.in_(owners))
    count, fen = (await session.execute(paid)).one()
    back = await session.scalar(refunded)
    return int(count), int(fen), int(back or 0)


def _standing(actual: int | None, goal: int, pace: int | None, status: Status) -> Standing:
    if actual is not None and actual >= goal:
        return "reached"
    if status == "upcoming" or actual is None:
        return "waiting"
    if pace is None:
        return "behind"
    return "ahead" if actual >= pace else "behind"


def _days(target: ShopTarget, zone: ZoneInfo) -> tuple[date, date]:
    first = target.starts_at.astimezone(zone).date()
    last = (target.ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    return first, last


async def roll_up_for(
    session: AsyncSession, shop_id: int, targets: list[ShopTarget], now: datetime
) -> None:
    """Count the KPI days a conversion goal reads that are missing or not yet final."""
    goals = await goals_by_target(session, [t.id for t in targets])
    zone = await shop_zone(session, shop_id)
    for target in targets:
        if target.starts_at > now:
            continue
        if any(g.measure == Measure.conversion.value for g in goals[target.id]):
            first, last = _days(target, zone)
            await ensure_rolled_up(session, shop_id, first, last, now=now)


async def progress(
    session: AsyncSession, shop_id: int, targets: list[ShopTarget], now: datetime,
    measures: tuple[Measure, ...] = tuple(Measure),
) -> list[TargetProgress]:  # fmt: skip
    """Each target's figures so far, from what is stored (see :func:`roll_up_for`)."""
    zone = await shop_zone(session, shop_id)
    goals = await goals_by_target(session, [t.id for t in targets])
    profiles: dict[datetime, list[int] | None] = {}
    out = []
    for target in targets:
        start, end = target.starts_at, target.ends_at
        status: Status = "upcoming" if now < start else "ended" if now >= end else "running"
        if start not in profiles:
            profiles[start] = await hour_profile(session, shop_id, start, zone)
        expected = expected_share(start, end, now, zone, profiles[start])
        first, last = _days(target, zone)
        owners = await _owners(session, shop_id, target.team)
        counted: tuple[int, int, int] | None = None
        rows: list[GoalProgress] = []
        for goal in goals[target.id]:
            measure = Measure(goal.measure)
            if measure not in measures:
                continue
            detail: dict[str, int] = {}
            actual: int | None
            pace: int | None = None
            if measure is Measure.conversion:
                actual, detail = await _conversion(session, shop_id, target, first, last, now)
            else:
                if counted is None:
                    counted = (
                        await shop_sales(session, shop_id, owners, start, min(now, end))
                        if status != "upcoming" else (0, 0, 0)
                    )  # fmt: skip
                trades, paid_fen, refunded_fen = counted
                if measure is Measure.trades:
                    actual = trades
                else:
                    actual = paid_fen - refunded_fen
                    detail = {"paid_fen": paid_fen, "refunded_fen": refunded_fen}
                pace = round(goal.goal * expected)
            reached = [m for m in goal.milestones if actual is not None and actual >= m]
            rows.append(GoalProgress(
                goal.measure, goal.goal, list(goal.milestones), actual, pace, reached,
                _standing(actual, goal.goal, pace, status), detail,
            ))  # fmt: skip
        out.append(TargetProgress(target, status, elapsed(start, end, now), expected, first,
                                  last, rows))  # fmt: skip
    return out


async def _conversion(
    session: AsyncSession, shop_id: int, target: ShopTarget, first: date, last: date,
    now: datetime,
) -> tuple[int | None, dict[str, int]]:  # fmt: skip
    """The KPIs' inquiry→payment conversion over the target's days, in basis points."""
    if now < target.starts_at:
        return None, {}
    scope = KpiScope.team if target.team else KpiScope.shop
    found = await report(session, shop_id, first, last, scope, [target.team])
    figures = found.subjects.get(target.team)
    if figures is None:
        return None, {}
    asked, paid = figures.counts["inquiring_buyers"], figures.counts["paying_buyers"]
    detail = {"inquiring_buyers": asked, "paying_buyers": paid}
    return (round(paid * 10_000 / asked) if asked else None), detail


# --- Lists -------------------------------------------------------------------------


async def targets_for(
    session: AsyncSession, staff: StaffAccount, *, now: datetime, ended_days: int | None = None
) -> list[ShopTarget]:
    """The targets a reader sees, latest period first; with ``ended_days``, only those
    running, to come, or ended within that many days."""
    query = select(ShopTarget).where(ShopTarget.shop_id == staff.shop_id)
    if not is_leader(staff):
        query = query.where(ShopTarget.team.in_(("", staff.team)))
    if ended_days is not None:
        query = query.where(ShopTarget.ends_at > now - timedelta(days=ended_days))
    query = query.order_by(ShopTarget.starts_at.desc(), ShopTarget.team, ShopTarget.id)
    return list(await session.scalars(query.limit(200)))


async def running_targets(session: AsyncSession, shop_id: int, now: datetime) -> list[ShopTarget]:
    """Every target whose period holds ``now``: what the floor shows."""
    rows = await session.scalars(
        select(ShopTarget)
        .where(ShopTarget.shop_id == shop_id, ShopTarget.starts_at <= now,
               ShopTarget.ends_at > now)
        .order_by(ShopTarget.ends_at, ShopTarget.team, ShopTarget.id)
    )  # fmt: skip
    return list(rows)


async def floor_panel(session: AsyncSession, shop_id: int, now: datetime) -> FloorPanel | None:
    """The supervisor's floor (``core.hooks.floor_panels``): the running targets'
    progress, refreshed with the floor."""
    targets = await running_targets(session, shop_id, now)
    await roll_up_for(session, shop_id, targets, now)
    rows = await progress(session, shop_id, targets, now)
    return FloorPanel("peakday/targets_floor.html", {"progress": rows})
