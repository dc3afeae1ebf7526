"""The shop's targets (D3): what the manager sets.

The manager sets targets for a day, a month or a named event (双十一 from 11-11 00:00 to
11-12 00:00 on the shop's clock), for the whole shop or one team, each with one or more
measures and their milestones (the handbook's 50 / 400 / 600 trades a month).
Supervisors and managers read every target; an agent reads the shop's and their own
team's, without the sales in yuan (the KPI page keeps the shop's sales to its leaders
too). Every change is audited. How far each has come is ``target_progress``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, month_days, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.peakday.target_models import Measure, ShopTarget, TargetGoal, TargetPeriod
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


def midnight(day: date, zone: Any) -> datetime:
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
        return period, "", midnight(day, zone), midnight(day + timedelta(days=1), zone)
    if period is TargetPeriod.month:
        days = month_days(form.month)
        if days is None:
            raise TargetError(
                say("month {month!r}: expected YYYY-MM, e.g. 2026-11", month=form.month)
            )
        first, last = _in_range(days[0]), days[1]
        return period, "", midnight(first, zone), midnight(last + timedelta(days=1), zone)
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


async def goals_by_target(
    session: AsyncSession, target_ids: list[int]
) -> dict[int, list[TargetGoal]]:
    """Each target's goals, in the order of :class:`Measure`."""
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
    before = _spec_of(target, (await goals_by_target(session, [target.id]))[target.id])
    await _write(session, staff, target, spec, "change", before, now or utcnow())
    return target


async def do_remove_target(
    session: AsyncSession, staff: StaffAccount, target_id: int, *, now: datetime | None = None
) -> None:
    target = await target_of(session, staff, target_id)
    check_may_set_targets(staff)
    moment = now or utcnow()
    before = _spec_of(target, (await goals_by_target(session, [target.id]))[target.id])
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


async def goals_of(session: AsyncSession, target: ShopTarget) -> list[TargetGoal]:
    return (await goals_by_target(session, [target.id]))[target.id]
