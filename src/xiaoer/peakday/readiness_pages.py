"""The peak day's front page (``/peakday``): the readiness checklist for the shop's peak
mode that is on or next, each item with what it found and where to act on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.render import render
from xiaoer.peakday.readiness import readiness
from xiaoer.staff.models import LEADERS, StaffAccount

router = APIRouter(prefix="/peakday")

Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]


@router.get("", response_class=HTMLResponse)
async def ready_page(request: Request, session: SessionDep, staff: Leader) -> Response:
    found = await readiness(session, staff)
    return render(request, "peakday/readiness.html", {"readiness": found}, staff=staff)
