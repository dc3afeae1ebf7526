"""The import page: upload a seller-centre export, watch it run, resume it (O1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.background import BackgroundTask

from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.core.texts import say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import Position, RowId
from xiaoer.http.render import error_text, render
from xiaoer.sellercentre import imports, jobfiles
from xiaoer.staff.models import StaffAccount

router = APIRouter()

Importer = Annotated[StaffAccount, Depends(require_staff(*imports.IMPORTERS))]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _translator(request: Request) -> Callable[[str], str]:
    """Messages kept on a job, in the language of whoever asks."""
    return lambda message: error_text(request, message)


async def _page(
    request: Request, session: SessionDep, staff: StaffAccount, **extra: Any
) -> Response:
    stale = _settings(request).import_stale_seconds
    jobs = await imports.import_jobs(session, staff, stale_after=stale)
    await session.commit()
    translate = _translator(request)
    context = {
        "jobs": [imports.job_json(j, translate) for j in jobs],
        "kinds": imports.import_kinds(),
        "error": None,
        **extra,
    }
    status = 422 if extra.get("error") else 200
    return render(request, "sellercentre/import.html", context, staff=staff, status_code=status)


@router.get("/orders/import", response_class=HTMLResponse)
async def import_page(request: Request, session: SessionDep, staff: Importer) -> Response:
    return await _page(request, session, staff)


@router.post("/orders/import", response_class=HTMLResponse)
async def start_import(
    request: Request,
    session: SessionDep,
    staff: Importer,
    orders: Annotated[UploadFile, File()],
    items: Annotated[UploadFile | None, File()] = None,
    kind: Annotated[str, Form(max_length=16)] = "orders",
) -> Response:
    root = await asyncio.to_thread(jobfiles.imports_root, _settings(request).data_path)
    item_upload = (items.filename or "", items.file) if items and items.filename else None
    try:
        run = await imports.do_start_import(
            session,
            staff=staff,
            root=root,
            orders=(orders.filename or "", orders.file),
            items=item_upload,
            kind=kind,
        )
    except imports.ImportRequestError as exc:  # nothing of the job is kept
        return await _page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    db: Database = request.app.state.db
    imports.start_in_background(db, run, stale_after=_settings(request).import_stale_seconds)
    return RedirectResponse(f"/orders/import/{run.job_id}", status_code=303)


async def _job_page(
    request: Request, session: SessionDep, staff: StaffAccount, job_id: int, error: str = ""
) -> Response:
    stale = _settings(request).import_stale_seconds
    job = await imports.import_job(session, staff, job_id, stale_after=stale)
    await session.commit()
    context = {"job": imports.job_json(job, _translator(request)), "error": error}
    status = 409 if error else 200
    return render(request, "sellercentre/import_job.html", context, staff=staff, status_code=status)


@router.get("/orders/import/{job_id}", response_class=HTMLResponse)
async def job_page(
    request: Request, session: SessionDep, staff: Importer, job_id: RowId
) -> Response:
    return await _job_page(request, session, staff, job_id)


@router.post("/orders/import/{job_id}/resume", response_class=HTMLResponse)
async def resume_import(
    request: Request, session: SessionDep, staff: Importer, job_id: RowId
) -> Response:
    try:
        run = await imports.do_resume_import(session, staff=staff, job_id=job_id)
    except imports.ImportRequestError as exc:  # refused before anything is written
        return await _job_page(request, session, staff, job_id, error_text(request, exc))
    await session.commit()
    db: Database = request.app.state.db
    imports.start_in_background(db, run, stale_after=_settings(request).import_stale_seconds)
    return RedirectResponse(f"/orders/import/{job_id}", status_code=303)


@router.get("/api/orders/imports/{job_id}")
async def job_status(
    request: Request, session: SessionDep, staff: Importer, job_id: RowId
) -> Response:
    stale = _settings(request).import_stale_seconds
    job = await imports.import_job(session, staff, job_id, stale_after=stale)
    await session.commit()
    return JSONResponse(imports.job_json(job, _translator(request)))


@router.get("/orders/import/{job_id}/rejects/{index}")
async def download_rejects(
    request: Request, session: SessionDep, staff: Importer, job_id: RowId, index: Position
) -> Response:
    job = await imports.import_job(session, staff, job_id)
    path = await asyncio.to_thread(imports.rejects_file, job, index)
    if path is None:
        missing = error_text(request, say("no such rejects file"))
        return Response(missing, media_type="text/plain", status_code=404)
    # The reasons in the downloader's language, like the report on the job's page.
    shown = await asyncio.to_thread(jobfiles.translated_rejects, path, _translator(request))
    cleanup = BackgroundTask(shown.unlink, missing_ok=True) if shown != path else None
    return FileResponse(shown, media_type="text/csv", filename=path.name, background=cleanup)
