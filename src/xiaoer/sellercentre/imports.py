"""Imports started from the pages: stored files, a job row with progress, a report.

The upload is written to the upload directory and the import runs as a task of
the server process. Its progress is written to the job row every half second,
so any process can show it; the report (counts, first rejected rows, rejects
files) is kept on the row when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.sheets import csv_writer
from xiaoer.core.texts import Text, from_data, message_of, say, to_data
from xiaoer.sellercentre.exports import SNIFF_BYTES, ExportError, sniff_encoding
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.sellercentre.models import ImportJob, JobStatus

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".csv", ".xlsx")
PROGRESS_EVERY = 0.5  # seconds between progress writes

_running: set[asyncio.Task[None]] = set()


class ImportRequestError(ValueError):
    """An upload that cannot be imported; the message says why."""


def upload_root(configured: Path | None) -> Path:
    root = configured or Path(tempfile.gettempdir()) / "xiaoer-uploads"
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_upload_name(name: str, what: Text) -> str:
    clean = Path(name or "").name
    if not clean:
        raise ImportRequestError(say("choose the {what} file", what=what))
    if not clean.lower().endswith(ALLOWED_SUFFIXES):
        raise ImportRequestError(
            say("{what}: {name!r} is not a .csv or .xlsx export", what=what, name=clean)
        )
    return clean


async def do_start_import(
    session: AsyncSession,
    *,
    shop_id: int,
    staff_id: int | None,
    root: Path,
    orders: tuple[str, BinaryIO],
    items: tuple[str, BinaryIO] | None = None,
) -> tuple[ImportJob, Path, Path | None]:
    """Store the uploaded files and create the job row (committed by the caller)."""
    list_name = check_upload_name(orders[0], say("order list"))
    item_name = check_upload_name(items[0], say("item list")) if items is not None else None
    if item_name == list_name:
        raise ImportRequestError(say("the order list and the item list are the same file"))
    job = ImportJob(shop_id=shop_id, started_by=staff_id, files={}, summary={})
    session.add(job)
    await session.flush()
    folder = root / f"job-{job.id}"
    folder.mkdir(parents=True, exist_ok=True)
    list_path = folder / list_name
    with list_path.open("wb") as out:
        shutil.copyfileobj(orders[1], out)
    item_path: Path | None = None
    if items is not None and item_name is not None:
        item_path = folder / item_name
        with item_path.open("wb") as out:
            shutil.copyfileobj(items[1], out)
    job.files = {"orders": list_name, "items": item_name, "folder": str(folder)}
    return job, list_path, item_path


def start_in_background(
    db: Database, job_id: int, shop_id: int, lists: tuple[Path, Path | None]
) -> None:
    """Run the job as a task of this process; it survives the request that started it."""
    task = asyncio.create_task(run_job(db, job_id, shop_id, *lists))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def wait_for_jobs() -> None:
    """Let running imports finish (tests, and the server as it stops)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


async def _write_progress(db: Database, job_id: int, state: dict[str, Any]) -> None:
    async with db.session() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(phase=state["phase"], done_bytes=state["done"], total_bytes=state["total"])
        )
        await session.commit()


async def run_job(
    db: Database,
    job_id: int,
    shop_id: int,
    list_path: Path,
    item_path: Path | None,
    *,
    now: datetime | None = None,
) -> None:
    state: dict[str, Any] = {"phase": "orders", "done": 0, "total": 0, "changed": False}

    def progress(phase: str, done: int, total: int) -> None:
        state.update(phase=phase, done=done, total=total, changed=True)

    stop = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROGRESS_EVERY)
            if state["changed"]:
                state["changed"] = False
                await _write_progress(db, job_id, state)

    writing = asyncio.create_task(writer())
    values: dict[str, Any]
    try:
        result = await import_orders(db, shop_id, list_path, item_path, progress=progress, now=now)
        for path, reasons in zip(result.rejects, result.reasons, strict=True):
            await asyncio.to_thread(_keep_reasons, path, reasons)
        values = {
            "status": JobStatus.done.value,
            "summary": result.summary(),
            "messages": [to_data(m) for m in result.messages],
            "rejects": [str(p) for p in result.rejects],
            "phase": "done",
        }
    except (ExportError, ValueError, OSError) as exc:
        values = {"status": JobStatus.failed.value, **_error(message_of(exc)), "phase": "failed"}
    except Exception as exc:  # the job row must say it failed, whatever the cause
        log.exception("import job %s failed", job_id)
        values = {
            "status": JobStatus.failed.value,
            **_error(say("internal error: {problem}", problem=str(exc))),
        }
    finally:
        stop.set()
        await writing
    async with db.session() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(finished_at=utcnow(), done_bytes=state["total"], **values)
        )
        await session.commit()


async def recent_jobs(session: AsyncSession, shop_id: int, limit: int = 10) -> list[ImportJob]:
    rows = await session.scalars(
        select(ImportJob)
        .where(ImportJob.shop_id == shop_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(limit)
    )
    return list(rows)


def _error(message: str) -> dict[str, Any]:
    """A failed job's error: in English, and as data to show in the reader's language."""
    return {"error": str(message), "error_data": to_data(message)}


def job_error(job: ImportJob) -> str:
    """The job's error as a message to translate (its English text in older jobs)."""
    return job.error if job.error_data is None else from_data(job.error_data)


def job_messages(job: ImportJob) -> list[str]:
    """The job's first rejected rows as messages to translate (plain in older jobs)."""
    return [from_data(m) for m in job.messages]


def job_json(job: ImportJob, translate: Callable[[str], str] = str) -> dict[str, Any]:
    """The job for pages and the API, its messages passed through ``translate``
    (English unless given)."""
    total = job.total_bytes or 0
    return {
        "id": job.id,
        "status": job.status,
        "phase": job.phase,
        "percent": 100 if job.status != JobStatus.running.value
        else (round(100 * job.done_bytes / total) if total else 0),
        "files": {k: v for k, v in job.files.items() if k != "folder"},
        "summary": job.summary,
        "messages": [translate(m) for m in job_messages(job)],
        "rejects": [Path(p).name for p in job.rejects],
        "error": translate(job_error(job)) if job.error else "",
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }  # fmt: skip


# Rejects files are written beside their input in English, as the command line
# writes them. A job keeps each file's reasons as data next to it, so that a
# download gives them in the reader's language.
_REASONS_SUFFIX = ".reasons.json"


def _reasons_path(rejects: Path) -> Path:
    return rejects.with_name(rejects.name + _REASONS_SUFFIX)


def _rejects_encoding(rejects: Path) -> str:
    """The encoding ``exports.write_rejects`` gave the file: its input's, or UTF-8 with
    a byte-order mark (its header's 行号 and 原因 tell GB18030 from UTF-8)."""
    with rejects.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    return sniff_encoding(head, whole_file=len(head) < SNIFF_BYTES)


def _keep_reasons(rejects: Path, reasons: Iterable[str]) -> None:
    data = {"encoding": _rejects_encoding(rejects), "reasons": [to_data(r) for r in reasons]}
    _reasons_path(rejects).write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def translated_rejects(rejects: Path, translate: Callable[[str], str]) -> Path:
    """The rejects file with its reasons passed through ``translate``: a new file the
    caller deletes, or ``rejects`` itself when its reasons were not kept (older jobs)
    or it does not match them."""
    kept = _reasons_path(rejects)
    if not kept.is_file():
        return rejects
    data = json.loads(kept.read_text("utf-8"))
    encoding = str(data["encoding"])
    reasons = [translate(from_data(r)) for r in data["reasons"]]
    with rejects.open(encoding=encoding, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) != len(reasons) + 1:
        return rejects
    out = tempfile.NamedTemporaryFile(  # noqa: SIM115 (handed to the caller)
        "w", encoding=encoding, newline="", suffix=".csv", delete=False
    )
    with out:
        writer = csv_writer(out)
        writer.writerow(rows[0])
        for row, reason in zip(rows[1:], reasons, strict=True):
            writer.writerow([*row[:-1], reason])
    return Path(out.name)
