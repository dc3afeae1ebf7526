"""The staffing plan of a forecast laid against the roster (D1, C11).

For each team and quarter-hour: the agents the forecast needs to reach the policy's
service level within the first-response target (``peakday.staffing.plan_interval``,
with the team's measured handling time and, where buyers were seen to give up, their
patience), the agents the roster has on duty then, what those would give, and the gap.
A team whose history holds no handled conversation is planned with
``DEFAULT_AHT_S``, and the page says so.

The suggested roster covers the gaps with the policy's shift templates
(``attendance.shifts``), one agent at a time: each step adds the shift that removes
the most uncovered agent-quarter-hours, weighting the largest gaps first, until no gap
is left or the team has nobody more to put on. It names the team's agents who are not
on leave that day and not yet on that shift, and says how many more the team lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.hooks import FloorPanel
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.peakday.forecast import check_may_plan, intervals_of, measures_of
from xiaoer.peakday.history import SLOT_MINUTES, SLOTS, TeamMeasures, slot_start
from xiaoer.peakday.models import Forecast
from xiaoer.peakday.staffing import IntervalPlan, Options, Target, plan_interval, served_by
from xiaoer.performance.attendance import roster_between, shift_window
from xiaoer.performance.models import LeaveRequest, LeaveStatus, RosterEntry, RosterStatus
from xiaoer.shops.models import Shop
from xiaoer.staff.models import Role, StaffAccount, is_leader

DEFAULT_AHT_S = 300.0  # five minutes a chat, for a team without history
MAX_SUGGESTED = 1000  # agents one suggestion may add to one team
OFF_DUTY = (RosterStatus.absent.value, RosterStatus.on_leave.value)


@dataclass(frozen=True)
class Row:
    """One quarter-hour of one team."""

    team: str
    slot: int
    starts_at: datetime
    sessions: float
    low: float
    high: float
    last_year: float | None
    needed: IntervalPlan
    rostered: int
    served: IntervalPlan

    @property
    def gap(self) -> int | None:
        """Agents missing (negative: to spare); None when the load is out of reach."""
        if self.needed.agents is None:
            return None
        return self.needed.agents - self.rostered


@dataclass(frozen=True)
class TeamPlan:
    team: str
    aht_s: float
    aht_measured: bool
    patience_s: float | None
    rows: list[Row]

    @property
    def peak(self) -> Row | None:
        reachable = [r for r in self.rows if r.needed.agents is not None]
        if len(reachable) < len(self.rows):
            return next(r for r in self.rows if r.needed.agents is None)
        return max(reachable, key=lambda r: (r.needed.agents or 0, r.sessions), default=None)

    @property
    def short_intervals(self) -> int:
        return sum(1 for r in self.rows if r.gap is None or r.gap > 0)


@dataclass(frozen=True)
class Plan:
    forecast: Forecast
    target: Target
    options: Options
    teams: list[TeamPlan]


def target_of(policy: Policy) -> Target:
    return Target(
        level=policy.peakday.service_level,
        within_s=float(policy.reception.first_response_seconds),
    )


def options_of(policy: Policy, patience_s: float | None = None) -> Options:
    return Options(
        concurrency=policy.peakday.concurrency,
        shrinkage=policy.peakday.shrinkage,
        max_occupancy=policy.peakday.max_occupancy,
        patience_s=patience_s,
    )


async def _on_duty(
    session: AsyncSession, shop_id: int, day: date, zone: ZoneInfo
) -> dict[str, list[int]]:
    """Agents rostered per team and quarter-hour of ``day`` (shifts from the day before
    that run past midnight count too)."""
    entries = await roster_between(session, shop_id, day - timedelta(days=1), day)
    teams = dict(
        (
            await session.execute(
                select(StaffAccount.id, StaffAccount.team).where(StaffAccount.shop_id == shop_id)
            )
        ).all()
    )
    counts: dict[str, list[int]] = {}
    for entry in entries:
        if entry.status in OFF_DUTY:
            continue
        team = str(teams.get(entry.staff_id, ""))
        row = counts.setdefault(team, [0] * SLOTS)
        for slot in range(SLOTS):
            middle = slot_start(day, slot, zone) + timedelta(minutes=SLOT_MINUTES / 2)
            if entry.starts_at <= middle < entry.ends_at:
                row[slot] += 1
    return counts


async def plan_of(session: AsyncSession, staff: StaffAccount, forecast: Forecast) -> Plan:
    """The plan of a forecast of the reader's shop (leaders only)."""
    check_may_plan(staff)
    policy = await policy_on(session, forecast.shop_id, forecast.day)
    shop = await session.get(Shop, forecast.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    target = target_of(policy)
    measures = measures_of(forecast)
    rostered = await _on_duty(session, forecast.shop_id, forecast.day, zone)
    by_team: dict[str, list[Row]] = {}
    teams: list[TeamPlan] = []
    intervals = await intervals_of(session, forecast)
    for interval in intervals:
        by_team.setdefault(interval.team, [])
    for team in by_team:
        measured = measures.get(team, TeamMeasures(None, 0, None, 0))
        aht = measured.aht_s or DEFAULT_AHT_S
        options = options_of(policy, measured.patience_s)
        on_duty = rostered.get(team, [0] * SLOTS)
        rows = [
            Row(
                team=team,
                slot=i.slot,
                starts_at=i.starts_at,
                sessions=i.sessions,
                low=i.low,
                high=i.high,
                last_year=i.last_year,
                needed=plan_interval(i.sessions, aht, target, options),
                rostered=on_duty[i.slot],
                served=served_by(on_duty[i.slot], i.sessions, aht, target, options),
            )
            for i in intervals
            if i.team == team
        ]
        teams.append(TeamPlan(team, aht, measured.aht_s is not None, measured.patience_s, rows))
    return Plan(forecast, target, options_of(policy), teams)


# --- the suggested roster ---------------------------------------------------------


@dataclass
class ShiftSuggestion:
    shift: str
    starts_at: datetime
    ends_at: datetime
    count: int = 0
    agents: list[StaffAccount] = field(default_factory=list)


@dataclass
class TeamSuggestion:
    team: str
    shifts: list[ShiftSuggestion]
    lacking: int  # agents the team would need beyond those it has
    left_gaps: list[int]  # per quarter-hour: agents still missing after the suggestion


def cover(
    gaps: Sequence[int], windows: dict[str, tuple[int, int]], limit: int = MAX_SUGGESTED
) -> dict[str, int]:
    """How many agents to add on each shift (``windows``: its first and past-last
    quarter-hour) so that every gap is covered, greedily by the most covered need."""
    left = [max(0, g) for g in gaps]
    added = dict.fromkeys(windows, 0)
    for _ in range(limit):
        if not any(left):
            break

        def gain(name: str) -> tuple[int, int]:
            first, last = windows[name]
            covered = [left[s] for s in range(first, last) if left[s] > 0]
            return (len(covered), max(covered, default=0))

        best = max(windows, key=gain, default=None)
        if best is None or gain(best)[0] == 0:
            break
        added[best] += 1
        first, last = windows[best]
        for s in range(first, last):
            if left[s] > 0:
                left[s] -= 1
    return {name: count for name, count in added.items() if count}


def _slots_of(starts_at: datetime, ends_at: datetime, day: date, zone: ZoneInfo) -> tuple[int, int]:
    first = slot_start(day, 0, zone)
    begin = int((starts_at - first).total_seconds() // (SLOT_MINUTES * 60))
    end = int(-(-(ends_at - first).total_seconds() // (SLOT_MINUTES * 60)))
    return max(0, begin), min(SLOTS, end)


async def suggest_roster(
    session: AsyncSession, staff: StaffAccount, plan: Plan
) -> list[TeamSuggestion]:
    """Shifts to add so the roster covers the plan, with the agents to put on them."""
    check_may_plan(staff)
    forecast = plan.forecast
    day = forecast.day
    policy = await policy_on(session, forecast.shop_id, day)
    shop = await session.get(Shop, forecast.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    windows: dict[str, tuple[datetime, datetime]] = {
        name: shift_window(policy, shop.timezone, day, name) for name in policy.attendance.shifts
    }
    slots = {name: _slots_of(a, b, day, zone) for name, (a, b) in windows.items()}
    on_leave = set(
        await session.scalars(
            select(LeaveRequest.staff_id).where(
                LeaveRequest.shop_id == forecast.shop_id,
                LeaveRequest.status == LeaveStatus.approved.value,
                LeaveRequest.starts_at < slot_start(day + timedelta(days=1), 0, zone),
                LeaveRequest.ends_at > slot_start(day, 0, zone),
            )
        )
    )
    rostered = {
        (entry.staff_id, entry.shift)
        for entry in await session.scalars(
            select(RosterEntry).where(
                RosterEntry.shop_id == forecast.shop_id, RosterEntry.day == day
            )
        )
    }
    busy = {staff_id for staff_id, _ in rostered}
    suggestions = []
    for team in plan.teams:
        gaps = [r.gap if r.gap is not None else 0 for r in team.rows]
        if not team.rows or len(team.rows) != SLOTS:
            continue
        counts = cover(gaps, slots)
        agents = [
            a
            for a in await session.scalars(
                select(StaffAccount)
                .where(
                    StaffAccount.shop_id == forecast.shop_id,
                    StaffAccount.team == team.team,
                    StaffAccount.active.is_(True),
                )
                .order_by(StaffAccount.number)
            )
            if a.has_role(Role.agent.value) and a.id not in on_leave and a.id not in busy
        ]
        shifts = []
        lacking = 0
        free = list(agents)
        left = [max(0, g) for g in gaps]
        for name, count in sorted(counts.items(), key=lambda kv: windows[kv[0]][0]):
            start, end = windows[name]
            picked, free = free[:count], free[count:]
            lacking += count - len(picked)
            first, last = slots[name]
            for s in range(first, last):
                left[s] = max(0, left[s] - len(picked))
            shifts.append(ShiftSuggestion(name, start, end, count, picked))
        suggestions.append(TeamSuggestion(team.team, shifts, lacking, left))
    return suggestions


# --- the roster page's panel ------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A run of quarter-hours of one team short of agents."""

    team: str
    starts_at: datetime
    ends_at: datetime
    most: int | None  # the most agents missing in it; None: a load out of reach


def gaps_of(plan: Plan) -> list[Gap]:
    """The runs of quarter-hours short of agents, team by team."""
    found: list[Gap] = []
    for team in plan.teams:
        run: list[Row] = []
        for row in [*team.rows, None]:
            if row is not None and (row.gap is None or row.gap > 0):
                run.append(row)
                continue
            if run:
                gaps = [r.gap for r in run]
                most = None if None in gaps else max(g for g in gaps if g is not None)
                end = run[-1].starts_at + timedelta(minutes=SLOT_MINUTES)
                found.append(Gap(team.team, run[0].starts_at, end, most))
                run = []
    return found


async def roster_panel(session: AsyncSession, staff: Any, days: list[date]) -> FloorPanel | None:
    """The staffing gaps of the forecasts of the week the roster page shows (leaders)."""
    if not isinstance(staff, StaffAccount) or not is_leader(staff) or not days:
        return None
    forecasts = list(
        await session.scalars(
            select(Forecast)
            .where(
                Forecast.shop_id == staff.shop_id,
                Forecast.day >= min(days),
                Forecast.day <= max(days),
            )
            .order_by(Forecast.day, Forecast.id)
        )
    )
    if not forecasts:
        return None
    shown = [(f, gaps_of(await plan_of(session, staff, f))) for f in forecasts]
    return FloorPanel("peakday/roster_gaps.html", {"forecasts": shown})
