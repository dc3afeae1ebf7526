"""The greetings page (R3): the shop's words, a day's plan, and the log of sendings.

Who may is decided in ``greetings`` (``check_manager``, ``check_plan``); these routes
parse, call it, commit and render.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.texts import message_of, say
from xiaoer.customers.greetings import (
    GreetingError,
    do_plan_for,
    do_save_template,
    greeting_log,
    preview_day,
    template_rows,
)
from xiaoer.customers.occasions import TITLES, check_day
from xiaoer.customers.people import MANAGERS
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, refused, render
from xiaoer.shops.service import shop_today, shop_zone
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers/greetings")

Manager = Annotated[StaffAccount, Depends(require_staff(*MANAGERS))]
STATUSES = ("planned", "sent", "skipped", "failed")


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise GreetingError(say("expected a day like 2026-02-17")) from exc
    try:
        return check_day(day)
    except ValueError as exc:
        raise GreetingError(message_of(exc)) from exc


async def _page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    day: str = "",
    status: str = "",
    page: int = 1,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert staff.shop_id is not None
    today = await shop_today(session, staff.shop_id)
    plan = None
    if day and not error:
        try:
            plan = await preview_day(session, staff, _day(day))
        except GreetingError as exc:
            error, status_code = error_text(request, exc), 422
    try:
        log, more = await greeting_log(session, staff, status=status, page=page)
    except GreetingError as exc:
        error, status_code = error_text(request, exc), 422
        log, more = await greeting_log(session, staff, page=1)
    context: dict[str, Any] = {
        "zone": str(await shop_zone(session, staff.shop_id)),
        "templates": await template_rows(session, staff),
        "plan": plan,
        "day": day or today.isoformat(),
        "log": log,
        "more": more,
        "page": page,
        "status": status,
        "statuses": STATUSES,
        "titles": TITLES,
        "error": error,
        "form": form or {},
        "done": request.query_params.get("done", ""),
        "query": lambda **values: urlencode(
            {k: v for k, v in {"day": day, "status": status, **values}.items() if v}
        ),
    }
    return render(
        request, "customers/greetings.html", context, staff=staff, status_code=status_code
    )


@router.get("")
async def greetings_page(
    request: Request,
    session: SessionDep,
    staff: Manager,
    day: Annotated[str, Query(max_length=10)] = "",
    status: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    return await _page(request, session, staff, day=day, status=status, page=page)


async def _save(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    template_id: int | None,
    kind: str,
    name: str,
    body: str,
    active: str,
) -> Response:
    action = do_save_template(
        session, staff, kind=kind, name=name, body=body, active=bool(active),
        template_id=template_id,
    )  # fmt: skip
    message = await refused(request, session, action)
    if message is not None:
        form = {"kind": kind, "name": name, "body": body}
        return await _page(request, session, staff, error=message, form=form, status_code=422)
    await session.commit()
    return RedirectResponse("/customers/greetings?done=saved", status_code=303)


@router.post("/templates")
async def save_template(
    request: Request,
    session: SessionDep,
    staff: Manager,
    kind: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=2000)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    return await _save(request, session, staff, None, kind, name, body, active)


@router.post("/templates/{template_id}")
async def edit_template(
    request: Request,
    session: SessionDep,
    staff: Manager,
    template_id: RowId,
    kind: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=2000)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    return await _save(request, session, staff, template_id, kind, name, body, active)


@router.post("/plan")
async def plan(
    request: Request,
    session: SessionDep,
    staff: Manager,
    day: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    added: list[int] = []

    async def run() -> None:
        _, count = await do_plan_for(session, staff, _day(day))
        added.append(count)

    message = await refused(request, session, run())
    if message is not None:
        return await _page(request, session, staff, error=message, status_code=422)
    await session.commit()
    query = urlencode({"day": day.strip(), "done": "planned", "added": added[0]})
    return RedirectResponse(f"/customers/greetings?{query}", status_code=303)
