"""The knowledge-base page: read by everyone at the workbench, kept by the manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.assistant import kb
from xiaoer.assistant.classifier import BARGAIN_TYPES, INTENTS
from xiaoer.assistant.knowledge import Entry, default_entries
from xiaoer.core.errors import NotPermitted
from xiaoer.core.sheets import SheetError
from xiaoer.core.texts import message_of, say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.render import error_text, render, report_shown
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/assistant")

Reader = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]
Manager = Annotated[StaffAccount, Depends(require_staff("manager"))]
MAX_UPLOAD = 2 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _page(
    request: Request, session: SessionDep, staff: StaffAccount, **extra: object
) -> Response:
    stored = await kb.stored_entries(session, staff.shop_id)
    entries = (
        [
            Entry(e.intent, e.title, e.answer, tuple(e.questions), e.bargain_type, e.id)
            for e in stored
            if e.active
        ]
        if stored
        else list(default_entries())
    )
    context = {
        "entries": entries,
        "using_defaults": not stored,
        "may_edit": staff.has_role("manager"),
        "intents": INTENTS,
        "bargain_types": BARGAIN_TYPES,
        "variables": kb.VARIABLES,
        "error": None,
        "report": None,
    }
    context.update(extra)
    status = 422 if extra.get("error") else 200
    return render(request, "assistant/knowledge.html", context, staff=staff, status_code=status)


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _page(request, session, staff)


@router.post("/knowledge", response_class=HTMLResponse)
async def save_entry(
    request: Request,
    session: SessionDep,
    staff: Manager,
    intent: Annotated[str, Form(max_length=32)],
    title: Annotated[str, Form(max_length=64)],
    answer: Annotated[str, Form(max_length=2000)],
    questions: Annotated[str, Form(max_length=4000)] = "",
    bargain_type: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    item = kb.EntryInput(
        intent=intent.strip(),
        title=title.strip(),
        answer=answer.strip(),
        questions=kb.questions_from(questions),
        bargain_type=bargain_type.strip() or None,
    )
    try:
        await kb.do_save_entry(session, shop_id=staff.shop_id, item=item)
    except kb.KnowledgeError as exc:
        return await _page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/assistant/knowledge", status_code=303)


@router.post("/knowledge/delete", response_class=HTMLResponse)
async def delete_entry(
    request: Request,
    session: SessionDep,
    staff: Manager,
    intent: Annotated[str, Form(max_length=32)],
    title: Annotated[str, Form(max_length=64)],
) -> Response:
    try:
        await kb.do_delete_entry(session, shop_id=staff.shop_id, intent=intent, title=title)
    except kb.KnowledgeError as exc:
        return await _page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/assistant/knowledge", status_code=303)


def _edit_page(
    request: Request,
    staff: StaffAccount,
    original: tuple[str, str],
    entry: kb.EntryInput,
    errors: dict[str, str] | None = None,
) -> Response:
    context = {
        "original": original,
        "entry": entry,
        "intents": INTENTS,
        "bargain_types": BARGAIN_TYPES,
        "variables": kb.VARIABLES,
        "errors": errors or {},
    }
    status = 422 if errors else 200
    return render(request, "assistant/knowledge_edit.html", context, staff=staff,
                  status_code=status)  # fmt: skip


@router.get("/knowledge/edit", response_class=HTMLResponse)
async def edit_entry_page(
    request: Request,
    session: SessionDep,
    staff: Manager,
    intent: Annotated[str, Query(max_length=32)],
    title: Annotated[str, Query(max_length=64)],
) -> Response:
    """One entry in a form, to change in place."""
    entry = await kb.entry_to_edit(session, staff, intent, title)
    return _edit_page(request, staff, (intent, title), entry)


@router.post("/knowledge/edit", response_class=HTMLResponse)
async def edit_entry(
    request: Request,
    session: SessionDep,
    staff: Manager,
    intent: Annotated[str, Form(max_length=32)],
    title: Annotated[str, Form(max_length=64)],
    new_intent: Annotated[str, Form(max_length=32)] = "",
    new_title: Annotated[str, Form(max_length=64)] = "",
    answer: Annotated[str, Form(max_length=2000)] = "",
    questions: Annotated[str, Form(max_length=4000)] = "",
    bargain_type: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Save the changed entry; a bad field is named beside it with all that was typed."""
    item = kb.EntryInput(
        intent=new_intent.strip(),
        title=new_title.strip(),
        answer=answer.strip(),
        questions=kb.questions_from(questions),
        bargain_type=bargain_type.strip() or None,
    )
    try:
        await kb.do_edit_entry(session, staff=staff, intent=intent, title=title, item=item)
    except kb.KnowledgeError as exc:
        if isinstance(exc, NotPermitted):
            raise
        typed = kb.EntryInput(new_intent, new_title, answer, (questions,), bargain_type)
        field = exc.field or "answer"
        return _edit_page(request, staff, (intent, title), typed,
                          {field: error_text(request, exc)})  # fmt: skip
    await session.commit()
    return RedirectResponse("/assistant/knowledge", status_code=303)


@router.post("/knowledge/import", response_class=HTMLResponse)
async def import_entries(
    request: Request, session: SessionDep, staff: Manager, file: Annotated[UploadFile, File()]
) -> Response:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        too_large = say("file larger than {size} MB", size=MAX_UPLOAD // (1024 * 1024))
        return await _page(request, session, staff, error=error_text(request, too_large))
    try:
        report = await kb.do_import_entries(session, shop_id=staff.shop_id, data=data)
    except SheetError as exc:
        problem = say("{filename}: {problem}", filename=file.filename, problem=message_of(exc))
        return await _page(request, session, staff, error=error_text(request, problem))
    await session.commit()
    return await _page(request, session, staff, report=report_shown(request, report))


@router.get("/knowledge.xlsx")
async def export_entries(session: SessionDep, staff: Reader) -> Response:
    data = await kb.export_entries(session, staff.shop_id)
    headers = {"Content-Disposition": 'attachment; filename="knowledge.xlsx"'}
    return Response(data, media_type=XLSX, headers=headers)
