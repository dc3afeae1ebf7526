"""The activities pages (D2): every agent reads the shop's activities and their rules; the
supervisor and the manager add, change and end them early.

Routes parse, call :mod:`xiaoer.peakday.activities`, commit and redirect (or show the
form again with the reason beside its field); who may is decided in the service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render
from xiaoer.peakday.activities import (
    FIELDS,
    KEEPERS,
    KIND_NAMES,
    KINDS,
    READERS,
    Activity,
    ActivityError,
    activities_for,
    check_may_keep,
    do_create_activity,
    do_end_activity,
    do_update_activity,
    load_activity,
    rule_text,
    typed_input,
    typed_of,
)
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/peakday")

Reader = Annotated[StaffAccount, Depends(require_staff(*READERS))]
Keeper = Annotated[StaffAccount, Depends(require_staff(*KEEPERS))]
FORM_FIELDS = ("name", "description", "starts_at", "ends_at")
MAX_FIELD = 2000


async def _form_of(request: Request) -> dict[str, str]:
    """The typed values of an activity's form, each cut to a bounded length."""
    form = await request.form()
    return {
        key: str(value)[:MAX_FIELD]
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }


@router.get("/activities", response_class=HTMLResponse)
async def activities_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    """The shop's upcoming, running and lately ended activities with their rules."""
    activities = await activities_for(session, staff)
    zone = await shop_zone(session, staff.shop_id)
    now = utcnow()
    rows = [
        {"a": a, "state": a.state(now), "rules": rule_text(a, zone), "kind": KIND_NAMES[a.kind]}
        for a in activities
        if a.kind in KIND_NAMES
    ]
    context = {"rows": rows, "keeps": staff.has_role(*KEEPERS), "kinds": KIND_NAMES}
    return render(request, "peakday/activities.html", context, staff=staff)


async def _form_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    kind: str,
    typed: dict[str, str],
    activity: Activity | None = None,
    error: str | None = None,
    field: str = "",
) -> Response:
    context: dict[str, Any] = {
        "kind": kind,
        "kind_name": KIND_NAMES[kind],
        "fields": FIELDS[kind],
        "typed": typed,
        "activity": activity,
        "error": error,
        "field": field,
        "state": activity.state(utcnow()) if activity else "",
    }
    return render(request, "peakday/activities_form.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


async def _typed_now(
    session: AsyncSession, staff: StaffAccount, activity: Activity
) -> dict[str, str]:
    """An activity as its form types it, times on the shop's clock."""
    zone = await shop_zone(session, staff.shop_id)
    return {
        "name": activity.name,
        "description": activity.promotion.description,
        "starts_at": activity.promotion.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": activity.promotion.ends_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        **typed_of(activity.kind, activity.rules, zone),
    }


@router.get("/activities/new", response_class=HTMLResponse)
async def new_activity_page(
    request: Request, session: SessionDep, staff: Keeper, kind: str = "full_reduction"
) -> Response:
    check_may_keep(staff)
    chosen = kind if kind in KINDS else "full_reduction"
    return await _form_page(request, session, staff, chosen, {})


@router.post("/activities")
async def create_activity(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    kind: Annotated[str, Form(max_length=24)],
) -> Response:
    """Add an activity of a kind with its rules."""
    check_may_keep(staff)
    typed = await _form_of(request)
    chosen = kind if kind in KINDS else "full_reduction"
    zone = await shop_zone(session, staff.shop_id)
    try:
        async with session.begin_nested():
            made = await do_create_activity(session, staff, typed_input(kind, typed, zone))
    except (NotPermitted, NotFound):
        raise
    except ActivityError as exc:
        return await _form_page(request, session, staff, chosen, typed, None,
                                error_text(request, exc), exc.field)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/peakday/activities#activity-{made.id}", status_code=303)


@router.get("/activities/{promotion_id}", response_class=HTMLResponse)
async def activity_page(
    request: Request, session: SessionDep, staff: Keeper, promotion_id: RowId
) -> Response:
    """One activity's form, to change it or end it early."""
    check_may_keep(staff)
    activity = await load_activity(session, staff, promotion_id)
    typed = await _typed_now(session, staff, activity)
    return await _form_page(request, session, staff, activity.kind, typed, activity)


@router.post("/activities/{promotion_id}")
async def update_activity(
    request: Request, session: SessionDep, staff: Keeper, promotion_id: RowId
) -> Response:
    check_may_keep(staff)
    activity = await load_activity(session, staff, promotion_id)
    typed = await _form_of(request)
    zone = await shop_zone(session, staff.shop_id)
    try:
        async with session.begin_nested():
            await do_update_activity(
                session, staff, promotion_id, typed_input(activity.kind, typed, zone)
            )
    except (NotPermitted, NotFound):
        raise
    except ActivityError as exc:
        return await _form_page(request, session, staff, activity.kind, typed, activity,
                                error_text(request, exc), exc.field)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/peakday/activities#activity-{promotion_id}", status_code=303)


@router.post("/activities/{promotion_id}/end")
async def end_activity(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    promotion_id: RowId,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End an activity now, with the reason (audited)."""
    try:
        async with session.begin_nested():
            await do_end_activity(session, staff, promotion_id, reason)
    except (NotPermitted, NotFound):
        raise
    except ActivityError as exc:
        activity = await load_activity(session, staff, promotion_id)
        typed = await _typed_now(session, staff, activity)
        return await _form_page(request, session, staff, activity.kind, typed, activity,
                                error_text(request, exc), "reason")  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/peakday/activities#activity-{promotion_id}", status_code=303)
