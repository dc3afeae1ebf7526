"""The agent workbench and the supervisor's live view (pages; data comes from api.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.render import error_text, render
from xiaoer.reception import calls
from xiaoer.reception.errors import ReceptionError
from xiaoer.staff.models import StaffAccount

router = APIRouter()


@router.get("/workbench", response_class=HTMLResponse)
async def workbench_page(
    request: Request,
    staff: Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))],
) -> Response:
    return render(request, "reception/workbench.html", {}, staff=staff)


Agent = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]


async def _calls_page(
    request: Request, session: SessionDep, staff: StaffAccount, error: str | None = None
) -> Response:
    context = {
        "calls": await calls.recent_calls(session, staff),
        "outcomes": calls.CALL_OUTCOMES,
        "error": error,
    }
    return render(
        request, "reception/calls.html", context, staff=staff, status_code=422 if error else 200
    )


@router.get("/reception/calls", response_class=HTMLResponse)
async def calls_page(request: Request, session: SessionDep, staff: Agent) -> Response:
    return await _calls_page(request, session, staff)


@router.post("/reception/calls", response_class=HTMLResponse)
async def log_call(
    request: Request,
    session: SessionDep,
    staff: Agent,
    contact: Annotated[str, Form(max_length=64)],
    summary: Annotated[str, Form(max_length=2000)],
    outcome: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        await calls.do_log_call_by_contact(
            session, agent=staff, contact=contact, name=name, summary=summary, outcome=outcome
        )
    except ReceptionError as exc:
        return await _calls_page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/reception/calls", status_code=303)
