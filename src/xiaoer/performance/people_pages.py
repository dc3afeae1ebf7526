"""The work log (P8) and promotion (P5) pages.

An agent writes the day's log and reads their own; a supervisor or manager searches
everyone's. The promotion page shows each agent's checklist for the next level; the
supervisor records exams and promotes whoever meets every condition.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.texts import Text, say
from xiaoer.http.deps import SessionDep
from xiaoer.http.errors import status_of
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render
from xiaoer.performance.access import Leader, Worker
from xiaoer.performance.attendance_pages import FormError, read_day
from xiaoer.performance.models import WorkLog
from xiaoer.performance.promotion import (
    NEXT_LEVEL,
    NotEligible,
    PromotionError,
    checklists_for,
    do_promote,
    do_record_exam,
)
from xiaoer.performance.worklog import (
    MAX_TEXT,
    PAST_DAYS,
    WorkLogError,
    do_write_log,
    logs_for,
)
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/performance")


def _status(exc: ValueError) -> int:
    return 409 if isinstance(exc, NotEligible) else status_of(exc, 400)


def _day(value: str, label: Text) -> date | None:
    """A form's or query's ``YYYY-MM-DD``; empty is none."""
    return read_day(value, label) if value.strip() else None


def _number(value: str, label: Text) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise FormError(
            say("{field}: {value!r} is not a whole number", field=label, value=value)
        ) from None


# --- work log ----------------------------------------------------------------


async def _log_form(
    session: AsyncSession, staff: StaffAccount, today: date, asked: str
) -> dict[str, str]:
    """The write form for the day asked (today unless a day of the past week), filled
    with what the agent wrote that day."""
    try:
        day = _day(asked, say("day")) or today
    except FormError:
        day = today
    if not today - timedelta(days=PAST_DAYS) <= day <= today:
        day = today
    found = await logs_for(session, staff, staff_id=staff.id, start=day, end=day, limit=1)
    entry = found[0] if found else None
    return {
        "day": day.isoformat(),
        "problems": entry.problems if entry else "",
        "solutions": entry.solutions if entry else "",
    }


async def _worklog_page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    *,
    search: dict[str, str],
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    today = await shop_today(session, staff.shop_id)
    leader = is_leader(staff)
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    entries: list[WorkLog] = []
    try:
        start, end = _day(search["start"], say("from")), _day(search["end"], say("to"))
        who = _number(search["staff_id"], say("agent"))
        entries = await logs_for(
            session, staff, text=search["q"] or None, staff_id=who, start=start, end=end
        )
    except (WorkLogError, FormError) as exc:
        if error is None:
            error, status_code = error_text(request, exc), _status(exc)
    writer = staff.has_role("agent")
    if form is None and writer:
        form = await _log_form(session, staff, today, request.query_params.get("day", ""))
    context = {
        "leader": leader,
        "writer": writer,
        "entries": entries,
        "team": team,
        "search": search,
        "form": form or {"day": today.isoformat(), "problems": "", "solutions": ""},
        "today": today,
        "earliest": today - timedelta(days=PAST_DAYS),
        "max_text": MAX_TEXT,
        "error": error,
    }
    return render(
        request, "performance/worklog.html", context, staff=staff, status_code=status_code
    )


@router.get("/worklog", response_class=HTMLResponse)
async def worklog_page(
    request: Request,
    session: SessionDep,
    staff: Worker,
    q: str = "",
    staff_id: str = "",
    start: str = "",
    end: str = "",
) -> Response:
    search = {"q": q[:200], "staff_id": staff_id, "start": start, "end": end}
    return await _worklog_page(request, session, staff, search=search)


@router.post("/worklog", response_class=HTMLResponse)
async def write_log(
    request: Request,
    session: SessionDep,
    staff: Worker,
    day: Annotated[str, Form(max_length=10)],
    problems: Annotated[str, Form(max_length=MAX_TEXT * 2)] = "",
    solutions: Annotated[str, Form(max_length=MAX_TEXT * 2)] = "",
) -> Response:
    form = {"day": day, "problems": problems, "solutions": solutions}
    search = {"q": "", "staff_id": "", "start": "", "end": ""}
    try:
        when = _day(day, say("day"))
        if when is None:
            raise FormError(say("choose the day the log is for"))
        await do_write_log(session, staff, when, problems, solutions)
    except (WorkLogError, FormError) as exc:
        return await _worklog_page(
            request,
            session,
            staff,
            search=search,
            form=form,
            error=error_text(request, exc),
            status_code=_status(exc),
        )
    await session.commit()
    return RedirectResponse("/performance/worklog", status_code=303)


# --- promotion ---------------------------------------------------------------


async def _promotion_page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    today = await shop_today(session, staff.shop_id)
    leader = is_leader(staff)
    lists = await checklists_for(session, staff, today)
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    context = {
        "leader": leader,
        "checklists": lists,
        "team": team,
        "levels": list(NEXT_LEVEL.values()),
        "form": form
        or {
            "staff_id": "",
            "to_level": "",
            "passed": "yes",
            "score": "",
            "note": "",
            "taken_on": today.isoformat(),
        },
        "today": today,
        "error": error,
    }
    return render(
        request, "performance/promotion.html", context, staff=staff, status_code=status_code
    )


@router.get("/promotion", response_class=HTMLResponse)
async def promotion_page(request: Request, session: SessionDep, staff: Worker) -> Response:
    return await _promotion_page(request, session, staff)


@router.post("/promotion/exam", response_class=HTMLResponse)
async def record_exam(
    request: Request,
    session: SessionDep,
    staff: Leader,
    staff_id: Annotated[str, Form(max_length=12)],
    to_level: Annotated[str, Form(max_length=16)],
    taken_on: Annotated[str, Form(max_length=10)],
    passed: Annotated[str, Form(max_length=3)] = "",
    score: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {
        "staff_id": staff_id,
        "to_level": to_level,
        "passed": passed,
        "score": score,
        "taken_on": taken_on,
        "note": note,
    }
    try:
        agent_id = _number(staff_id, say("agent"))
        if agent_id is None:
            raise FormError(say("choose the agent who sat the exam"))
        when = _day(taken_on, say("taken on"))
        if when is None:
            raise FormError(say("give the day the exam was sat"))
        if passed not in ("yes", "no"):
            raise FormError(say("say whether the exam was passed"))
        await do_record_exam(
            session,
            staff,
            agent_id,
            to_level,
            passed == "yes",
            _number(score, say("score")),
            when,
            note,
            today=await shop_today(session, staff.shop_id),
        )
    except (PromotionError, FormError) as exc:
        return await _promotion_page(
            request,
            session,
            staff,
            form=form,
            error=error_text(request, exc),
            status_code=_status(exc),
        )
    await session.commit()
    return RedirectResponse("/performance/promotion", status_code=303)


@router.post("/promotion/{staff_id}/promote", response_class=HTMLResponse)
async def promote(
    request: Request, session: SessionDep, staff: Leader, staff_id: RowId
) -> Response:
    try:
        await do_promote(session, staff, staff_id, await shop_today(session, staff.shop_id))
    except PromotionError as exc:
        return await _promotion_page(
            request, session, staff, error=error_text(request, exc), status_code=_status(exc)
        )
    await session.commit()
    return RedirectResponse("/performance/promotion", status_code=303)
