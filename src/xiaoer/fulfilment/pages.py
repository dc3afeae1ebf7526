"""The fulfilment section's door: ``/fulfilment`` leads each role to its own screen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from xiaoer.fulfilment.roles import BACK_OFFICE, first_screen
from xiaoer.http.deps import require_staff
from xiaoer.staff.models import StaffAccount

router = APIRouter()


@router.get("/fulfilment")
async def fulfilment_home(
    staff: Annotated[StaffAccount, Depends(require_staff(*BACK_OFFICE))],
) -> RedirectResponse:
    return RedirectResponse(first_screen(staff), status_code=303)
