"""The targets page (D3): the manager sets the shop's targets, everyone who works the
floor reads their progress, refreshed live by ``static/targets.js`` from the progress
fragment. Who may is decided in ``targets``; these routes parse, call it, commit and
render.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.policy_store import policy_on
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import refused, render
from xiaoer.peakday.target_models import Measure, TargetPeriod
from xiaoer.peakday.target_progress import progress, roll_up_for, targets_for
from xiaoer.peakday.targets import (
    SETTERS,
    TargetForm,
    do_add_target,
    do_change_target,
    do_remove_target,
    form_of,
    goals_of,
    shown_measures,
)
from xiaoer.shops.service import shop_today, shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount, Team

router = APIRouter(prefix="/peakday/targets")

Reader = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]
Setter = Annotated[StaffAccount, Depends(require_staff(*SETTERS))]
Text = Annotated[str, Form(max_length=64)]


async def _progress(session: AsyncSession, staff: StaffAccount) -> list[Any]:
    assert staff.shop_id is not None
    now = utcnow()
    targets = await targets_for(session, staff, now=now)
    await roll_up_for(session, staff.shop_id, targets, now)
    await session.commit()
    return await progress(session, staff.shop_id, targets, now, shown_measures(staff))


async def _page(
    request: Request, session: AsyncSession, staff: StaffAccount, *, error: str = "",
    form: TargetForm | None = None, editing: int | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    assert staff.shop_id is not None
    rows = await _progress(session, staff)
    setter = staff.has_role(*SETTERS)
    zone = await shop_zone(session, staff.shop_id)
    today = await shop_today(session, staff.shop_id)
    forms = {}
    if setter:
        for row in rows:
            forms[row.target.id] = (
                form if editing == row.target.id and form is not None
                else form_of(row.target, await goals_of(session, row.target), zone)
            )  # fmt: skip
    milestones = (await policy_on(session, staff.shop_id, today)).targets.monthly_trades
    blank = TargetForm(period="month", month=today.strftime("%Y-%m"), day=today.isoformat(),
                       trades="/".join(str(m) for m in sorted(milestones)))  # fmt: skip
    context = {
        "progress": rows, "setter": setter, "forms": forms, "editing": editing,
        "new": form if editing is None and form is not None else blank,
        "error": error, "done": request.query_params.get("done", ""),
        "periods": [p.value for p in TargetPeriod], "teams": [t.value for t in Team],
        "measures": [m.value for m in Measure], "zone": str(zone),
    }  # fmt: skip
    return render(request, "peakday/targets.html", context, staff=staff, status_code=status_code)


@router.get("", response_class=HTMLResponse)
async def targets_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _page(request, session, staff)


@router.get("/progress", response_class=HTMLResponse)
async def progress_fragment(request: Request, session: SessionDep, staff: Reader) -> Response:
    """The progress table alone, for the page's script to refresh it in place."""
    rows = await _progress(session, staff)
    assert staff.shop_id is not None
    zone = str(await shop_zone(session, staff.shop_id))
    return render(request, "peakday/targets_progress.html",
                  {"progress": rows, "zone": zone}, staff=staff)  # fmt: skip


def _form(
    period: str, day: str, month: str, name: str, starts: str, ends: str, team: str,
    trades: str, sales: str, conversion: str,
) -> TargetForm:  # fmt: skip
    return TargetForm(period=period, day=day, month=month, name=name, starts=starts, ends=ends,
                      team=team, trades=trades, sales=sales, conversion=conversion)  # fmt: skip


@router.post("")
async def add_target(
    request: Request, session: SessionDep, staff: Setter, period: Text = "", day: Text = "",
    month: Text = "", name: Text = "", starts: Text = "", ends: Text = "", team: Text = "",
    trades: Text = "", sales: Text = "", conversion: Text = "",
) -> Response:  # fmt: skip
    form = _form(period, day, month, name, starts, ends, team, trades, sales, conversion)
    message = await refused(request, session, do_add_target(session, staff, form))
    if message is not None:
        return await _page(request, session, staff, error=message, form=form, status_code=422)
    await session.commit()
    return RedirectResponse("/peakday/targets?done=added", status_code=303)


@router.post("/{target_id}")
async def change_target(
    request: Request, session: SessionDep, staff: Setter, target_id: RowId,
    period: Text = "", day: Text = "", month: Text = "", name: Text = "", starts: Text = "",
    ends: Text = "", team: Text = "", trades: Text = "", sales: Text = "",
    conversion: Text = "",
) -> Response:  # fmt: skip
    form = _form(period, day, month, name, starts, ends, team, trades, sales, conversion)
    message = await refused(request, session, do_change_target(session, staff, target_id, form))
    if message is not None:
        return await _page(request, session, staff, error=message, form=form,
                           editing=target_id, status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse("/peakday/targets?done=changed", status_code=303)


@router.post("/{target_id}/delete")
async def remove_target(
    request: Request, session: SessionDep, staff: Setter, target_id: RowId
) -> Response:
    await do_remove_target(session, staff, target_id)
    await session.commit()
    return RedirectResponse("/peakday/targets?done=removed", status_code=303)
