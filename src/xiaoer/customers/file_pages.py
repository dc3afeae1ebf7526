"""The customer file's pages: one person's file, its edits, merges and undo, greetings
on or off, and the buyer's data exported or erased on request.

Routes parse, call the services (``customers.file``, ``merges``, ``privacy``), commit
and redirect, or show the file again with the rule's refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.customers.edits import do_edit_customer, do_greetings_off, do_greetings_on
from xiaoer.customers.file import customer_file
from xiaoer.customers.merges import do_merge, do_undo_merge, merge_candidates, merge_for
from xiaoer.customers.people import PRIVACY, READERS
from xiaoer.customers.privacy import CONFIRM_WORD, do_erase, export_person
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import language_of, refused, render
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers")

Reader = Annotated[StaffAccount, Depends(require_staff(*READERS))]
Privacy = Annotated[StaffAccount, Depends(require_staff(*PRIVACY))]

EDIT_FIELDS = ("name", "gender", "city", "tags", "notes", "phone", "email")
BIRTH_FIELDS = ("birth_year", "birth_month", "birth_day", "birth_lunar", "birth_leap")
_IDS = re.compile(r"[\s,，、]+")


async def _form(request: Request) -> dict[str, str]:
    raw = await request.form()
    return {key: value[:4000] for key, value in raw.items() if isinstance(value, str)}


async def _file_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    *,
    error: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    shown = await customer_file(session, staff, customer_id)
    candidates = (
        await merge_candidates(session, staff, shown.person.id)
        if shown.may_merge and not shown.erased
        else []
    )
    context: dict[str, Any] = {
        "f": shown,
        "candidates": candidates,
        "error": error,
        "typed": typed or {},
        "done": request.query_params.get("done", "")[:16],
        "language": language_of(request, staff),
        "confirm_word": CONFIRM_WORD,
        "weekdays": range(7),
        "hours": range(24),
    }
    return render(
        request, "customers/file_page.html", context, staff=staff,
        status_code=422 if error else 200,
    )  # fmt: skip


async def _act(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    action: Awaitable[Any],
    done: str,
    typed: dict[str, str] | None = None,
) -> Response:
    message = await refused(request, session, action)
    if message is not None:
        return await _file_page(request, session, staff, customer_id, error=message, typed=typed)
    await session.commit()
    return RedirectResponse(f"/customers/{customer_id}?done={done}", status_code=303)


@router.get("/{customer_id:int}")
async def file_page(
    request: Request, session: SessionDep, staff: Reader, customer_id: RowId
) -> Response:
    return await _file_page(request, session, staff, customer_id)


@router.post("/{customer_id:int}")
async def edit_customer(
    request: Request, session: SessionDep, staff: Reader, customer_id: RowId
) -> Response:
    form = await _form(request)
    fields: dict[str, Any] = {k: form[k] for k in EDIT_FIELDS if k in form}
    if "birth_month" in form:  # the birthday's fields come together, checkboxes or not
        fields.update({k: form.get(k, "") for k in BIRTH_FIELDS})
    action = do_edit_customer(session, staff, customer_id, fields)
    return await _act(request, session, staff, customer_id, action, "saved", typed=form)


@router.post("/{customer_id:int}/greetings")
async def set_greetings(
    request: Request, session: SessionDep, staff: Reader, customer_id: RowId
) -> Response:
    form = await _form(request)
    on = form.get("on", "") in ("1", "yes", "on")
    action = (do_greetings_on if on else do_greetings_off)(session, staff, customer_id)
    return await _act(request, session, staff, customer_id, action, "greetings")


def _ids(words: list[str]) -> tuple[list[int], list[str]]:
    """The persons picked (checkboxes ``ids`` and typed numbers) and what is no number."""
    picked: list[int] = []
    bad: list[str] = []
    for word in (w for value in words for w in _IDS.split(value) if w):
        if word.isdigit() and len(word) < 19:
            if int(word) not in picked:
                picked.append(int(word))
        else:
            bad.append(word[:20])
    return picked, bad


@router.post("/{customer_id:int}/merge")
async def merge(
    request: Request, session: SessionDep, staff: Reader, customer_id: RowId
) -> Response:
    raw = await request.form()
    form = {k: v[:4000] for k, v in raw.items() if isinstance(v, str)}
    words = [v for v in raw.getlist("ids") if isinstance(v, str)] + [form.get("more", "")]
    ids, bad = _ids(words)
    how = form.get("how", "hand")[:8]
    action = do_merge(session, staff, customer_id, ids, how, not_numbers=bad)
    return await _act(request, session, staff, customer_id, action, "merged", typed=form)


@router.post("/merges/{merge_id}/undo")
async def undo_merge(
    request: Request, session: SessionDep, staff: Reader, merge_id: RowId
) -> Response:
    merge_row = await merge_for(session, staff, merge_id)
    into = merge_row.into_id
    action = do_undo_merge(session, staff, merge_id)
    return await _act(request, session, staff, into, action, "undone")


@router.get("/{customer_id:int}/export.json")
async def export(session: SessionDep, staff: Privacy, customer_id: RowId) -> Response:
    document = await export_person(session, staff, customer_id)
    await session.commit()  # the export's audit entry
    body = json.dumps(document, ensure_ascii=False, indent=1)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="customer-{document["person"]}.json"'
        },
    )


@router.post("/{customer_id:int}/erase")
async def erase(
    request: Request, session: SessionDep, staff: Privacy, customer_id: RowId
) -> Response:
    form = await _form(request)
    action = do_erase(
        session, staff, customer_id, form.get("reason", "")[:600], confirm=form.get("confirm", "")
    )
    return await _act(request, session, staff, customer_id, action, "erased", typed=form)
