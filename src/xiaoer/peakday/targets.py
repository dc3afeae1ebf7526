"""The shop's targets (D3) and their live progress.

The manager sets targets for a day, a month or a named event (双十一 from 11-11 00:00 to
11-12 00:00 on the shop's clock), for the whole shop or one team, each with one or more
measures and their milestones (the handbook's 50 / 400 / 600 trades a month).
Supervisors and managers read every target; an agent reads the shop's and their own
team's, without the sales in yuan (the KPI page keeps the shop's sales to its leaders
too). Every change is audited.

Progress counts as the KPIs do (``performance.kpi``, DOMAIN.md):

- ``trades``: orders paid within the period (``Order.paid_at``), the KPIs'
  ``paid_orders``; a team's are the orders its agents own, as the team's KPI row sums
  its agents';
- ``sales``: those orders' paid amount (``paid_fen``) less the refunds that paid money
  back within the period (what the refund rate counts), by the same owners;
- ``conversion``: paying buyers / inquiring buyers (询单→最终付款转化率) summed over the
  rolled-up KPI days the period touches: an event counts the whole shop days it
  touches, since the KPIs count buyers per shop day.

The pace is where a count should stand by now if it grew evenly over the period: the
goal times the share of the period gone by. A rate has no pace; it is held to its goal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, month_days, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.hooks import FloorPanel
from xiaoer.core.texts import say
from xiaoer.orders.models import Order
from xiaoer.peakday.target_models import Measure, ShopTarget, TargetGoal, TargetPeriod
from xiaoer.performance.kpi import ensure_rolled_up, report
from xiaoer.performance.models import KpiScope
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import Role, StaffAccount, Team, is_leader

# Who sets targets: the shop's manager; the supervisor reads them.
SETTERS = (Role.manager.value,)
# An event is a promotion of days, not a season: a longer period is a month's target.
MAX_EVENT_DAYS = 31
MAX_TRADES = 1_000_000_000
MAX_SALES_FEN = 10**13  # a hundred billion yuan
MAX_MILESTONES = 10
_SPLIT = re.compile(r"[\s,，/、;；]+")
MEASURE_NAMES = {
    Measure.trades: say("paid trades"),
    Measure.sales: say("sales in yuan"),
    Measure.conversion: say("inquiry conversion"),
}
TEAM_NAMES = {Team.presale.value: say("pre-sales"), Team.aftersale.value: say("after-sales"),
              Team.assist.value: say("assist")}  # fmt: skip


class TargetError(ValueError):
    """A target that cannot be set as given; the message says why."""


# --- Reading what the manager typed ----------------------------------------------


@dataclass(frozen=True)
class TargetForm:
    """A target as typed: the period's fields by kind, the team, and each measure's
    milestones (``50/400/600``; the last is the goal; an empty field sets none)."""

    period: str
    day: str = ""  # 2026-11-11
    month: str = ""  # 2026-11
    name: str = ""  # an event's
    starts: str = ""  # an event's, 2026-11-11T00:00 on the shop's clock
    ends: str = ""
    team: str = ""
    trades: str = ""
    sales: str = ""  # yuan
    conversion: str = ""  # percent


@dataclass(frozen=True)
class TargetSpec:
    """A target read and checked: what is stored."""

    period: TargetPeriod
    name: str
    team: str
    starts_at: datetime
    ends_at: datetime
    goals: dict[Measure, list[int]]

    def describe(self) -> dict[str, Any]:
        return {
            "period": self.period.value, "name": self.name, "team": self.team,
            "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
            "goals": {m.value: v for m, v in self.goals.items()},
        }  # fmt: skip


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise TargetError(say("day {value!r}: expected a day like 2026-11-11", value=text)) from exc
    return _in_range(day)


def _in_range(day: date) -> date:
    if not 2000 <= day.year <= 2100:
        raise TargetError(say("{day}: a target's period lies between 2000 and 2100", day=day))
    return day


def _moment(text: str, zone: Any, *, start: bool) -> datetime:
    raw = text.strip().replace(" ", "T")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise TargetError(
            say("the event's start {value!r}: expected a time like 2026-11-11 00:00", value=text)
            if start
            else say("the event's end {value!r}: expected a time like 2026-11-12 00:00", value=text)
        ) from exc
    _in_range(moment.date())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return as_utc(moment)


def _midnight(day: date, zone: Any) -> datetime:
    return as_utc(datetime.combine(day, time(), zone))


def _period(form: TargetForm, zone: Any) -> tuple[TargetPeriod, str, datetime, datetime]:
    try:
        period = TargetPeriod(form.period.strip())
    except ValueError as exc:
        raise TargetError(
            say("period {period!r}: expected day, month or event", period=form.period)
        ) from exc
    if period is TargetPeriod.day:
        day = _day(form.day)
        return period, "", _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    if period is TargetPeriod.month:
        days = month_days(form.month)
        if days is None:
            raise TargetError(
                say("month {month!r}: expected YYYY-MM, e.g. 2026-11", month=form.month)
            )
        first, last = _in_range(days[0]), days[1]
        return period, "", _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    name = form.name.strip()
    if not name:
        raise TargetError(say("an event needs a name, e.g. 双十一 2026"))
    if len(name) > 64:
        raise TargetError(say("an event's name is at most {n} characters", n=64))
    starts = _moment(form.starts, zone, start=True)
    ends = _moment(form.ends, zone, start=False)
    if ends <= starts:
        raise TargetError(
            say("the event ends ({end}) before it starts ({start})",
                end=form.ends.strip(), start=form.starts.strip())
        )  # fmt: skip
    if ends - starts > timedelta(days=MAX_EVENT_DAYS):
        raise TargetError(
            say("an event lasts at most {days} days; set a month's target for longer",
                days=MAX_EVENT_DAYS)
        )  # fmt: skip
    return period, name, starts, ends


def _numbers(measure: Measure, text: str) -> list[int]:
    """A measure's milestones in its unit, ascending; empty when nothing was typed."""
    raw = text.strip()
    if measure is Measure.sales:  # amounts are written ¥120,000: commas group digits
        raw = raw.replace(",", "").replace("，", "")
    parts = [p for p in _SPLIT.split(raw) if p]
    if len(parts) > MAX_MILESTONES:
        raise TargetError(
            say(
                "{measure}: at most {n} milestones",
                measure=MEASURE_NAMES[measure],
                n=MAX_MILESTONES,
            )
        )
    values = [_number(measure, part) for part in parts]
    if len(set(values)) != len(values):
        raise TargetError(
            say("{measure}: a milestone is repeated in {value!r}", measure=MEASURE_NAMES[measure],
                value=text.strip())
        )  # fmt: skip
    return sorted(values)


def _number(measure: Measure, part: str) -> int:
    raw = part
    for mark in ("元", "￥", "¥", "%", "％", "笔", "单"):
        raw = raw.replace(mark, "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise TargetError(
            say("{measure}: {value!r} is not a number", measure=MEASURE_NAMES[measure], value=part)
        )
    if value <= 0:
        raise TargetError(
            say(
                "{measure}: {value!r} must be above zero",
                measure=MEASURE_NAMES[measure],
                value=part,
            )
        )
    if measure is Measure.trades:
        if value != value.to_integral_value() or value > MAX_TRADES:
            raise TargetError(say("paid trades: {value!r} is not a whole number", value=part))
        return int(value)
    if value != value.quantize(Decimal("0.01")):
        raise TargetError(
            say("{measure}: {value!r} has more than two decimals", measure=MEASURE_NAMES[measure],
                value=part)
        )  # fmt: skip
    scaled = int(value * 100)  # fen, or basis points
    if measure is Measure.sales and scaled > MAX_SALES_FEN:
        raise TargetError(say("sales: {value!r} yuan is too large an amount", value=part))
    if measure is Measure.conversion and scaled > 10_000:
        raise TargetError(say("conversion: {value!r} is over 100%", value=part))
    return scaled


def read_target(form: TargetForm, zone: Any) -> TargetSpec:
    """Read a typed target, or say what is wrong with it."""
    period, name, starts, ends = _period(form, zone)
    team = form.team.strip()
    if team and team not in {t.value for t in Team}:
        raise TargetError(
            say("team {team!r}: expected presale, aftersale or assist", team=form.team)
        )
    goals: dict[Measure, list[int]] = {}
    for measure, text in ((Measure.trades, form.trades), (Measure.sales, form.sales),
                          (Measure.conversion, form.conversion)):  # fmt: skip
        values = _numbers(measure, text)
        if values:
            goals[measure] = values
    if not goals:
        raise TargetError(say("give at least one goal: trades, sales or conversion"))
    return TargetSpec(period, name, team, starts, ends, goals)


# --- Who may -----------------------------------------------------------------------


def check_may_set_targets(staff: StaffAccount) -> None:
    if not staff.has_role(*SETTERS):
        raise NotPermitted(say("only the shop's manager sets its targets"))


def may_read(staff: StaffAccount, target: ShopTarget) -> bool:
    """Leaders read every target of their shop; an agent the shop's and their team's."""
    if target.shop_id != staff.shop_id:
        return False
    return is_leader(staff) or target.team in ("", staff.team)


def shown_measures(staff: StaffAccount) -> tuple[Measure, ...]:
    """The measures a reader sees: the shop's sales in yuan are its leaders'."""
    if is_leader(staff):
        return tuple(Measure)
    return (Measure.trades, Measure.conversion)


async def target_of(session: AsyncSession, staff: StaffAccount, target_id: int) -> ShopTarget:
    """A target the reader may see; another shop's is as unknown as a missing one."""
    target = await session.get(ShopTarget, target_id)
    if target is None or target.shop_id != staff.shop_id:
        raise NotFound(say("no such target"))
    if not may_read(staff, target):
        raise NotPermitted(say("an agent reads only the shop's and their own team's targets"))
    return target


async def _check_unique(
    session: AsyncSession, shop_id: int, spec: TargetSpec, target_id: int | None
) -> None:
    query = select(ShopTarget.id).where(
        ShopTarget.shop_id == shop_id, ShopTarget.period == spec.period.value,
        ShopTarget.team == spec.team, ShopTarget.starts_at == spec.starts_at,
        ShopTarget.ends_at == spec.ends_at,
    )  # fmt: skip
    if target_id is not None:
        query = query.where(ShopTarget.id != target_id)
    if await session.scalar(query) is not None:
        raise TargetError(
            say("this period already has a target for the {team} team; change that one instead",
                team=TEAM_NAMES[spec.team])
            if spec.team
            else say("this period already has a target for the whole shop; change that one instead")
        )  # fmt: skip


async def check_target(
    session: AsyncSession, staff: StaffAccount, form: TargetForm, target_id: int | None = None
) -> TargetSpec:
    """Whether ``staff`` may set this target, and what it is once read."""
    check_may_set_targets(staff)
    assert staff.shop_id is not None
    spec = read_target(form, await shop_zone(session, staff.shop_id))
    await _check_unique(session, staff.shop_id, spec, target_id)
    return spec


# --- Changes -----------------------------------------------------------------------


async def _goals(session: AsyncSession, target_ids: list[int]) -> dict[int, list[TargetGoal]]:
    out: dict[int, list[TargetGoal]] = {i: [] for i in target_ids}
    if not target_ids:
        return out
    rows = await session.scalars(
        select(TargetGoal).where(TargetGoal.target_id.in_(target_ids)).order_by(TargetGoal.id)
    )
    for goal in rows:
        out[goal.target_id].append(goal)
    order = list(Measure)
    for goals in out.values():
        goals.sort(key=lambda g: order.index(Measure(g.measure)))
    return out


def _spec_of(target: ShopTarget, goals: list[TargetGoal]) -> dict[str, Any]:
    return TargetSpec(
        TargetPeriod(target.period), target.name, target.team, target.starts_at,
        target.ends_at, {Measure(g.measure): list(g.milestones) for g in goals},
    ).describe()  # fmt: skip


async def _write(
    session: AsyncSession, staff: StaffAccount, target: ShopTarget, spec: TargetSpec,
    action: str, before: dict[str, Any] | None, now: datetime,
) -> None:  # fmt: skip
    target.period, target.name, target.team = spec.period.value, spec.name, spec.team
    target.starts_at, target.ends_at, target.updated_at = spec.starts_at, spec.ends_at, now
    await session.flush()
    await session.execute(delete(TargetGoal).where(TargetGoal.target_id == target.id))
    session.add_all(
        TargetGoal(target_id=target.id, measure=m.value, goal=values[-1], milestones=values)
        for m, values in spec.goals.items()
    )
    await session.flush()
    assert staff.shop_id is not None
    await record_audit(
        session, shop_id=staff.shop_id, actor=staff.number or staff.username, entity="target",
        entity_id=str(target.id), action=action, before=before, after=spec.describe(), at=now,
    )  # fmt: skip
    await record_event(session, staff.shop_id, "target.changed",
                       {"target_id": target.id, "action": action}, at=now)  # fmt: skip


async def do_add_target(
    session: AsyncSession, staff: StaffAccount, form: TargetForm, *, now: datetime | None = None
) -> ShopTarget:
    spec = await check_target(session, staff, form)
    moment = now or utcnow()
    assert staff.shop_id is not None
    target = ShopTarget(shop_id=staff.shop_id, created_by_id=staff.id, created_at=moment,
                        period=spec.period.value, starts_at=spec.starts_at,
                        ends_at=spec.ends_at)  # fmt: skip
    session.add(target)
    await _write(session, staff, target, spec, "add", None, moment)
    return target


async def do_change_target(
    session: AsyncSession, staff: StaffAccount, target_id: int, form: TargetForm,
    *, now: datetime | None = None,
) -> ShopTarget:  # fmt: skip
    target = await target_of(session, staff, target_id)
    spec = await check_target(session, staff, form, target.id)
    before = _spec_of(target, (await _goals(session, [target.id]))[target.id])
    await _write(session, staff, target, spec, "change", before, now or utcnow())
    return target


async def do_remove_target(
    session: AsyncSession, staff: StaffAccount, target_id: int, *, now: datetime | None = None
) -> None:
    target = await target_of(session, staff, target_id)
    check_may_set_targets(staff)
    moment = now or utcnow()
    before = _spec_of(target, (await _goals(session, [target.id]))[target.id])
    await record_audit(
        session, shop_id=target.shop_id, actor=staff.number or staff.username, entity="target",
        entity_id=str(target.id), action="remove", before=before, at=moment,
    )  # fmt: skip
    await record_event(session, target.shop_id, "target.changed",
                       {"target_id": target.id, "action": "remove"}, at=moment)  # fmt: skip
    await session.delete(target)
    await session.flush()


def form_of(target: ShopTarget, goals: list[TargetGoal], zone: Any) -> TargetForm:
    """A stored target as the form shows it, to be changed."""
    start, end = target.starts_at.astimezone(zone), target.ends_at.astimezone(zone)
    typed = {g.measure: g.milestones for g in goals}

    def text(measure: Measure) -> str:
        values = typed.get(measure.value, [])
        if measure is Measure.trades:
            return "/".join(str(v) for v in values)
        return "/".join(_hundredths(v) for v in values)

    return TargetForm(
        period=target.period, day=start.date().isoformat(), month=start.strftime("%Y-%m"),
        name=target.name, starts=start.strftime("%Y-%m-%dT%H:%M"),
        ends=end.strftime("%Y-%m-%dT%H:%M"), team=target.team, trades=text(Measure.trades),
        sales=text(Measure.sales), conversion=text(Measure.conversion),
    )  # fmt: skip


def _hundredths(value: int) -> str:
    whole, part = divmod(value, 100)
    return f"{whole}" if part == 0 else f"{whole}.{part:02d}"


# --- Progress ----------------------------------------------------------------------

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
    elapsed: float  # the share of the period gone by, 0 to 1
    first_day: date
    last_day: date
    goals: list[GoalProgress]


def _elapsed(target: ShopTarget, now: datetime) -> float:
    whole = (target.ends_at - target.starts_at).total_seconds()
    gone = (now - target.starts_at).total_seconds()
    return max(0.0, min(1.0, gone / whole)) if whole > 0 else 1.0


async def _owners(session: AsyncSession, shop_id: int, team: str) -> list[int] | None:
    if not team:
        return None
    return list(
        await session.scalars(
            select(StaffAccount.id).where(StaffAccount.shop_id == shop_id,
                                          StaffAccount.team == team)
        )
    )  # fmt: skip


async def _sales(
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


def _days(target: ShopTarget, zone: Any) -> tuple[date, date]:
    first = target.starts_at.astimezone(zone).date()
    last = (target.ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    return first, last


async def roll_up_for(
    session: AsyncSession, shop_id: int, targets: list[ShopTarget], now: datetime
) -> None:
    """Count the KPI days a conversion goal reads that are missing or not yet final."""
    goals = await _goals(session, [t.id for t in targets])
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
    goals = await _goals(session, [t.id for t in targets])
    out = []
    for target in targets:
        status: Status = (
            "upcoming" if now < target.starts_at else "ended" if now >= target.ends_at
            else "running"
        )  # fmt: skip
        elapsed = _elapsed(target, now)
        first, last = _days(target, zone)
        owners = await _owners(session, shop_id, target.team)
        end = min(now, target.ends_at)
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
                        await _sales(session, shop_id, owners, target.starts_at, end)
                        if status != "upcoming" else (0, 0, 0)
                    )  # fmt: skip
                trades, paid_fen, refunded_fen = counted
                if measure is Measure.trades:
                    actual = trades
                else:
                    actual = paid_fen - refunded_fen
                    detail = {"paid_fen": paid_fen, "refunded_fen": refunded_fen}
                pace = round(goal.goal * elapsed)
            reached = [m for m in goal.milestones if actual is not None and actual >= m]
            rows.append(GoalProgress(
                goal.measure, goal.goal, list(goal.milestones), actual, pace, reached,
                _standing(actual, goal.goal, pace, status), detail,
            ))  # fmt: skip
        out.append(TargetProgress(target, status, elapsed, first, last, rows))
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


async def goals_of(session: AsyncSession, target: ShopTarget) -> list[TargetGoal]:
    return (await _goals(session, [target.id]))[target.id]


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
