"""The agent workbench and the supervisor's live view (pages; data comes from api.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from xiaoer.staff.models import StaffAccount
from xiaoer.web.deps import require_staff
from xiaoer.web.render import render

router = APIRouter()


@router.get("/workbench", response_class=HTMLResponse)
async def workbench_page(
    request: Request,
    staff: Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))],
) -> Response:
    return render(request, "reception/workbench.html", {}, staff=staff)
