"""Pages where the shop prepares its words: quick phrases and automatic replies (C2, C4, C5),
and the bridge channels other platforms and the shop's own site write through (C1)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.core.sheets import XLSX_TYPE, SheetError
from xiaoer.core.texts import message_of, say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render, report_shown
from xiaoer.reception import autoreply, bridge, phrases
from xiaoer.reception.models import Channel, QuickPhrase
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/reception")

Worker = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]
Manager = Annotated[StaffAccount, Depends(require_staff("manager", "admin"))]
MAX_UPLOAD = 2 * 1024 * 1024


async def _phrase_page(
    request: Request, session: SessionDep, staff: StaffAccount, **extra: object
) -> Response:
    rows = await phrases.phrases_for(session, staff.shop_id, staff.id)
    shop_rows: list[QuickPhrase] = [p for p in rows if p.owner_id is None]
    own_rows = [p for p in rows if p.owner_id is not None]
    context = {
        "shop_phrases": shop_rows,
        "own_phrases": own_rows,
        "may_edit_shop": phrases.may_edit_shop_phrases(staff),
        "variables": phrases.VARIABLES,
        "error": None,
        "report": None,
    }
    context.update(extra)
    status = 422 if extra.get("error") else 200
    return render(request, "reception/phrases.html", context, staff=staff, status_code=status)


@router.get("/phrases", response_class=HTMLResponse)
async def phrase_page(request: Request, session: SessionDep, staff: Worker) -> Response:
    return await _phrase_page(request, session, staff)


@router.post("/phrases", response_class=HTMLResponse)
async def save_phrase(
    request: Request,
    session: SessionDep,
    staff: Worker,
    shortcut: Annotated[str, Form(max_length=32)],
    text: Annotated[str, Form(max_length=2000)],
    group: Annotated[str, Form(max_length=32)] = "",
    scope: Annotated[str, Form(max_length=8)] = "own",
    peak: Annotated[bool, Form()] = False,
) -> Response:
    item = phrases.PhraseInput(shortcut.strip(), text.strip(), group.strip(), peak)
    try:
        await phrases.do_save_phrase(
            session, shop_id=staff.shop_id, owner_id=phrases.scope_owner(staff, scope), item=item
        )
    except phrases.PhraseError as exc:
        return await _phrase_page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/reception/phrases", status_code=303)


@router.post("/phrases/{phrase_id}/delete")
async def delete_phrase(
    request: Request,
    session: SessionDep,
    staff: Worker,
    phrase_id: RowId,
    scope: Annotated[str, Form(max_length=8)] = "own",
) -> Response:
    try:
        await phrases.do_delete_phrase(
            session,
            shop_id=staff.shop_id,
            owner_id=phrases.scope_owner(staff, scope),
            phrase_id=phrase_id,
        )
    except phrases.PhraseError as exc:
        return await _phrase_page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/reception/phrases", status_code=303)


@router.post("/phrases/import", response_class=HTMLResponse)
async def import_phrases(
    request: Request,
    session: SessionDep,
    staff: Worker,
    file: Annotated[UploadFile, File()],
    scope: Annotated[str, Form(max_length=8)] = "own",
) -> Response:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        too_large = say("file larger than {size} MB", size=MAX_UPLOAD // (1024 * 1024))
        return await _phrase_page(request, session, staff, error=error_text(request, too_large))
    try:
        report = await phrases.do_import_phrases(
            session, shop_id=staff.shop_id, owner_id=phrases.scope_owner(staff, scope), data=data
        )
    except SheetError as exc:
        problem = say("{filename}: {problem}", filename=file.filename, problem=message_of(exc))
        return await _phrase_page(request, session, staff, error=error_text(request, problem))
    await session.commit()
    return await _phrase_page(request, session, staff, report=report_shown(request, report))


@router.get("/phrases.xlsx")
async def export_phrases(session: SessionDep, staff: Worker, scope: str = "shop") -> Response:
    owner = None if scope == "shop" else staff.id
    data = await phrases.export_phrases(session, shop_id=staff.shop_id, owner_id=owner)
    name = "phrases-shop.xlsx" if owner is None else "phrases-mine.xlsx"
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _keywords(text: str) -> list[str]:
    return [w for w in re.split(r"[,，;；\n]", text) if w.strip()]


async def _auto_page(
    request: Request, session: SessionDep, staff: StaffAccount, error: str | None = None
) -> Response:
    rules = await autoreply.all_auto_replies(session, staff.shop_id)
    await session.commit()
    context = {"rules": rules, "error": error, "variables": phrases.VARIABLES}
    return render(
        request,
        "reception/auto_replies.html",
        context,
        staff=staff,
        status_code=422 if error else 200,
    )


@router.get("/auto-replies", response_class=HTMLResponse)
async def auto_reply_page(request: Request, session: SessionDep, staff: Manager) -> Response:
    return await _auto_page(request, session, staff)


@router.post("/auto-replies", response_class=HTMLResponse)
async def save_auto_reply(
    request: Request,
    session: SessionDep,
    staff: Manager,
    kind: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=2000)],
    keywords: Annotated[str, Form(max_length=500)] = "",
    active: Annotated[bool, Form()] = False,
    peak: Annotated[bool, Form()] = False,
    reply_id: Annotated[int | None, Form()] = None,
) -> Response:
    try:
        await autoreply.do_save_auto_reply(
            session,
            shop_id=staff.shop_id,
            reply_id=reply_id,
            kind=kind,
            keywords=_keywords(keywords),
            text=text,
            active=active,
            peak=peak,
        )
    except autoreply.AutoReplyError as exc:
        return await _auto_page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/reception/auto-replies", status_code=303)


@router.post("/auto-replies/{reply_id}/delete")
async def delete_auto_reply(
    request: Request, session: SessionDep, staff: Manager, reply_id: RowId
) -> Response:
    try:
        await autoreply.do_delete_auto_reply(session, shop_id=staff.shop_id, reply_id=reply_id)
    except autoreply.AutoReplyError as exc:
        return await _auto_page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    return RedirectResponse("/reception/auto-replies", status_code=303)


# --- bridge channels: other platforms and the shop's own site ---------------------------


async def _channel_page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    *,
    error: str | None = None,
    name: str = "",
    secret: tuple[Channel, str] | None = None,
) -> Response:
    channels = await bridge.bridge_channels(session, staff)
    await session.commit()
    context = {
        "channels": channels,
        "error": error,
        "name": name,
        "shown": secret[0] if secret else None,
        "secret": secret[1] if secret else "",
        "base": str(request.base_url).rstrip("/"),
    }
    response = render(
        request,
        "reception/channels.html",
        context,
        staff=staff,
        status_code=422 if error else 200,
    )
    # A page holding a secret is not kept by the browser or any cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/channels", response_class=HTMLResponse)
async def channel_page(request: Request, session: SessionDep, staff: Manager) -> Response:
    return await _channel_page(request, session, staff)


@router.post("/channels", response_class=HTMLResponse)
async def create_channel(
    request: Request,
    session: SessionDep,
    staff: Manager,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        created = await bridge.do_create_channel(session, staff, name)
    except bridge.ChannelError as exc:
        error = error_text(request, exc)
        return await _channel_page(request, session, staff, error=error, name=name)
    await session.commit()
    return await _channel_page(request, session, staff, secret=created)


@router.post("/channels/{channel_id}/secret", response_class=HTMLResponse)
async def renew_channel_secret(
    request: Request, session: SessionDep, staff: Manager, channel_id: RowId
) -> Response:
    renewed = await bridge.do_renew_secret(session, staff, channel_id)
    await session.commit()
    return await _channel_page(request, session, staff, secret=renewed)


@router.post("/channels/{channel_id}/{move}")
async def switch_channel(
    session: SessionDep, staff: Manager, channel_id: RowId, move: Literal["disable", "enable"]
) -> Response:
    await bridge.do_set_channel_active(session, staff, channel_id, move == "enable")
    await session.commit()
    return RedirectResponse("/reception/channels", status_code=303)
