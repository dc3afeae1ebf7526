"""The activities quiz pages (D2): an agent takes the quiz; the leaders read each agent's
latest score, when, and which activities they missed; an agent reads only their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.render import error_text, render
from xiaoer.peakday.quiz import (
    QuizError,
    attempt_lines,
    do_take_quiz,
    quiz_for,
    results_for,
)
from xiaoer.staff.models import LEADERS, WORKBENCH_ROLES, StaffAccount

router = APIRouter(prefix="/peakday")

Taker = Annotated[StaffAccount, Depends(require_staff(*WORKBENCH_ROLES))]
MAX_QUESTIONS = 64


async def _quiz_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    error: str | None = None,
    given: dict[int, int] | None = None,
) -> Response:
    quiz = await quiz_for(session, staff)
    context = {"quiz": quiz, "error": error, "given": given or {}}
    return render(request, "peakday/quiz.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/quiz", response_class=HTMLResponse)
async def quiz_page(request: Request, session: SessionDep, staff: Taker) -> Response:
    """The quiz on the shop's current and upcoming activities."""
    return await _quiz_page(request, session, staff)


@router.post("/quiz")
async def take_quiz(request: Request, session: SessionDep, staff: Taker) -> Response:
    """Score the answers (``q0``, ``q1``… the option's number) and keep the attempt."""
    form = await request.form()
    given: dict[int, int] = {}
    for number in range(MAX_QUESTIONS):
        value = form.get(f"q{number}")
        if isinstance(value, str) and value.isdigit() and len(value) < 3:
            given[number] = int(value)
    fingerprint = form.get("fingerprint")
    try:
        async with session.begin_nested():
            await do_take_quiz(session, staff, str(fingerprint or "")[:64], given)
    except (NotPermitted, NotFound):
        raise
    except QuizError as exc:
        return await _quiz_page(request, session, staff, error_text(request, exc), given)
    await session.commit()
    return RedirectResponse("/peakday/quiz/results", status_code=303)


@router.get("/quiz/results", response_class=HTMLResponse)
async def results_page(request: Request, session: SessionDep, staff: Taker) -> Response:
    """The leaders: each agent's latest score. An agent: their own, with the answers."""
    results = await results_for(session, staff)
    own = next((r for r in results if r.staff.id == staff.id), None)
    context = {
        "results": results,
        "leads": staff.has_role(*LEADERS),
        "lines": attempt_lines(own.latest) if own and own.latest else [],
        "own": own,
    }
    return render(request, "peakday/quiz_results.html", context, staff=staff)
