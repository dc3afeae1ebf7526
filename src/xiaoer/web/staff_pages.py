"""The staff list in the browser: add, change, disable and reset a password.

Who may do what is decided by :mod:`xiaoer.staff.service` (its ``check_*``); a refusal
there (another shop's account, a supervisor at a manager's) reaches the reader as the
app's 403 or 404 page. A new or reset password is shown once, on the answer to the POST
that made it, and is nowhere else afterwards.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import local
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.core.texts import message_of
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, language_of, render
from xiaoer.shops.models import Shop
from xiaoer.staff.models import Level, Role, StaffAccount, Team
from xiaoer.staff.service import (
    STAFF_KEEPERS,
    TOP_ROLES,
    StaffError,
    do_edit_staff,
    do_hire,
    do_reset_password,
    do_switch_active,
    list_staff,
    staff_member,
)

router = APIRouter()

Keeper = Annotated[StaffAccount, Depends(require_staff(*STAFF_KEEPERS))]
Text64 = Annotated[str, Form(max_length=64)]
HISTORY = 50  # changes of an account shown on its page


def _choices(actor: StaffAccount) -> dict[str, Any]:
    return {
        "levels": [lv.value for lv in Level],
        "teams": [tm.value for tm in Team],
        "all_roles": [r.value for r in Role],
        "grantable": [
            r.value for r in Role if r.value not in TOP_ROLES or actor.has_role(*TOP_ROLES)
        ],
    }


async def _zone(session: AsyncSession, shop_id: int) -> str:
    shop = await session.get(Shop, shop_id)
    assert shop is not None
    return shop.timezone


def _shown(t: Translator, key: str, value: object) -> str:
    """An audited value as a person reads it: levels, teams and roles in words."""
    if key == "level":
        return t(f"levels.{value}")
    if key == "team":
        return t(f"teams.{value}")
    if key == "roles" and isinstance(value, list):
        return "、".join(t(f"roles.{role}") for role in value)
    if key == "active":
        return t("staff_keep.active_yes") if value else t("staff_keep.active_no")
    return str(value)


async def _history(
    session: AsyncSession, account: StaffAccount, t: Translator, zone: str
) -> list[dict[str, Any]]:
    """The account's audit entries, newest first: when (shop time), who, what changed."""
    rows = await session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.shop_id == account.shop_id,
            AuditEntry.entity == "staff",
            AuditEntry.entity_id == str(account.id),
        )
        .order_by(AuditEntry.id.desc())
        .limit(HISTORY)
    )
    shown = []
    for entry in rows:
        before, after = entry.before or {}, entry.after or {}
        changes = [
            (
                t(f"staff_keep.field_{key}"),
                _shown(t, key, before[key]) if key in before else "",
                _shown(t, key, value),
            )
            for key, value in after.items()
            if key in ("number", "name", "level", "team", "roles", "active", "username")
        ]
        shown.append(
            {
                "at": local(entry.at, zone).strftime("%Y-%m-%d %H:%M"),
                "actor": entry.actor,
                "action": t.messages.get(
                    "staff_keep.action_" + entry.action.replace(".", "_"), entry.action
                ),
                "changes": changes,
            }
        )
    return shown


async def _list_page(
    request: Request,
    session: AsyncSession,
    actor: StaffAccount,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[StaffAccount, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "team": await list_staff(session, actor.shop_id),
        "form": form or {"level": Level.junior.value, "team": Team.presale.value,
                         "roles": [Role.agent.value]},
        "errors": errors or {},
        "created": created,
        **_choices(actor),
    }  # fmt: skip
    return render(request, "staff.html", context, staff=actor, status_code=status_code)


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(request: Request, session: SessionDep, staff: Keeper) -> Response:
    return await _list_page(request, session, staff)


@router.post("/staff", response_class=HTMLResponse)
async def staff_hire(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    username: Text64 = "",
    number: Annotated[str, Form(max_length=16)] = "",
    name: Text64 = "",
    level: Annotated[str, Form(max_length=16)] = "",
    team: Annotated[str, Form(max_length=16)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    form = {"username": username, "number": number, "name": name, "level": level,
            "team": team, "roles": roles or []}  # fmt: skip
    try:
        account, password = await do_hire(
            session, staff, username=username, number=number, name=name, level=level,
            team=team, roles=roles or [],
        )  # fmt: skip
    except StaffError as exc:
        await _undo(session, staff)
        errors = _errors(request, exc)
        return await _list_page(request, session, staff, form=form, errors=errors, status_code=422)
    await session.commit()
    return await _list_page(request, session, staff, created=(account, password))


async def _member_page(
    request: Request,
    session: AsyncSession,
    actor: StaffAccount,
    account: StaffAccount,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    password: str = "",
    status_code: int = 200,
) -> Response:
    t = Translator(language_of(request, actor))
    zone = await _zone(session, actor.shop_id)
    context = {
        "member": account,
        "form": form
        or {"number": account.number, "name": account.name, "level": account.level,
            "team": account.team, "roles": list(account.roles)},
        "errors": errors or {},
        "password": password,
        "history": await _history(session, account, t, zone),
        **_choices(actor),
    }  # fmt: skip
    return render(request, "staff_member.html", context, staff=actor, status_code=status_code)


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
async def staff_page(
    request: Request, session: SessionDep, staff: Keeper, staff_id: RowId
) -> Response:
    account = await staff_member(session, staff, staff_id)
    return await _member_page(request, session, staff, account)


@router.post("/staff/{staff_id}", response_class=HTMLResponse)
async def staff_edit(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    staff_id: RowId,
    number: Annotated[str, Form(max_length=16)] = "",
    name: Text64 = "",
    level: Annotated[str, Form(max_length=16)] = "",
    team: Annotated[str, Form(max_length=16)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account = await staff_member(session, staff, staff_id)
    form = {"number": number, "name": name, "level": level, "team": team, "roles": roles or []}
    try:
        await do_edit_staff(
            session, staff, account, number=number, name=name, level=level, team=team,
            roles=roles or [],
        )  # fmt: skip
    except StaffError as exc:
        if _refusal(exc):
            raise
        await _undo(session, staff)
        account = await staff_member(session, staff, staff_id)
        errors = _errors(request, exc)
        return await _member_page(
            request, session, staff, account, form=form, errors=errors, status_code=422
        )
    await session.commit()
    return RedirectResponse(f"/staff/{account.id}", status_code=303)


def _errors(request: Request, exc: StaffError) -> dict[str, str]:
    """Each problem beside its field; one of no field above the form."""
    problems = exc.problems or {exc.field or "form": message_of(exc)}
    return {field: error_text(request, message) for field, message in problems.items()}


async def _undo(session: AsyncSession, actor: StaffAccount) -> None:
    """Roll back what a refused change may have begun; the page reads the actor again."""
    await session.rollback()
    await session.refresh(actor)


def _refusal(exc: StaffError) -> bool:
    """A who-may refusal goes to the app's 403/404 page, not beside a field."""
    return isinstance(exc, NotFound | NotPermitted) and exc.field == ""


@router.post("/staff/{staff_id}/active", response_class=HTMLResponse)
async def staff_active(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    staff_id: RowId,
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    account = await staff_member(session, staff, staff_id)
    try:
        await do_switch_active(session, staff, account, active == "yes")
    except StaffError as exc:
        if _refusal(exc):
            raise
        await _undo(session, staff)
        account = await staff_member(session, staff, staff_id)
        errors = {"form": error_text(request, exc)}
        return await _member_page(request, session, staff, account, errors=errors, status_code=422)
    await session.commit()
    return RedirectResponse(f"/staff/{account.id}", status_code=303)


@router.post("/staff/{staff_id}/password", response_class=HTMLResponse)
async def staff_password(
    request: Request, session: SessionDep, staff: Keeper, staff_id: RowId
) -> Response:
    account = await staff_member(session, staff, staff_id)
    password = await do_reset_password(session, staff, account)
    await session.commit()
    return await _member_page(request, session, staff, account, password=password)
