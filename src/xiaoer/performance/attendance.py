"""Attendance (P7, C11): the duty roster, leave, how each shift went, peak coverage.

A supervisor puts agents on the policy's named shifts (``[attendance] shifts``, in
the shop's time zone); each roster entry gets a timer at the shift's end that judges
it from the agent's presence log (:class:`~xiaoer.reception.models.PresenceLog`):

- an approved leave overlapping the shift: ``on_leave``;
- never online during the shift: ``absent``, a ``violation.absent`` event (P4);
- online only after the start: ``late`` by whole minutes; the first
  ``late_free_per_month`` lateness of at most ``late_free_minutes`` in a calendar
  month (shop time) are free, every other one is a ``violation.late`` event;
- otherwise ``present``.

Judging also looks for stretches of ``away`` lasting two hours or more that overlap
the shift (online with nobody attending, P4 C7): each stretch is reported once,
however many shifts it overlaps; one still running is checked again by a timer
when it reaches two hours.

Violations are events on the ``violation`` topic, turned into rows by
:func:`xiaoer.performance.violations.detect_violations` with the fine in force.
Approving a leave after an absence was judged turns the shift to ``on_leave`` and
withdraws the absence's violation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, from_local, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import cancel_timer, schedule_timer, timer_handler
from xiaoer.performance.models import (
    LeaveRequest,
    LeaveStatus,
    RosterEntry,
    RosterStatus,
    Violation,
    ViolationStatus,
)
from xiaoer.performance.violations import detect_violations
from xiaoer.reception.models import PresenceLog, PresenceStatus
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader

JUDGE = "roster.judge"  # timer at a shift's end: judge the roster entry
UNATTENDED = "attendance.unattended"  # timer (and marker) per away stretch: report it once
TOPIC = "violation"
UNATTENDED_AFTER = timedelta(hours=2)
MAX_REASON = 1000
MAX_LEAVE_DAYS = 92

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class AttendanceError(ValueError):
    """A roster or leave change that is not allowed; the message says why.

    ``status`` is the HTTP status a page answers it with.
    """

    status = 400


class AttendanceNotFound(AttendanceError, NotFound):
    status = 404


class AttendanceConflict(AttendanceError):
    status = 409


class AttendanceForbidden(AttendanceError, NotPermitted):
    status = 403


# --- time --------------------------------------------------------------------


async def zone_name(session: AsyncSession, shop_id: int) -> str:
    """The shop's time zone by name, as :func:`xiaoer.core.clock.from_local` takes it."""
    return (await shop_zone(session, shop_id)).key


def _minutes_of_day(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    return hours * 60 + minutes


def span_window(span: str, day: date, zone: str) -> tuple[datetime, datetime]:
    """A policy span (``"15:30-24:00"``) on a shop day, as UTC start and end.

    An end at 24:00, or at or before the start, falls on the next day.
    """
    first, last = span.split("-")
    start, end = _minutes_of_day(first), _minutes_of_day(last)
    if end <= start:
        end += 24 * 60
    midnight = datetime.combine(day, time())
    return (
        from_local(midnight + timedelta(minutes=start), zone),
        from_local(midnight + timedelta(minutes=end), zone),
    )


def shift_window(policy: Policy, zone: str, day: date, shift: str) -> tuple[datetime, datetime]:
    """When a named shift of the policy starts and ends on a shop day, in UTC."""
    span = policy.attendance.shifts.get(shift)
    if span is None:
        if not policy.attendance.shifts:
            raise AttendanceError(
                say("the policy has no shift {shift!r}; choose one of: none", shift=shift)
            )
        names = ", ".join(policy.attendance.shifts)
        raise AttendanceError(
            say(
                "the policy has no shift {shift!r}; choose one of: {shifts}",
                shift=shift,
                shifts=names,
            )
        )
    return span_window(span, day, zone)


def week_of(day: date) -> list[date]:
    """The seven days (Monday first) of the week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=n) for n in range(7)]


def parse_month(month: str) -> date:
    """``"2026-03"`` → the first day of that month."""
    match = _MONTH.match(month.strip())
    # A month's end is the next month's first day: 9999-12 has none a date can hold.
    if match is None or not 1 <= int(match.group(2)) <= 12 or not 1 <= int(match.group(1)) < 9999:
        raise AttendanceError(say("month {month!r}: expected YYYY-MM, e.g. 2026-03", month=month))
    return date(int(match.group(1)), int(match.group(2)), 1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


# --- the roster ----------------------------------------------------------------


def _check_leader(by: StaffAccount, shop_id: int, refusal: Text) -> None:
    if by.shop_id != shop_id or not by.has_role(*LEADERS):
        raise AttendanceForbidden(refusal)


async def _agent(session: AsyncSession, shop_id: int, staff_id: int) -> StaffAccount:
    staff = await session.get(StaffAccount, staff_id)
    if staff is None or staff.shop_id != shop_id:
        raise AttendanceNotFound(say("no such staff member in this shop"))
    if not staff.active or not staff.has_role("agent"):
        raise AttendanceError(
            say("{name} is not an active agent; only agents are rostered", name=staff.name)
        )
    return staff


async def do_set_roster(
    session: AsyncSession,
    shop_id: int,
    staff_id: int,
    day: date,
    shift: str,
    by: StaffAccount,
) -> RosterEntry:
    """Put an agent on a named shift of the policy on a shop day; judged at its end."""
    _check_leader(by, shop_id, say("only a supervisor or a manager of the shop makes the roster"))
    staff = await _agent(session, shop_id, staff_id)
    policy = await policy_on(session, shop_id, day)
    starts_at, ends_at = shift_window(policy, await zone_name(session, shop_id), day, shift)
    duplicate = AttendanceConflict(_already_on(staff.name, shift, day.isoformat()))
    known = await session.scalar(
        select(RosterEntry.id).where(
            RosterEntry.shop_id == shop_id,
            RosterEntry.staff_id == staff_id,
            RosterEntry.day == day,
            RosterEntry.shift == shift,
        )
    )
    if known is not None:
        raise duplicate
    entry = RosterEntry(
        shop_id=shop_id,
        staff_id=staff_id,
        day=day,
        shift=shift,
        starts_at=starts_at,
        ends_at=ends_at,
        status=RosterStatus.scheduled.value,
        created_by=by.id,
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError:  # added by someone else just now
        raise duplicate from None
    await schedule_timer(
        session,
        shop_id=shop_id,
        kind=JUDGE,
        subject=f"roster:{entry.id}",
        due_at=ends_at,
        payload={"entry_id": entry.id},
        none_open=True,
    )
    await _roster_changed(session, entry, by, "add")
    return entry


def _already_on(name: str, shift: str, day: str) -> Text:
    """The agent is on that shift already; the two usual shifts by their names."""
    if shift == "early":
        return say("{name} is already on the early shift on {day}", name=name, day=day)
    if shift == "late":
        return say("{name} is already on the late shift on {day}", name=name, day=day)
    return say("{name} is already on the {shift} shift on {day}", name=name, shift=shift, day=day)


async def _roster_changed(
    session: AsyncSession, entry: RosterEntry, by: StaffAccount, action: str
) -> None:
    data = {
        "entry_id": entry.id,
        "staff_id": entry.staff_id,
        "day": entry.day.isoformat(),
        "shift": entry.shift,
    }
    await record_audit(
        session,
        shop_id=entry.shop_id,
        actor=by.username,
        entity="roster_entry",
        entity_id=str(entry.id),
        action=action,
        after=data if action == "add" else None,
        before=data if action == "remove" else None,
    )
    await record_event(session, entry.shop_id, f"roster.{action}", data)


async def _entry(session: AsyncSession, shop_id: int, entry_id: int) -> RosterEntry:
    entry = await session.get(RosterEntry, entry_id)
    if entry is None or entry.shop_id != shop_id:
        raise AttendanceNotFound(say("no such roster entry in this shop"))
    return entry


async def do_remove_roster(
    session: AsyncSession, shop_id: int, entry_id: int, by: StaffAccount
) -> None:
    """Take a shift off the roster; one already judged is a record and stays."""
    _check_leader(by, shop_id, say("only a supervisor or a manager of the shop makes the roster"))
    entry = await _entry(session, shop_id, entry_id)
    if entry.judged_at is not None:
        raise AttendanceConflict(
            say(
                "this shift was judged already and stays on record; "
                "withdraw its violation instead if it was wrong"
            )
        )
    await cancel_timer(session, shop_id=shop_id, kind=JUDGE, subject=f"roster:{entry.id}")
    await _roster_changed(session, entry, by, "remove")
    await session.delete(entry)
    await session.flush()


async def roster_between(
    session: AsyncSession,
    shop_id: int,
    first: date,
    last: date,
    *,
    staff_id: int | None = None,
) -> list[RosterEntry]:
    """The roster entries of the shop days ``first``..``last``, by day and start."""
    query = select(RosterEntry).where(
        RosterEntry.shop_id == shop_id, RosterEntry.day >= first, RosterEntry.day <= last
    )
    if staff_id is not None:
        query = query.where(RosterEntry.staff_id == staff_id)
    order = (RosterEntry.day, RosterEntry.starts_at, RosterEntry.staff_id, RosterEntry.id)
    return list(await session.scalars(query.order_by(*order)))


async def roster_of_day(session: AsyncSession, shop_id: int, day: date) -> list[RosterEntry]:
    return await roster_between(session, shop_id, day, day)


async def roster_of_week(
    session: AsyncSession, shop_id: int, day: date, *, staff_id: int | None = None
) -> list[RosterEntry]:
    """The roster of the week (Monday to Sunday) holding ``day``."""
    days = week_of(day)
    return await roster_between(session, shop_id, days[0], days[-1], staff_id=staff_id)


# --- presence ------------------------------------------------------------------


@dataclass(frozen=True)
class Stretch:
    """A time an agent kept one presence status; ``end`` None: still so when read."""

    staff_id: int
    status: str
    start: datetime
    end: datetime | None
    log_id: int  # the presence change that began it

    def until(self, moment: datetime) -> datetime:
        return self.end if self.end is not None else moment


def _stretches(logs: Sequence[PresenceLog]) -> list[Stretch]:
    out: list[Stretch] = []
    for log in logs:
        if out and out[-1].status == log.status:
            continue
        at = as_utc(log.at)
        if out:
            out[-1] = replace(out[-1], end=at)
        out.append(Stretch(log.staff_id, log.status, at, None, log.id))
    return out


async def presence_between(
    session: AsyncSession,
    shop_id: int,
    since: datetime,
    until: datetime,
    *,
    staff_ids: Collection[int] | None = None,
) -> dict[int, list[Stretch]]:
    """Each agent's presence from the status held at ``since`` to the changes up to
    ``until``, as stretches (the first may begin before ``since``)."""
    where = [PresenceLog.shop_id == shop_id]
    if staff_ids is not None:
        where.append(PresenceLog.staff_id.in_(list(staff_ids)))
    last = (
        select(PresenceLog.staff_id, func.max(PresenceLog.at).label("at"))
        .where(*where, PresenceLog.at <= since)
        .group_by(PresenceLog.staff_id)
        .subquery()
    )
    before = await session.scalars(
        select(PresenceLog)
        .join(last, and_(PresenceLog.staff_id == last.c.staff_id, PresenceLog.at == last.c.at))
        .where(*where)
        .order_by(PresenceLog.id)
    )
    logs: dict[int, list[PresenceLog]] = {}
    for log in before:
        logs[log.staff_id] = [log]  # the newest of equal times wins
    after = await session.scalars(
        select(PresenceLog)
        .where(*where, PresenceLog.at > since, PresenceLog.at <= until)
        .order_by(PresenceLog.at, PresenceLog.id)
    )
    for log in after:
        logs.setdefault(log.staff_id, []).append(log)
    return {staff_id: _stretches(items) for staff_id, items in logs.items()}


def _clip(
    stretches: Sequence[Stretch], status: str, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of ``start``..``end`` (up to ``now``) spent in ``status``."""
    parts = []
    for item in stretches:
        if item.status != status:
            continue
        a, b = max(item.start, start), min(item.until(now), end, now)
        if b > a:
            parts.append((a, b))
    return parts


# --- judging a shift -------------------------------------------------------------


async def _approved_leave(
    session: AsyncSession, shop_id: int, staff_id: int, start: datetime, end: datetime
) -> LeaveRequest | None:
    return await session.scalar(
        select(LeaveRequest)
        .where(
            LeaveRequest.shop_id == shop_id,
            LeaveRequest.staff_id == staff_id,
            LeaveRequest.status == LeaveStatus.approved.value,
            LeaveRequest.starts_at < end,
            LeaveRequest.ends_at > start,
        )
        .order_by(LeaveRequest.starts_at, LeaveRequest.id)
        .limit(1)
    )


@dataclass(frozen=True)
class Lateness:
    """One late shift in its month: the how-many-th, and whether it was free."""

    entry_id: int
    number: int  # 1 for the month's first lateness
    free: bool
    free_before: int  # free lateness used earlier in the month


async def _month_lateness(
    session: AsyncSession, shop_id: int, staff_id: int, month_first: date
) -> list[Lateness]:
    """The rule of the policy replayed over the month's late shifts, in the order they
    were judged: a lateness within the free minutes is free while fewer than the free
    number were; every other one is fined."""
    entries = list(
        await session.scalars(
            select(RosterEntry)
            .where(
                RosterEntry.shop_id == shop_id,
                RosterEntry.staff_id == staff_id,
                RosterEntry.status == RosterStatus.late.value,
                RosterEntry.day >= month_first,
                RosterEntry.day < _next_month(month_first),
            )
            .order_by(RosterEntry.judged_at, RosterEntry.starts_at, RosterEntry.id)
        )
    )
    return await _judged_lateness(session, shop_id, entries, {})


async def _judged_lateness(
    session: AsyncSession,
    shop_id: int,
    entries: Sequence[RosterEntry],
    policies: dict[date, Policy],
) -> list[Lateness]:
    """The free-or-fined verdicts of one agent's late shifts of a month, in judging order."""
    out: list[Lateness] = []
    free_used = 0
    for number, entry in enumerate(entries, start=1):
        if entry.day not in policies:
            policies[entry.day] = await policy_on(session, shop_id, entry.day)
        fines = policies[entry.day].fines
        free = (
            entry.late_minutes <= fines.late_free_minutes and free_used < fines.late_free_per_month
        )
        out.append(Lateness(entry.id, number, free, free_used))
        free_used += free
    return out


async def judge_entry(
    session: AsyncSession, entry: RosterEntry, now: datetime | None = None
) -> RosterEntry:
    """Judge a shift that has ended from the agent's presence; once (a judged entry is
    returned as it is)."""
    if entry.judged_at is not None:
        return entry
    moment = now or utcnow()
    start, end = as_utc(entry.starts_at), as_utc(entry.ends_at)
    if moment < end:
        raise AttendanceConflict(say("a shift is judged once it has ended"))
    presence = await presence_between(
        session, entry.shop_id, start, moment, staff_ids=[entry.staff_id]
    )
    stretches = presence.get(entry.staff_id, [])
    online = _clip(stretches, PresenceStatus.online.value, start, end, moment)
    entry.clock_in_at = online[0][0] if online else None
    entry.online_minutes = int(sum((b - a).total_seconds() for a, b in online) // 60)
    last_online = [
        s for s in stretches if s.status == PresenceStatus.online.value and s.start < end
    ]
    entry.clock_out_at = (
        last_online[-1].end if online and last_online and last_online[-1].end else None
    )
    entry.judged_at = moment
    leave = await _approved_leave(session, entry.shop_id, entry.staff_id, start, end)
    late: Lateness | None = None
    if leave is not None:
        entry.status, entry.leave_id = RosterStatus.on_leave.value, leave.id
    elif entry.clock_in_at is None:
        entry.status = RosterStatus.absent.value
        await _violation(
            session,
            entry,
            "violation.absent",
            "absent_without_leave",
            "P7",
            {},
            at=start,
        )
    else:
        minutes = int((entry.clock_in_at - start).total_seconds() // 60)
        if minutes >= 1:
            entry.status, entry.late_minutes = RosterStatus.late.value, minutes
            await session.flush()
            month = await _month_lateness(
                session, entry.shop_id, entry.staff_id, entry.day.replace(day=1)
            )
            late = next(item for item in month if item.entry_id == entry.id)
            if not late.free:
                policy = await policy_on(session, entry.shop_id, entry.day)
                await _violation(
                    session,
                    entry,
                    "violation.late",
                    "late",
                    "P7",
                    {
                        "late_minutes": minutes,
                        "clock_in_at": entry.clock_in_at.isoformat(),
                        "lateness_in_month": late.number,
                        "free_used_in_month": late.free_before,
                        "late_free_per_month": policy.fines.late_free_per_month,
                        "late_free_minutes": policy.fines.late_free_minutes,
                    },
                    at=entry.clock_in_at,
                )
        else:
            entry.status = RosterStatus.present.value
    if entry.status in (RosterStatus.present.value, RosterStatus.late.value):
        await _check_unattended(session, entry, stretches, moment)
    await record_event(
        session,
        entry.shop_id,
        "roster.judged",
        {
            "entry_id": entry.id,
            "staff_id": entry.staff_id,
            "day": entry.day.isoformat(),
            "shift": entry.shift,
            "status": entry.status,
            "late_minutes": entry.late_minutes,
            "late_free": late.free if late is not None else None,
        },
        topic=f"agent:{entry.staff_id}",
        at=moment,
    )
    await session.flush()
    return entry


async def _violation(
    session: AsyncSession,
    entry: RosterEntry,
    kind: str,
    fine_rule: str,
    requirement: str,
    evidence: dict[str, Any],
    *,
    at: datetime,
) -> None:
    """Say on the violation topic that the agent of ``entry`` broke ``fine_rule``."""
    await record_event(
        session,
        entry.shop_id,
        kind,
        {
            "rule": requirement,  # the violation row's requirement
            "requirement": requirement,
            "fine_rule": fine_rule,
            "agent_id": entry.staff_id,
            "roster_entry_id": entry.id,
            "day": entry.day.isoformat(),
            "shift": entry.shift,
            **evidence,
        },
        topic=TOPIC,
        at=at,
    )


@timer_handler(JUDGE)
async def _judge_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    entry_id = timer.payload.get("entry_id")
    if not isinstance(entry_id, int):
        entry_id = int(timer.subject.split(":", 1)[1])
    entry = await session.get(RosterEntry, entry_id)
    if entry is None:
        return  # taken off the roster
    await judge_entry(session, entry, max(now, as_utc(entry.ends_at)))


# --- online but unattended (P4 C7) ----------------------------------------------


def _away_subject(log_id: int) -> str:
    return f"away:{log_id}"


async def _check_unattended(
    session: AsyncSession, entry: RosterEntry, stretches: Sequence[Stretch], now: datetime
) -> None:
    """Report each away stretch of two hours or more overlapping the shift, once."""
    start, end = as_utc(entry.starts_at), as_utc(entry.ends_at)
    for item in stretches:
        if item.status != PresenceStatus.away.value:
            continue
        if not (item.start < end and item.until(now) > start):
            continue
        subject = _away_subject(item.log_id)
        marked = await session.scalar(
            select(Timer.id)
            .where(
                Timer.shop_id == entry.shop_id, Timer.kind == UNATTENDED, Timer.subject == subject
            )
            .limit(1)
        )
        if marked is not None:
            continue  # reported, or being watched, for another shift
        due = item.start + UNATTENDED_AFTER
        if item.end is not None and item.end - item.start < UNATTENDED_AFTER:
            continue  # a short stretch that is over: nothing to report, ever
        payload = {
            "staff_id": item.staff_id,
            "log_id": item.log_id,
            "since": item.start.isoformat(),
            "roster_entry_id": entry.id,
        }
        if item.end is None and now < due:
            # Still away and not yet two hours: look again when it would be.
            await schedule_timer(
                session,
                shop_id=entry.shop_id,
                kind=UNATTENDED,
                subject=subject,
                due_at=due,
                payload=payload,
                none_open=True,
            )
            continue
        session.add(  # the marker: this stretch is reported
            Timer(
                shop_id=entry.shop_id,
                kind=UNATTENDED,
                subject=subject,
                due_at=due,
                payload=payload,
                fired_at=now,
            )
        )
        await _report_unattended(session, entry.shop_id, item, entry.id)
    await session.flush()


async def _report_unattended(
    session: AsyncSession, shop_id: int, item: Stretch, entry_id: int | None
) -> None:
    due = item.start + UNATTENDED_AFTER
    await record_event(
        session,
        shop_id,
        "violation.online_unattended",
        {
            "rule": "P4",
            "requirement": "P4",
            "fine_rule": "online_unattended_2_hours",
            "agent_id": item.staff_id,
            "roster_entry_id": entry_id,
            "presence_log_id": item.log_id,
            "away_since": item.start.isoformat(),
            "away_until": item.end.isoformat() if item.end is not None else None,
            "away_minutes": int((item.end - item.start).total_seconds() // 60)
            if item.end is not None
            else None,
        },
        topic=TOPIC,
        at=due,
    )


@timer_handler(UNATTENDED)
async def _unattended_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """An away stretch seen running at a shift's end: still away two hours on?"""
    staff_id, log_id = timer.payload.get("staff_id"), timer.payload.get("log_id")
    since = timer.payload.get("since")
    if not isinstance(staff_id, int) or not isinstance(log_id, int) or not isinstance(since, str):
        return
    start = datetime.fromisoformat(since)
    ended = await session.scalar(
        select(PresenceLog.at)
        .where(
            PresenceLog.shop_id == timer.shop_id,
            PresenceLog.staff_id == staff_id,
            PresenceLog.id != log_id,
            PresenceLog.at >= start,
            PresenceLog.status != PresenceStatus.away.value,
        )
        .order_by(PresenceLog.at, PresenceLog.id)
        .limit(1)
    )
    end = as_utc(ended) if ended is not None else None
    if end is not None and end - start < UNATTENDED_AFTER:
        return  # back (or gone offline) in time
    if end is None and now - start < UNATTENDED_AFTER:
        return  # fired early; cannot happen through the timer loop
    entry_id = timer.payload.get("roster_entry_id")
    item = Stretch(staff_id, PresenceStatus.away.value, start, end, log_id)
    await _report_unattended(
        session, timer.shop_id, item, entry_id if isinstance(entry_id, int) else None
    )


# --- leave -------------------------------------------------------------------------


async def do_request_leave(
    session: AsyncSession,
    staff: StaffAccount,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> LeaveRequest:
    """Ask for time off; the supervisor decides."""
    start, end = as_utc(starts_at), as_utc(ends_at)
    if end <= start:
        raise AttendanceError(say("a leave ends after it starts"))
    if end - start > timedelta(days=MAX_LEAVE_DAYS):
        raise AttendanceError(
            say(
                "a leave is at most {days} days; ask for a longer one in parts",
                days=MAX_LEAVE_DAYS,
            )
        )
    text = reason.strip()
    if not text:
        raise AttendanceError(say("give the reason for the leave"))
    overlapping = await session.scalar(
        select(LeaveRequest.id).where(
            LeaveRequest.shop_id == staff.shop_id,
            LeaveRequest.staff_id == staff.id,
            LeaveRequest.status.in_([LeaveStatus.pending.value, LeaveStatus.approved.value]),
            LeaveRequest.starts_at < end,
            LeaveRequest.ends_at > start,
        )
    )
    if overlapping is not None:
        raise AttendanceConflict(
            say("this overlaps your leave request #{number}", number=overlapping)
        )
    leave = LeaveRequest(
        shop_id=staff.shop_id,
        staff_id=staff.id,
        starts_at=start,
        ends_at=end,
        reason=text[:MAX_REASON],
        status=LeaveStatus.pending.value,
    )
    session.add(leave)
    await session.flush()
    await _leave_event(session, leave, "leave.requested")
    return leave


async def _leave(session: AsyncSession, shop_id: int, leave_id: int) -> LeaveRequest:
    leave = await session.get(LeaveRequest, leave_id)
    if leave is None or leave.shop_id != shop_id:
        raise AttendanceNotFound(say("no such leave request in this shop"))
    return leave


def _still_pending(leave: LeaveRequest) -> None:
    if leave.status == LeaveStatus.approved.value:
        raise AttendanceConflict(say("this leave request is approved already"))
    if leave.status == LeaveStatus.refused.value:
        raise AttendanceConflict(say("this leave request is refused already"))
    if leave.status == LeaveStatus.cancelled.value:
        raise AttendanceConflict(say("this leave request is cancelled already"))
    if leave.status != LeaveStatus.pending.value:
        raise AttendanceConflict(say("this leave request is {status} already", status=leave.status))


async def _leave_event(session: AsyncSession, leave: LeaveRequest, kind: str) -> None:
    await record_event(
        session,
        leave.shop_id,
        kind,
        {"leave_id": leave.id, "staff_id": leave.staff_id, "status": leave.status},
        topic=f"agent:{leave.staff_id}",
    )


async def do_cancel_leave(
    session: AsyncSession, leave_id: int, staff: StaffAccount
) -> LeaveRequest:
    """The agent takes back a request the supervisor has not decided yet."""
    leave = await _leave(session, staff.shop_id, leave_id)
    if leave.staff_id != staff.id:
        raise AttendanceForbidden(say("only the one who asked for a leave may cancel it"))
    _still_pending(leave)
    leave.status = LeaveStatus.cancelled.value
    await _leave_event(session, leave, "leave.cancelled")
    return leave


async def do_decide_leave(
    session: AsyncSession,
    leave_id: int,
    supervisor: StaffAccount,
    approve: bool,
    decision: str,
    *,
    now: datetime | None = None,
) -> LeaveRequest:
    """Approve or refuse a pending leave. Approving one that covers shifts already
    judged absent turns them to ``on_leave`` and withdraws their violations."""
    _check_leader(
        supervisor,
        supervisor.shop_id,
        say("only a supervisor or a manager of the shop decides on leave"),
    )
    leave = await _leave(session, supervisor.shop_id, leave_id)
    if leave.staff_id == supervisor.id:
        raise AttendanceForbidden(say("nobody decides on their own leave"))
    _still_pending(leave)
    text = decision.strip()[:MAX_REASON]
    if not approve and not text:
        raise AttendanceError(say("say why the leave is refused"))
    moment = now or utcnow()
    leave.status = (LeaveStatus.approved if approve else LeaveStatus.refused).value
    leave.decided_by, leave.decided_at, leave.decision = supervisor.id, moment, text
    if approve:
        await _excuse_absences(session, leave, supervisor, moment)
    await record_audit(
        session,
        shop_id=leave.shop_id,
        actor=supervisor.username,
        entity="leave_request",
        entity_id=str(leave.id),
        action=leave.status,
        after={"status": leave.status, "decision": text},
        at=moment,
    )
    await _leave_event(session, leave, "leave.decided")
    return leave


async def _excuse_absences(
    session: AsyncSession, leave: LeaveRequest, supervisor: StaffAccount, now: datetime
) -> None:
    """Shifts judged absent within an approved leave: on leave, their fines withdrawn."""
    absent = list(
        await session.scalars(
            select(RosterEntry).where(
                RosterEntry.shop_id == leave.shop_id,
                RosterEntry.staff_id == leave.staff_id,
                RosterEntry.status == RosterStatus.absent.value,
                RosterEntry.starts_at < leave.ends_at,
                RosterEntry.ends_at > leave.starts_at,
            )
        )
    )
    if not absent:
        return
    # Turn every absence event recorded so far into its row, so none is found later
    # and fined after its shift was excused.
    await detect_violations(session, leave.shop_id)
    ids = {entry.id for entry in absent}
    for entry in absent:
        entry.status, entry.leave_id = RosterStatus.on_leave.value, leave.id
    fined = await session.scalars(
        select(Violation).where(
            Violation.shop_id == leave.shop_id,
            Violation.agent_id == leave.staff_id,
            Violation.rule == "absent_without_leave",
            Violation.status != ViolationStatus.withdrawn.value,
        )
    )
    for violation in fined:
        if violation.evidence.get("roster_entry_id") not in ids:
            continue
        violation.status = ViolationStatus.withdrawn.value
        violation.decided_by, violation.decided_at = supervisor.id, now
        violation.decision = f"leave #{leave.id} approved for this shift"
        await record_event(
            session,
            violation.shop_id,
            "violation.decided",
            {"violation_id": violation.id, "agent_id": violation.agent_id,
             "status": violation.status},
            topic=f"agent:{violation.agent_id}",
        )  # fmt: skip
    await session.flush()


async def leaves_of(
    session: AsyncSession,
    shop_id: int,
    *,
    staff_id: int | None = None,
    statuses: Collection[str] | None = None,
    limit: int = 200,
) -> list[LeaveRequest]:
    """Leave requests, newest first."""
    query = select(LeaveRequest).where(LeaveRequest.shop_id == shop_id)
    if staff_id is not None:
        query = query.where(LeaveRequest.staff_id == staff_id)
    if statuses is not None:
        query = query.where(LeaveRequest.status.in_(list(statuses)))
    query = query.order_by(LeaveRequest.starts_at.desc(), LeaveRequest.id.desc()).limit(limit)
    return list(await session.scalars(query))


@dataclass(frozen=True)
class LeaveLists:
    """The leave page of one staff member: their own requests, and for a leader the
    others' pending ones to decide and the recent decisions."""

    mine: list[LeaveRequest]
    pending: list[LeaveRequest]
    decided: list[LeaveRequest]


async def leaves_for(session: AsyncSession, staff: StaffAccount) -> LeaveLists:
    mine = await leaves_of(session, staff.shop_id, staff_id=staff.id)
    if not is_leader(staff):
        return LeaveLists(mine, [], [])
    waiting = await leaves_of(session, staff.shop_id, statuses=[LeaveStatus.pending.value])
    decided = await leaves_of(
        session,
        staff.shop_id,
        statuses=[LeaveStatus.approved.value, LeaveStatus.refused.value],
        limit=50,
    )
    return LeaveLists(mine, [leave for leave in waiting if leave.staff_id != staff.id], decided)


async def roster_week_for(
    session: AsyncSession, staff: StaffAccount, day: date
) -> list[RosterEntry]:
    """The week's roster as one staff member may read it: a leader all of it, an agent
    their own shifts."""
    only = None if is_leader(staff) else staff.id
    return await roster_of_week(session, staff.shop_id, day, staff_id=only)


async def summaries_for(
    session: AsyncSession, staff: StaffAccount, agents: Sequence[StaffAccount], month: str
) -> list[AttendanceSummary]:
    """The month's attendance of ``agents`` for a leader; an agent gets only their own,
    whoever is asked for."""
    if is_leader(staff):
        found = await attendance_summaries(session, staff.shop_id, [a.id for a in agents], month)
        return [found[a.id] for a in agents]
    if staff.has_role("agent"):
        return [await attendance_summary(session, staff.shop_id, staff.id, month)]
    return []


async def coverage_for(session: AsyncSession, staff: StaffAccount, day: date) -> list[PeakCoverage]:
    """The peak hours of a day against the roster and who was online: a leader's view."""
    return await peak_coverage(session, staff.shop_id, day) if is_leader(staff) else []


# --- peak coverage (C11) --------------------------------------------------------------


@dataclass(frozen=True)
class PeakCoverage:
    """One peak span of a day: who was rostered and who was online, against the need.

    ``fewest_*``/``most_*`` are counts at once during the span (online: up to now).
    ``met`` is None before the span starts, else whether the fewest online at once
    reached ``required``.
    """

    span: str
    starts_at: datetime
    ends_at: datetime
    required: int
    rostered: tuple[int, ...]  # staff ids whose shift overlaps the span
    on_leave: tuple[int, ...]  # rostered, but on approved leave
    fewest_rostered: int
    online: tuple[int, ...]  # staff ids online at some moment of the span
    fewest_online: int
    most_online: int
    started: bool
    finished: bool

    @property
    def planned_enough(self) -> bool:
        return self.fewest_rostered >= self.required

    @property
    def met(self) -> bool | None:
        return None if not self.started else self.fewest_online >= self.required


def _at_once(
    spans: dict[int, list[tuple[datetime, datetime]]], start: datetime, end: datetime
) -> tuple[int, int]:
    """The fewest and most of ``spans``' owners present at once within start..end."""
    points = sorted(
        {start, end}
        | {p for parts in spans.values() for a, b in parts for p in (a, b) if start < p < end}
    )
    counts = [
        sum(1 for parts in spans.values() if any(a <= p and b >= q for a, b in parts))
        for p, q in pairwise(points)
        if q > p
    ]
    return (min(counts), max(counts)) if counts else (0, 0)


async def peak_coverage(
    session: AsyncSession, shop_id: int, day: date, now: datetime | None = None
) -> list[PeakCoverage]:
    """Each peak span of the policy on a shop day: rostered and online agents."""
    moment = now or utcnow()
    policy = await policy_on(session, shop_id, day)
    zone = await zone_name(session, shop_id)
    required = policy.reception.peak_min_agents_online
    entries = await roster_between(session, shop_id, day - timedelta(days=1), day)
    windows = [(span, *span_window(span, day, zone)) for span in policy.reception.peak_hours]
    leaves: list[tuple[int, datetime, datetime]] = []
    if windows and entries:
        # The day's approved leaves, read once for every span and entry.
        found = await session.scalars(
            select(LeaveRequest).where(
                LeaveRequest.shop_id == shop_id,
                LeaveRequest.status == LeaveStatus.approved.value,
                LeaveRequest.starts_at < max(end for _, _, end in windows),
                LeaveRequest.ends_at > min(start for _, start, _ in windows),
            )
        )
        leaves = [(r.staff_id, as_utc(r.starts_at), as_utc(r.ends_at)) for r in found]
    out = []
    for span, start, end in windows:
        rostered: dict[int, list[tuple[datetime, datetime]]] = {}
        on_leave: set[int] = set()
        for entry in entries:
            a, b = max(as_utc(entry.starts_at), start), min(as_utc(entry.ends_at), end)
            if b <= a:
                continue
            away = entry.status == RosterStatus.on_leave.value or any(
                who == entry.staff_id and left < b and back > a for who, left, back in leaves
            )
            if away:
                on_leave.add(entry.staff_id)
                continue
            rostered.setdefault(entry.staff_id, []).append((a, b))
        fewest_rostered, _ = _at_once(rostered, start, end)
        online: dict[int, list[tuple[datetime, datetime]]] = {}
        started = moment > start
        if started:
            until = min(end, moment)
            presence = await presence_between(session, shop_id, start, until)
            for staff_id, stretches in presence.items():
                parts = _clip(stretches, PresenceStatus.online.value, start, end, until)
                if parts:
                    online[staff_id] = parts
            fewest, most = _at_once(online, start, until)
        else:
            fewest = most = 0
        out.append(
            PeakCoverage(
                span=span,
                starts_at=start,
                ends_at=end,
                required=required,
                rostered=tuple(sorted(rostered)),
                on_leave=tuple(sorted(on_leave - set(rostered))),
                fewest_rostered=fewest_rostered,
                online=tuple(sorted(online)),
                fewest_online=fewest,
                most_online=most,
                started=started,
                finished=moment >= end,
            )
        )
    return out


# --- the month (for payroll) ------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceSummary:
    """An agent's month of shifts. Full attendance: at least one shift, none absent,
    no fined lateness and no leave (approved leave in the month, or a shift on leave)."""

    staff_id: int
    month: str
    shifts: int  # rostered in the month
    scheduled: int  # not judged yet
    present: int
    late_free: int
    late_fined: int
    absent: int
    on_leave: int
    leaves: int  # approved leave requests overlapping the month
    late_minutes: int
    online_minutes: int
    full_attendance: bool

    @property
    def late(self) -> int:
        return self.late_free + self.late_fined


async def attendance_summary(
    session: AsyncSession, shop_id: int, staff_id: int, month: str
) -> AttendanceSummary:
    """Shifts rostered, present, late (free and fined), absent and on leave in a month."""
    return (await attendance_summaries(session, shop_id, [staff_id], month))[staff_id]


async def attendance_summaries(
    session: AsyncSession, shop_id: int, staff_ids: Sequence[int], month: str
) -> dict[int, AttendanceSummary]:
    """:func:`attendance_summary` of several staff at once: a few statements for the
    whole shop, whatever the number of agents (payroll reads every agent's)."""
    first = parse_month(month)
    following = _next_month(first)
    wanted = list(dict.fromkeys(staff_ids))
    entries: dict[int, list[RosterEntry]] = {staff_id: [] for staff_id in wanted}
    query = select(RosterEntry).where(
        RosterEntry.shop_id == shop_id,
        RosterEntry.day >= first,
        RosterEntry.day < following,
        RosterEntry.staff_id.in_(wanted),
    )
    for entry in await session.scalars(query):
        entries[entry.staff_id].append(entry)
    late_entries: dict[int, list[RosterEntry]] = {staff_id: [] for staff_id in wanted}
    for entry in await session.scalars(
        query.where(RosterEntry.status == RosterStatus.late.value).order_by(
            RosterEntry.judged_at, RosterEntry.starts_at, RosterEntry.id
        )
    ):
        late_entries[entry.staff_id].append(entry)
    zone = await zone_name(session, shop_id)
    since = from_local(datetime.combine(first, time()), zone)
    until = from_local(datetime.combine(following, time()), zone)
    leaves: dict[int, int] = {
        int(staff_id): int(count)
        for staff_id, count in await session.execute(
            select(LeaveRequest.staff_id, func.count())
            .where(
                LeaveRequest.shop_id == shop_id,
                LeaveRequest.staff_id.in_(wanted),
                LeaveRequest.status == LeaveStatus.approved.value,
                LeaveRequest.starts_at < until,
                LeaveRequest.ends_at > since,
            )
            .group_by(LeaveRequest.staff_id)
        )
    }
    policies: dict[date, Policy] = {}
    out: dict[int, AttendanceSummary] = {}
    for staff_id in wanted:
        own = entries[staff_id]
        counts = {status.value: 0 for status in RosterStatus}
        for entry in own:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        lateness = await _judged_lateness(session, shop_id, late_entries[staff_id], policies)
        fined = sum(1 for item in lateness if not item.free)
        absent, on_leave = counts[RosterStatus.absent.value], counts[RosterStatus.on_leave.value]
        taken = leaves.get(staff_id, 0)
        out[staff_id] = AttendanceSummary(
            staff_id=staff_id,
            month=first.strftime("%Y-%m"),
            shifts=len(own),
            scheduled=counts[RosterStatus.scheduled.value],
            present=counts[RosterStatus.present.value],
            late_free=len(lateness) - fined,
            late_fined=fined,
            absent=absent,
            on_leave=on_leave,
            leaves=taken,
            late_minutes=sum(entry.late_minutes for entry in own),
            online_minutes=sum(entry.online_minutes for entry in own),
            full_attendance=bool(own) and not (absent or fined or on_leave or taken),
        )
    return out
