"""The import page: upload a seller-centre export and watch it run (O1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.background import BackgroundTask

from xiaoer.core.db import Database
from xiaoer.core.texts import say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.render import error_text, render
from xiaoer.sellercentre import imports
from xiaoer.sellercentre.models import ImportJob
from xiaoer.staff.models import StaffAccount

router = APIRouter()

Importer = Annotated[StaffAccount, Depends(require_staff("supervisor", "manager"))]


class JobNotFound(LookupError):
    pass


def _translator(request: Request) -> Callable[[str], str]:
    """Messages kept on a job, in the language of whoever asks."""
    return lambda message: error_text(request, message)


async def _page(
    request: Request, session: SessionDep, staff: StaffAccount, **extra: Any
) -> Response:
    jobs = await imports.recent_jobs(session, staff.shop_id)
    translate = _translator(request)
    context = {"jobs": [imports.job_json(j, translate) for j in jobs], "error": None, **extra}
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
) -> Response:
    root = imports.upload_root(request.app.state.settings.upload_dir)
    item_upload = (items.filename or "", items.file) if items and items.filename else None
    try:
        job, list_path, item_path = await imports.do_start_import(
            session,
            shop_id=staff.shop_id,
            staff_id=staff.id,
            root=root,
            orders=(orders.filename or "", orders.file),
            items=item_upload,
        )
    except imports.ImportRequestError as exc:  # raised before anything is written
        return await _page(request, session, staff, error=error_text(request, exc))
    await session.commit()
    db: Database = request.app.state.db
    imports.start_in_background(db, job.id, staff.shop_id, (list_path, item_path))
    return RedirectResponse(f"/orders/import/{job.id}", status_code=303)


async def _job(session: SessionDep, staff: StaffAccount, job_id: int) -> ImportJob:
    job = await session.get(ImportJob, job_id)
    if job is None or job.shop_id != staff.shop_id:
        raise JobNotFound(job_id)
    return job


@router.get("/orders/import/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, session: SessionDep, staff: Importer, job_id: int) -> Response:
    try:
        job = await _job(session, staff, job_id)
    except JobNotFound:
        message = error_text(request, say("no such import"))
        return render(request, "error.html", {"message": message}, staff=staff, status_code=404)
    context = {"job": imports.job_json(job, _translator(request))}
    return render(request, "sellercentre/import_job.html", context, staff=staff)


@router.get("/api/orders/imports/{job_id}")
async def job_status(
    request: Request, session: SessionDep, staff: Importer, job_id: int
) -> Response:
    try:
        job = await _job(session, staff, job_id)
    except JobNotFound:
        message = error_text(request, say("no such import"))
        return JSONResponse({"detail": message}, status_code=404)
    return JSONResponse(imports.job_json(job, _translator(request)))


@router.get("/orders/import/{job_id}/rejects/{index}")
async def download_rejects(
    request: Request, session: SessionDep, staff: Importer, job_id: int, index: int
) -> Response:
    try:
        job = await _job(session, staff, job_id)
    except JobNotFound:
        missing = error_text(request, say("no such import"))
        return Response(missing, media_type="text/plain", status_code=404)
    path = Path(job.rejects[index]) if 0 <= index < len(job.rejects) else None
    if path is None or not await asyncio.to_thread(path.is_file):
        missing = error_text(request, say("no such rejects file"))
        return Response(missing, media_type="text/plain", status_code=404)
    # The reasons in the downloader's language, like the report on the job's page.
    shown = await asyncio.to_thread(imports.translated_rejects, path, _translator(request))
    cleanup = BackgroundTask(shown.unlink, missing_ok=True) if shown != path else None
    return FileResponse(shown, media_type="text/csv", filename=path.name, background=cleanup)
