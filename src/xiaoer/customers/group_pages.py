"""Customer groups' pages (``/customers/groups``): the groups with their counts, a new
group by rule (from a ready-made suggestion or not) or by hand, one group's members
searched a page at a time, its rule edited, its hand-picked members added and removed,
and its workbook.

Routes parse, call :mod:`xiaoer.customers.groups`, commit and redirect, or show the
page again with the reason and what was typed; who may do what is decided there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.customers.filters import FIELDS
from xiaoer.customers.groups import (
    SUGGESTIONS,
    conditions_of,
    do_add_member_by,
    do_add_members,
    do_create_group,
    do_delete_group,
    do_remove_member,
    do_update_group,
    group_of,
    list_groups,
    rule_from_rows,
    rule_rows,
)
from xiaoer.customers.list_pages import hand_groups, list_context, workbook_response
from xiaoer.customers.listing import parse_filter
from xiaoer.customers.models import CustomerGroup, GroupKind
from xiaoer.customers.people import MANAGERS
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import MAX_ID, RowId
from xiaoer.http.render import language_of, refused, render
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers/groups")

Manager = Annotated[StaffAccount, Depends(require_staff(*MANAGERS))]
Name = Annotated[str, Form(max_length=200)]
Note = Annotated[str, Form(max_length=2000)]
EMPTY_ROWS = 2  # blank rule rows offered below the rule's own


def _rows(rule: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [*rule_rows(rule), *({"field": "", "op": "", "value": "", "days": ""}
                                for _ in range(EMPTY_ROWS))]  # fmt: skip


def _form_rule(form: Any) -> list[dict[str, Any]]:
    def values(name: str) -> list[str]:
        return [str(v)[:200] for v in form.getlist(name)]

    return rule_from_rows(values("field"), values("op"), values("value"), values("days"))


def _rule_words() -> dict[str, Any]:
    return {"fields": FIELDS, "suggestions": SUGGESTIONS}


async def _groups_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    typed: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    suggestion = request.query_params.get("suggest", "")
    start = SUGGESTIONS.get(suggestion, [])
    typed = typed or {"name": "", "kind": GroupKind.rule.value, "note": "", "rows": _rows(start)}
    context = {
        **_rule_words(),
        "lines": await list_groups(session, staff),
        "typed": typed,
        "suggestion": suggestion if suggestion in SUGGESTIONS else "",
        "error": error,
    }
    return render(request, "customers/groups.html", context, staff=staff,
                  status_code=status_code)  # fmt: skip


@router.get("", response_class=HTMLResponse)
async def groups(request: Request, session: SessionDep, staff: Manager) -> Response:
    """The shop's groups with their members counted, and the form for a new one."""
    return await _groups_page(request, session, staff)


@router.post("")
async def create_group(request: Request, session: SessionDep, staff: Manager) -> Response:
    """A new group by rule or by hand."""
    form = await request.form()
    name, kind = str(form.get("name", ""))[:200], str(form.get("kind", ""))[:16]
    note = str(form.get("note", ""))[:2000]
    rule = _form_rule(form)
    made: list[CustomerGroup] = []

    async def create() -> None:
        made.append(await do_create_group(session, staff, name=name, kind=kind, rule=rule,
                                          note=note))  # fmt: skip

    message = await refused(request, session, create())
    if message is not None:
        typed = {"name": name, "kind": kind, "note": note, "rows": _rows(rule)}
        return await _groups_page(request, session, staff, typed=typed, error=message,
                                  status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/customers/groups/{made[0].id}", status_code=303)


@router.post("/add")
async def add_from_list(request: Request, session: SessionDep, staff: Manager) -> Response:
    """Customers ticked on the list put into a hand group."""
    form = await request.form()
    group_text = str(form.get("group", ""))
    ticked = [str(v) for v in form.getlist("customer")][:1000]
    ids = [
        int(v) for v in ticked if v.isascii() and v.isdigit() and len(v) < 20 and int(v) <= MAX_ID
    ]
    if not (group_text.isascii() and group_text.isdigit()) or not 1 <= int(group_text) <= MAX_ID:
        pick = Translator(language_of(request, staff))("customers_groups.pick_group")
        return await _list_again(request, session, staff, pick, ids)
    message = await refused(request, session, do_add_members(session, staff, int(group_text), ids))
    if message is not None:
        return await _list_again(request, session, staff, message, ids)
    await session.commit()
    return RedirectResponse(f"/customers/groups/{group_text}", status_code=303)


async def _list_again(
    request: Request, session: AsyncSession, staff: StaffAccount, error: str, ticked: list[int]
) -> Response:
    """The list's first page again with the reason, the ticked customers still ticked."""
    chosen = parse_filter({})
    context = await list_context(request, session, staff, chosen, base="/customers")
    context.update(groups=await hand_groups(session, staff), add_error=error, ticked=set(ticked))
    return render(request, "customers/list.html", context, staff=staff, status_code=422)


async def _group_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    group_id: int,
    *,
    typed: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    group = await group_of(session, staff, group_id)
    chosen = parse_filter(request.query_params)
    base = f"/customers/groups/{group.id}"
    context = await list_context(request, session, staff, chosen, base=base,
                                 extra=conditions_of(group))  # fmt: skip
    context.update(
        _rule_words(),
        group=group,
        typed=typed or {"name": group.name, "note": group.note, "rows": _rows(group.rule)},
        error=error,
        hand=group.kind == GroupKind.hand,
    )
    return render(request, "customers/group.html", context, staff=staff, status_code=status_code)


@router.get("/{group_id}", response_class=HTMLResponse)
async def group_page(
    request: Request, session: SessionDep, staff: Manager, group_id: RowId
) -> Response:
    """One group: its members a page at a time (searched like the list), its rule."""
    return await _group_page(request, session, staff, group_id)


@router.post("/{group_id}")
async def update_group(
    request: Request, session: SessionDep, staff: Manager, group_id: RowId
) -> Response:
    """The group's name, note and (a rule group's) rule changed."""
    form = await request.form()
    name, note = str(form.get("name", ""))[:200], str(form.get("note", ""))[:2000]
    rule = _form_rule(form)
    action = do_update_group(session, staff, group_id, name=name, rule=rule, note=note)
    message = await refused(request, session, action)
    if message is not None:
        typed = {"name": name, "note": note, "rows": _rows(rule)}
        return await _group_page(request, session, staff, group_id, typed=typed, error=message,
                                 status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/customers/groups/{group_id}", status_code=303)


@router.post("/{group_id}/delete")
async def delete_group(
    request: Request, session: SessionDep, staff: Manager, group_id: RowId
) -> Response:
    message = await refused(request, session, do_delete_group(session, staff, group_id))
    if message is not None:
        return await _group_page(request, session, staff, group_id, error=message,
                                 status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse("/customers/groups", status_code=303)


@router.post("/{group_id}/add")
async def add_member(
    request: Request, session: SessionDep, staff: Manager, group_id: RowId, who: Name = ""
) -> Response:
    """A customer found by phone or nick put into the hand group."""
    message = await refused(request, session, do_add_member_by(session, staff, group_id, who))
    if message is not None:
        return await _group_page(request, session, staff, group_id, error=message,
                                 status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/customers/groups/{group_id}", status_code=303)


@router.post("/{group_id}/remove")
async def remove_member(
    request: Request,
    session: SessionDep,
    staff: Manager,
    group_id: RowId,
    customer: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    """One customer taken out of the hand group."""
    message = await refused(request, session, do_remove_member(session, staff, group_id, customer))
    if message is not None:
        return await _group_page(request, session, staff, group_id, error=message,
                                 status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/customers/groups/{group_id}", status_code=303)


@router.get("/{group_id}/export.xlsx", response_class=HTMLResponse)
async def group_export(
    request: Request, session: SessionDep, staff: Manager, group_id: RowId
) -> Response:
    """The group's members (narrowed by the page's search) as a workbook."""
    group = await group_of(session, staff, group_id)
    chosen = parse_filter(request.query_params)
    made = await workbook_response(request, session, staff, chosen, extra=conditions_of(group),
                                   name=f"group-{group.id}", title=group.name)  # fmt: skip
    if isinstance(made, Response):
        return made
    return await _group_page(request, session, staff, group_id, error=made, status_code=422)


__all__ = ["router"]
