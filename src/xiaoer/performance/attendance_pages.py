"""The roster and leave pages (P7, C11).

The supervisor sees the week's roster as agents × days, each shift with how it went,
adds and removes shifts, and sees a day's peak coverage; an agent sees their own
shifts. On the leave page agents ask for time off and cancel what is undecided; the
supervisor approves or refuses. An error shows its message (in the reader's
language) above the form, which keeps what was typed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from xiaoer.core.clock import from_local, local
from xiaoer.core.hooks import roster_panels
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.http.deps import SessionDep
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render
from xiaoer.performance.access import Leader, Worker
from xiaoer.performance.attendance import (
    AttendanceConflict,
    AttendanceError,
    coverage_for,
    do_cancel_leave,
    do_decide_leave,
    do_remove_roster,
    do_request_leave,
    do_set_roster,
    leaves_for,
    parse_month,
    roster_week_for,
    summaries_for,
    week_of,
    zone_name,
)
from xiaoer.performance.models import RosterEntry
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/performance")


class FormError(AttendanceError):
    """A field that could not be read."""


def read_day(value: str, label: Text) -> date:
    """A form's ``YYYY-MM-DD`` field; ``label`` names it in the error."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FormError(
            say("{field}: {value!r} is not a date (YYYY-MM-DD)", field=label, value=value)
        ) from None


def _day_or(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else default
    except ValueError:
        return default


def _moment(value: str, zone: str) -> datetime:
    """A ``datetime-local`` field (shop time) to UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormError(_not_a_moment(value)) from None
    if parsed.tzinfo is not None:
        raise FormError(_not_a_moment(value))
    return from_local(parsed, zone)


def _not_a_moment(value: str) -> Text:
    return say("{value!r} is not a date and time (YYYY-MM-DDTHH:MM)", value=value)


def _number(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise FormError(say("{value!r} is not a staff member", value=value)) from None


def _clock(zone: str) -> Any:
    def show(value: datetime | None, fmt: str = "%H:%M") -> str:
        return "" if value is None else local(value, zone).strftime(fmt)

    return show


# --- roster ----------------------------------------------------------------------


async def _roster_page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    *,
    week: str = "",
    day: str = "",
    month: str = "",
    only: str = "",
    form: dict[str, str] | None = None,
    error: AttendanceError | None = None,
) -> Response:
    today = await shop_today(session, staff.shop_id)
    try:
        first = parse_month(month) if month.strip() else None
    except AttendanceError:
        first = None
    shown = _day_or(week, first or today)
    days = week_of(shown)
    coverage_day = _day_or(day, today)
    zone = await zone_name(session, staff.shop_id)
    leader = is_leader(staff)
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    entries = await roster_week_for(session, staff, shown)
    cells: dict[tuple[int, date], list[RosterEntry]] = {}
    for entry in entries:
        cells.setdefault((entry.staff_id, entry.day), []).append(entry)
    if leader:
        rows = [s for s in team.values() if s.active and s.has_role("agent")]
        rows += [team[i] for i in sorted({e.staff_id for e in entries}) if team[i] not in rows]
    else:
        rows = [staff]
    if leader and only.strip().isdigit():  # one agent's row (linked from payroll)
        rows = [s for s in rows if s.id == int(only)] or rows
    month = first.strftime("%Y-%m") if first is not None else shown.strftime("%Y-%m")
    summaries = await summaries_for(session, staff, rows, month)
    policy = await policy_on(session, staff.shop_id, shown)
    context = {
        "leader": leader,
        "days": days,
        "today": today,
        "week": shown,
        "only": only if len(rows) == 1 and leader else "",
        "previous_week": days[0] - timedelta(days=7),
        "next_week": days[0] + timedelta(days=7),
        "rows": rows,
        "cells": cells,
        "team": team,
        "shifts": dict(policy.attendance.shifts),
        "coverage_day": coverage_day,
        "coverage": await coverage_for(session, staff, coverage_day),
        "panels": await roster_panels(session, staff, days),
        "month": month,
        "summaries": summaries,
        "clock": _clock(zone),
        "form": form or {"staff_id": "", "day": shown.isoformat(), "shift": ""},
        "error": error_text(request, error) if error is not None else None,
    }
    status = error.status if error is not None else 200
    return render(request, "performance/roster.html", context, staff=staff, status_code=status)


@router.get("/roster", response_class=HTMLResponse)
async def roster_page(
    request: Request,
    session: SessionDep,
    staff: Worker,
    week: str = "",
    day: str = "",
    month: str = "",
    staff_id: Annotated[str, Query(alias="staff")] = "",
) -> Response:
    """The week holding ``week`` (or the first week of ``month``, else this week);
    ``staff`` narrows a supervisor's grid to one agent; ``day`` picks the coverage day."""
    return await _roster_page(
        request, session, staff, week=week[:10], day=day[:10], month=month[:7], only=staff_id[:12]
    )


def _to_roster(week: str) -> Response:
    query = f"?week={week}" if week else ""
    return RedirectResponse(f"/performance/roster{query}", status_code=303)


@router.post("/roster", response_class=HTMLResponse)
async def add_to_roster(
    request: Request,
    session: SessionDep,
    staff: Leader,
    staff_id: Annotated[str, Form(max_length=12)] = "",
    day: Annotated[str, Form(max_length=10)] = "",
    shift: Annotated[str, Form(max_length=16)] = "",
    week: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    form = {"staff_id": staff_id, "day": day, "shift": shift}
    try:
        when = read_day(day, say("day"))
        await do_set_roster(session, staff.shop_id, _number(staff_id), when, shift, staff)
    except AttendanceError as exc:
        return await _roster_page(request, session, staff, week=week, form=form, error=exc)
    await session.commit()
    return _to_roster(week or when.isoformat())


@router.post("/roster/{entry_id}/remove", response_class=HTMLResponse)
async def remove_from_roster(
    request: Request,
    session: SessionDep,
    staff: Leader,
    entry_id: RowId,
    week: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        await do_remove_roster(session, staff.shop_id, entry_id, staff)
    except AttendanceError as exc:
        return await _roster_page(request, session, staff, week=week, error=exc)
    await session.commit()
    return _to_roster(week)


# --- leave -------------------------------------------------------------------------


async def _leave_page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    *,
    form: dict[str, str] | None = None,
    error: AttendanceError | None = None,
) -> Response:
    zone = await zone_name(session, staff.shop_id)
    leader = is_leader(staff)
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    lists = await leaves_for(session, staff)
    tomorrow = await shop_today(session, staff.shop_id) + timedelta(days=1)
    context = {
        "leader": leader,
        "mine": lists.mine,
        "pending": lists.pending,
        "decided": lists.decided,
        "team": team,
        "clock": _clock(zone),
        "form": form
        or {
            "starts_at": f"{tomorrow.isoformat()}T08:00",
            "ends_at": f"{(tomorrow + timedelta(days=1)).isoformat()}T00:00",
            "reason": "",
        },
        "error": error_text(request, error) if error is not None else None,
    }
    status = error.status if error is not None else 200
    return render(request, "performance/leave.html", context, staff=staff, status_code=status)


@router.get("/leave", response_class=HTMLResponse)
async def leave_page(request: Request, session: SessionDep, staff: Worker) -> Response:
    return await _leave_page(request, session, staff)


def _to_leave() -> Response:
    return RedirectResponse("/performance/leave", status_code=303)


@router.post("/leave", response_class=HTMLResponse)
async def request_leave(
    request: Request,
    session: SessionDep,
    staff: Worker,
    starts_at: Annotated[str, Form(max_length=32)] = "",
    ends_at: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"starts_at": starts_at, "ends_at": ends_at, "reason": reason}
    try:
        zone = await zone_name(session, staff.shop_id)
        start, end = _moment(starts_at, zone), _moment(ends_at, zone)
        await do_request_leave(session, staff, start, end, reason)
    except AttendanceError as exc:
        return await _leave_page(request, session, staff, form=form, error=exc)
    await session.commit()
    return _to_leave()


@router.post("/leave/{leave_id}/cancel", response_class=HTMLResponse)
async def cancel_leave(
    request: Request, session: SessionDep, staff: Worker, leave_id: RowId
) -> Response:
    try:
        await do_cancel_leave(session, leave_id, staff)
    except AttendanceError as exc:
        return await _leave_page(request, session, staff, error=exc)
    await session.commit()
    return _to_leave()


@router.post("/leave/{leave_id}/decide", response_class=HTMLResponse)
async def decide_leave(
    request: Request,
    session: SessionDep,
    staff: Leader,
    leave_id: RowId,
    outcome: Annotated[str, Form(pattern="^(approve|refuse)$")],
    decision: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        await do_decide_leave(session, leave_id, staff, outcome == "approve", decision)
        await session.commit()
    except AttendanceError as exc:
        return await _leave_page(request, session, staff, error=exc)
    except IntegrityError:  # the violations were being recorded by another request
        await session.rollback()
        await session.refresh(staff)
        busy = AttendanceConflict(say("someone changed this just now; try again"))
        return await _leave_page(request, session, staff, error=busy)
    return _to_leave()
