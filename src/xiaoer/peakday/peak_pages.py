"""Peak mode's pages (``/peakday/peak``): the shop's peak modes and a new one prepared
(window on the shop's clock, the role split, the cap per agent, held refunds, the
forecast to staff for); one peak mode changed, called off, switched by hand, and its
replies and phrases marked reviewed.

Routes parse, call :mod:`xiaoer.peakday.peak_mode`, commit and redirect, or show the
page again with the reason and what was typed; who may do what is decided there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc
from xiaoer.core.texts import say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import refused, render
from xiaoer.peakday.forecast import forecasts_of
from xiaoer.peakday.models import PeakMode
from xiaoer.peakday.peak_mode import (
    TEAMS,
    PeakModeError,
    Preparation,
    do_cancel,
    do_change,
    do_mark_reviewed,
    do_prepare,
    do_switch,
    mode_of,
    modes_of,
)
from xiaoer.peakday.readiness import prepared_counts
from xiaoer.shops.models import Shop
from xiaoer.staff.models import LEADERS, Role, StaffAccount

router = APIRouter(prefix="/peakday/peak")

Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]


async def _zone(session: AsyncSession, shop_id: int) -> ZoneInfo:
    shop = await session.get(Shop, shop_id)
    assert shop is not None
    return ZoneInfo(shop.timezone)


def _moment(text: str, zone: ZoneInfo, field: str) -> datetime:
    try:
        local = datetime.fromisoformat(text.strip()[:32])
    except ValueError:
        raise PeakModeError(say("give the time as YYYY-MM-DD HH:MM"), field) from None
    return local.replace(tzinfo=zone) if local.tzinfo is None else local


def _preparation(form: Any, zone: ZoneInfo) -> Preparation:
    cap_text = str(form.get("agent_cap", "") or "").strip()[:8]
    try:
        cap = int(cap_text) if cap_text else None
    except ValueError:
        raise PeakModeError(say("not a number: {text}", text=cap_text), "agent_cap") from None
    forecast_text = str(form.get("forecast_id", "") or "").strip()[:12]
    teams: dict[int, str] = {}
    for key, value in form.multi_items():
        if key.startswith("team-") and key[5:].isdigit() and str(value) in TEAMS:
            teams[int(key[5:])] = str(value)
    return Preparation(
        name=str(form.get("name", "") or "")[:200],
        starts_at=_moment(str(form.get("starts_at", "")), zone, "starts_at"),
        ends_at=_moment(str(form.get("ends_at", "")), zone, "ends_at"),
        agent_cap=cap,
        refund_blackout=form.get("refund_blackout") == "1",
        teams=teams,
        forecast_id=int(forecast_text) if forecast_text.isdigit() else None,
        note=str(form.get("note", "") or "")[:2000],
    )


def _typed(form: Any) -> dict[str, Any]:
    typed: dict[str, Any] = {key: str(form.get(key, "") or "")[:200] for key in
                             ("name", "starts_at", "ends_at", "agent_cap", "forecast_id",
                              "note")}  # fmt: skip
    typed["refund_blackout"] = form.get("refund_blackout") == "1"
    typed["teams"] = {k[5:]: str(v) for k, v in form.multi_items() if k.startswith("team-")}
    return typed


def _typed_of(mode: PeakMode, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "name": mode.name,
        "starts_at": as_utc(mode.starts_at).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": as_utc(mode.ends_at).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "agent_cap": "" if mode.agent_cap is None else str(mode.agent_cap),
        "forecast_id": "" if mode.forecast_id is None else str(mode.forecast_id),
        "note": mode.note,
        "refund_blackout": mode.refund_blackout,
        "teams": dict(mode.teams),
    }


async def _agents(session: AsyncSession, shop_id: int) -> list[StaffAccount]:
    return [
        a
        for a in await session.scalars(
            select(StaffAccount)
            .where(StaffAccount.shop_id == shop_id, StaffAccount.active.is_(True))
            .order_by(StaffAccount.number)
        )
        if a.has_role(Role.agent.value, *LEADERS)
    ]


async def _form_context(session: AsyncSession, staff: StaffAccount) -> dict[str, Any]:
    replies, phrases = await prepared_counts(session, staff.shop_id)
    return {
        "agents": await _agents(session, staff.shop_id),
        "forecasts": await forecasts_of(session, staff),
        "teams": TEAMS,
        "prepared": {"replies": replies, "phrases": phrases},
    }


async def _list_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    typed: dict[str, Any] | None = None,
    error: str = "",
) -> Response:
    context = {
        **await _form_context(session, staff),
        "modes": await modes_of(session, staff),
        "typed": typed or {"refund_blackout": True, "teams": {}},
        "error": error,
    }
    return render(request, "peakday/peak_modes.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("", response_class=HTMLResponse)
async def peak_modes(request: Request, session: SessionDep, staff: Leader) -> Response:
    return await _list_page(request, session, staff)


@router.post("")
async def prepare(request: Request, session: SessionDep, staff: Leader) -> Response:
    form = await request.form()
    zone = await _zone(session, staff.shop_id)
    made: list[PeakMode] = []

    async def act() -> None:
        made.append(await do_prepare(session, staff, _preparation(form, zone)))

    message = await refused(request, session, act())
    if message is not None:
        return await _list_page(request, session, staff, typed=_typed(form), error=message)
    await session.commit()
    return RedirectResponse(f"/peakday/peak/{made[0].id}", status_code=303)


async def _mode_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    mode: PeakMode,
    *,
    typed: dict[str, Any] | None = None,
    error: str = "",
) -> Response:
    zone = await _zone(session, staff.shop_id)
    names = {a.id: a.name for a in await _agents(session, staff.shop_id)}
    reviewer = (
        await session.get(StaffAccount, mode.phrases_reviewed_by)
        if mode.phrases_reviewed_by
        else None
    )
    context = {
        **await _form_context(session, staff),
        "mode": mode,
        "typed": typed or _typed_of(mode, zone),
        "split": sorted((names.get(int(k), k), v) for k, v in mode.teams.items()),
        "reviewer": reviewer,
        "error": error,
    }
    return render(request, "peakday/peak_mode.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/{mode_id}", response_class=HTMLResponse)
async def peak_mode_page(
    request: Request, session: SessionDep, staff: Leader, mode_id: RowId
) -> Response:
    return await _mode_page(request, session, staff, await mode_of(session, staff, mode_id))


@router.post("/{mode_id}")
async def change(request: Request, session: SessionDep, staff: Leader, mode_id: RowId) -> Response:
    mode = await mode_of(session, staff, mode_id)
    form = await request.form()
    zone = await _zone(session, staff.shop_id)

    async def act() -> None:
        await do_change(session, staff, mode.id, _preparation(form, zone))

    message = await refused(request, session, act())
    if message is not None:
        return await _mode_page(request, session, staff, mode, typed=_typed(form), error=message)
    await session.commit()
    return RedirectResponse(f"/peakday/peak/{mode.id}", status_code=303)


async def _act(
    request: Request, session: AsyncSession, staff: StaffAccount, mode_id: int, action: Any
) -> Response:
    mode = await mode_of(session, staff, mode_id)
    message = await refused(request, session, action(mode))
    if message is not None:
        return await _mode_page(request, session, staff, mode, error=message)
    await session.commit()
    return RedirectResponse(f"/peakday/peak/{mode.id}", status_code=303)


@router.post("/{mode_id}/cancel")
async def cancel(request: Request, session: SessionDep, staff: Leader, mode_id: RowId) -> Response:
    return await _act(request, session, staff, mode_id,
                      lambda mode: do_cancel(session, staff, mode.id))  # fmt: skip


@router.post("/{mode_id}/on")
async def switch_on_now(
    request: Request, session: SessionDep, staff: Leader, mode_id: RowId
) -> Response:
    return await _act(request, session, staff, mode_id,
                      lambda mode: do_switch(session, staff, mode.id, True))  # fmt: skip


@router.post("/{mode_id}/off")
async def switch_off_now(
    request: Request, session: SessionDep, staff: Leader, mode_id: RowId
) -> Response:
    return await _act(request, session, staff, mode_id,
                      lambda mode: do_switch(session, staff, mode.id, False))  # fmt: skip


@router.post("/{mode_id}/reviewed")
async def reviewed(
    request: Request, session: SessionDep, staff: Leader, mode_id: RowId
) -> Response:
    return await _act(request, session, staff, mode_id,
                      lambda mode: do_mark_reviewed(session, staff, mode.id))  # fmt: skip
