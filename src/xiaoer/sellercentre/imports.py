"""Imports started from the pages: stored files, a job row with progress, a report.

The upload is stored in the job's private folder under the data directory
(:mod:`xiaoer.sellercentre.jobfiles`) and the import runs as a task of the server
process. The task writes its progress to the job row every half second, and its
heartbeat with it, at least every few seconds, so any process can show the
progress and tell a live job from one whose process died. The report (counts,
first rejected rows, rejects files) is kept on the row when it ends.

A running job whose heartbeat is older than ``Settings.import_stale_seconds`` lost
its process (``kill -9``, a crash, the machine going down): it is marked
*interrupted* when a server or worker starts and whenever the import pages are
shown. A job whose heartbeat is fresh is never touched, whichever process runs it.
A server that stops in good order marks its running jobs interrupted itself.

Resuming an interrupted job imports its stored files again under the next run
number. The import is idempotent (orders matched by their id, a row unchanged since
it was last written is skipped unparsed, an order's items replaced only when they
differ), so resuming is importing again: the report is the resumed run's, in which
the rows the lost run had committed count as unchanged and the rest as created or
updated. A run writes to its job only while the job is running under its number; a
process taken for dead that wakes up finds the job resumed by another and stops
rather than importing beside it.

When a job ends, done or failed, its uploads are deleted; its rejects files stay for
the policy's ``imports.keep_rejects_days`` (see :mod:`xiaoer.sellercentre.cleanup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.files import remove_tree
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, from_data, message_of, say, to_data
from xiaoer.core.timers import schedule_timer
from xiaoer.sellercentre import jobfiles
from xiaoer.sellercentre.exports import ExportError
from xiaoer.sellercentre.ingest import Progress, import_orders
from xiaoer.sellercentre.models import ImportJob, JobStatus
from xiaoer.staff.models import IMPORTERS, StaffAccount

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".csv", ".xlsx")
PROGRESS_EVERY = 0.5  # seconds between progress writes
HEARTBEAT_EVERY = 2.0  # seconds between heartbeats while the progress does not move
# ...and never fewer than this many heartbeats within the threshold of staleness.
BEATS_PER_THRESHOLD = 3
CLEAN = "imports.clean"  # the timer that tidies a job's files (see cleanup)


class _Halt(Exception):
    """Raised between two chunks of an import to stop it there: no transaction is open
    then, so nothing is left half written or locked."""


@dataclass
class _Control:
    """Why a run should stop at its next chunk: ``stop`` (the server stops) or ``lost``
    (the job is another run's now)."""

    halt: str = ""


_running: dict[asyncio.Task[None], _Control] = {}  # this process's runs


class ImportRequestError(ValueError):
    """An upload or a resumption that cannot go ahead; the message says why."""


class ImportForbidden(NotPermitted):
    """The account may not import orders."""


class ImportNotFound(NotFound):
    """No such import in the account's shop."""


@dataclass(frozen=True)
class JobRun:
    """One run of a job: the files it imports, and its number among the job's runs.
    ``orders`` is the job's main file: the order list, or the report of its ``kind``."""

    job_id: int
    shop_id: int
    run: int
    orders: Path
    items: Path | None
    kind: str = "orders"
    started_by: int | None = None


class ReportImport(Protocol):
    """What an import of a report leaves for its job's row."""

    messages: list[str]
    rejects: list[Path]
    reasons: list[list[str]]

    def summary(self) -> dict[str, Any]: ...


# (db, shop id, file, progress, staff account importing) → its result.
ReportImporter = Callable[[Database, int, Path, Progress, int | None], Awaitable[ReportImport]]

# The other reports the import page takes, by kind, registered by the packages that
# store them (the after-sales package's refunds and reviews) when the app is built.
_reports: dict[str, ReportImporter] = {}


def register_report(kind: str, importer: ReportImporter) -> None:
    """Let the import page and its jobs import reports of ``kind`` with ``importer``."""
    _reports[kind] = importer


def import_kinds() -> list[str]:
    """What the import page offers: orders, then the registered reports."""
    return ["orders", *sorted(_reports)]


def check_may_import(staff: StaffAccount) -> None:
    if not staff.has_role(*IMPORTERS):
        raise ImportForbidden(say("only supervisors and managers import orders"))


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
    staff: StaffAccount,
    root: Path,
    orders: tuple[str, BinaryIO],
    items: tuple[str, BinaryIO] | None = None,
    kind: str = "orders",
    now: datetime | None = None,
) -> JobRun:
    """Store the uploaded files in the job's folder under ``root`` and create the job
    row (committed by the caller). ``kind``: orders (``orders`` is the order list,
    with its item list or not) or a registered report (``orders`` is the report)."""
    check_may_import(staff)
    if kind not in import_kinds():
        raise ImportRequestError(say("there is no import of {kind!r}", kind=kind))
    if kind != "orders" and items is not None:
        raise ImportRequestError(say("an item list goes only with an order list"))
    what = say("order list") if kind == "orders" else say("report")
    list_name = check_upload_name(orders[0], what)
    item_name = check_upload_name(items[0], say("item list")) if items is not None else None
    if item_name == list_name:
        raise ImportRequestError(say("the order list and the item list are the same file"))
    moment = now or utcnow()
    job = ImportJob(
        shop_id=staff.shop_id,
        started_by=staff.id,
        files={},
        summary={},
        created_at=moment,
        heartbeat_at=moment,
    )
    session.add(job)
    await session.flush()
    folder = await asyncio.to_thread(jobfiles.new_job_folder, root, job.id)
    list_path = folder / list_name
    item_path: Path | None = None
    limit = jobfiles.MAX_UPLOAD_BYTES
    try:
        await asyncio.to_thread(jobfiles.store_upload, orders[1], list_path, limit)
        if items is not None and item_name is not None:
            item_path = folder / item_name
            await asyncio.to_thread(jobfiles.store_upload, items[1], item_path, limit)
    except jobfiles.UploadTooLarge as exc:
        await asyncio.to_thread(remove_tree, folder)
        await session.delete(job)
        await session.flush()
        raise ImportRequestError(
            say(
                "{file} is larger than {size} MB; export a shorter period",
                file=str(exc),
                size=max(1, limit // (1024 * 1024)),
            )
        ) from exc
    job.files = {"kind": kind, "orders": list_name, "items": item_name, "folder": str(folder)}
    return JobRun(job.id, job.shop_id, job.runs or 1, list_path, item_path, kind, staff.id)


def stored_files(job: ImportJob) -> tuple[Path, Path | None] | None:
    """The job's uploaded files, or None when they are gone."""
    folder = jobfiles.folder_of(job.id, job.files.get("folder"))
    name = job.files.get("orders")
    if folder is None or not name or not (folder / name).is_file():
        return None
    items = job.files.get("items")
    if items and not (folder / items).is_file():
        return None
    return folder / name, (folder / items if items else None)


async def do_resume_import(
    session: AsyncSession, *, staff: StaffAccount, job_id: int, now: datetime | None = None
) -> JobRun:
    """Run an interrupted job's files again (committed, then started, by the caller)."""
    job = await import_job(session, staff, job_id)
    if job.status != JobStatus.interrupted.value:
        raise ImportRequestError(say("only an interrupted import can be resumed"))
    files = await asyncio.to_thread(stored_files, job)
    if files is None:
        raise ImportRequestError(say("the files of this import are gone; upload them again"))
    run = job.runs + 1
    resumed = await session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == job.id,
            ImportJob.status == JobStatus.interrupted.value,
            ImportJob.runs == job.runs,
        )
        .values(
            status=JobStatus.running.value,
            runs=run,
            heartbeat_at=now or utcnow(),
            phase=str(job.files.get("kind") or "orders"),
            done_bytes=0,
            error="",
            error_data=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if _count(resumed) != 1:  # another leader resumed it a moment ago
        raise ImportRequestError(say("this import was resumed already"))
    kind = str(job.files.get("kind") or "orders")
    return JobRun(job.id, job.shop_id, run, *files, kind, job.started_by)


def heartbeat_every(stale_after: float) -> float:
    """Seconds between heartbeats, so that a live job never looks stale."""
    return min(HEARTBEAT_EVERY, stale_after / BEATS_PER_THRESHOLD)


def start_in_background(db: Database, run: JobRun, *, stale_after: float) -> None:
    """Run the job as a task of this process; it survives the request that started it.
    ``stale_after``: the threshold after which a job without heartbeat looks dead."""
    control = _Control()
    beat = heartbeat_every(stale_after)
    task = asyncio.create_task(run_job(db, run, control=control, beat_every=beat))
    _running[task] = control
    task.add_done_callback(lambda done: _running.pop(done, None))


async def wait_for_jobs() -> None:
    """Let running imports finish (tests)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


async def interrupt_jobs() -> None:
    """Stop this process's imports at their next chunk, marking them interrupted (the
    server stopping)."""
    for control in _running.values():
        control.halt = "stop"
    await wait_for_jobs()


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _current(run: JobRun) -> ColumnElement[bool]:
    """The job is still running, and under this run."""
    return and_(
        ImportJob.id == run.job_id,
        ImportJob.status == JobStatus.running.value,
        ImportJob.runs == run.run,
    )


async def _beat(db: Database, run: JobRun, state: dict[str, Any]) -> bool:
    """Write the progress and the heartbeat; False when the job is no longer this run's."""
    async with db.session() as session:
        result = await session.execute(
            update(ImportJob)
            .where(_current(run))
            .values(
                heartbeat_at=utcnow(),
                phase=state["phase"],
                done_bytes=state["done"],
                total_bytes=state["total"],
            )
        )
        await session.commit()
    return _count(result) == 1


async def run_job(
    db: Database,
    run: JobRun,
    *,
    now: datetime | None = None,
    control: _Control | None = None,
    beat_every: float = HEARTBEAT_EVERY,
) -> None:
    state: dict[str, Any] = {"phase": run.kind, "done": 0, "total": 0, "changed": False}
    halting = control or _Control()

    def progress(phase: str, done: int, total: int) -> None:
        if halting.halt:
            raise _Halt(halting.halt)
        state.update(phase=phase, done=done, total=total, changed=True)

    stop = asyncio.Event()

    async def keep_alive() -> None:
        last = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(PROGRESS_EVERY, beat_every))
            if stop.is_set():
                return
            if not state["changed"] and time.monotonic() - last < beat_every:
                continue
            state["changed"] = False
            last = time.monotonic()
            try:
                mine = await _beat(db, run, state)
            except Exception:  # the next beat tries again, well within the threshold
                log.warning("import job %s: progress not written", run.job_id, exc_info=True)
                continue
            if not mine:
                halting.halt = "lost"
                return

    # A run that was taken for dead and resumed elsewhere while it waited to start
    # stops before it writes anything; later, its heartbeats find out.
    if not await _beat(db, run, state):
        log.warning("import job %s was taken over; run %s stops", *_ids(run))
        return
    keeping = asyncio.create_task(keep_alive())
    values: dict[str, Any]
    try:
        result: ReportImport
        if run.kind == "orders":
            result = await import_orders(
                db, run.shop_id, run.orders, run.items, progress=progress, now=now
            )
        elif run.kind in _reports:
            result = await _reports[run.kind](db, run.shop_id, run.orders, progress, run.started_by)
        else:
            raise ValueError(say("there is no import of {kind!r}", kind=run.kind))
        for path, reasons in zip(result.rejects, result.reasons, strict=True):
            await asyncio.to_thread(jobfiles.keep_reasons, path, reasons)
        values = {
            "status": JobStatus.done.value,
            "summary": result.summary(),
            "messages": [to_data(m) for m in result.messages],
            "rejects": [str(p) for p in result.rejects],
            "phase": "done",
        }
    except _Halt:
        values = {
            "status": JobStatus.interrupted.value,
            **_error(say("the server stopped during the import; resume it to finish")),
            "phase": "interrupted",
        }
    except (ExportError, ValueError, OSError) as exc:
        values = {"status": JobStatus.failed.value, **_error(message_of(exc)), "phase": "failed"}
    except Exception as exc:  # the job row must say it failed, whatever the cause
        log.exception("import job %s failed", run.job_id)
        values = {
            "status": JobStatus.failed.value,
            **_error(say("internal error: {problem}", problem=str(exc))),
        }
    finally:
        stop.set()
        await keeping
    if halting.halt == "lost":
        log.warning("import job %s was taken over; run %s stops", *_ids(run))
        return
    await _end(db, run, values, state)


async def _end(db: Database, run: JobRun, values: dict[str, Any], state: dict[str, Any]) -> None:
    """Write the job's outcome (if it is still this run's) and tidy its folder; an
    interrupted job keeps the progress it had made."""
    moment = utcnow()
    ended = values["status"] != JobStatus.interrupted.value
    async with db.session() as session:
        result = await session.execute(
            update(ImportJob)
            .where(_current(run))
            .values(
                heartbeat_at=moment,
                finished_at=moment if ended else None,
                done_bytes=state["total"] if ended else state["done"],
                total_bytes=state["total"],
                **values,
            )
        )
        if _count(result) != 1:
            await session.rollback()
            log.warning("import job %s was taken over; run %s keeps no report", *_ids(run))
            return
        await schedule_clean(session, run.shop_id, run.job_id, moment)
        await session.commit()
    if ended:
        await asyncio.to_thread(jobfiles.drop_uploads, run.orders.parent, values.get("rejects", []))


def _ids(run: JobRun) -> tuple[int, int]:
    return run.job_id, run.run


async def schedule_clean(
    session: AsyncSession, shop_id: int, job_id: int, since: datetime
) -> datetime:
    """Look at the job's files again once the policy's days have passed ``since`` (its
    end, or its interruption); returns when."""
    policy = await policy_on(session, shop_id, since.date())
    due = since + timedelta(days=policy.imports.keep_rejects_days)
    await schedule_timer(session, shop_id=shop_id, kind=CLEAN, subject=f"job:{job_id}", due_at=due)
    return due


async def do_mark_interrupted(
    session: AsyncSession,
    *,
    stale_after: float,
    shop_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Mark interrupted the running jobs (of a shop, or all) whose heartbeat is older
    than ``stale_after`` seconds; returns their ids. Reads first, so that a look at
    live jobs writes nothing."""
    moment = now or utcnow()
    cutoff = moment - timedelta(seconds=stale_after)
    stale = and_(ImportJob.status == JobStatus.running.value, ImportJob.heartbeat_at < cutoff)
    query = select(ImportJob.id, ImportJob.shop_id, ImportJob.runs).where(stale)
    if shop_id is not None:
        query = query.where(ImportJob.shop_id == shop_id)
    marked: list[int] = []
    for job_id, job_shop, runs in list(await session.execute(query)):
        # The condition again: a heartbeat written since the read keeps the job running.
        result = await session.execute(
            update(ImportJob)
            .where(stale, ImportJob.id == job_id, ImportJob.runs == runs)
            .values(
                status=JobStatus.interrupted.value,
                phase="interrupted",
                **_error(say("the import stopped when its process ended; resume it to finish")),
            )
            .execution_options(synchronize_session=False)
        )
        if _count(result) == 1:
            marked.append(job_id)
            log.warning("import job %s was interrupted: its process is gone", job_id)
            await schedule_clean(session, job_shop, job_id, moment)
    return marked


async def import_jobs(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    stale_after: float,
    now: datetime | None = None,
    limit: int = 10,
) -> list[ImportJob]:
    """The shop's recent jobs, those that lost their process marked so (the caller
    commits)."""
    check_may_import(staff)
    await do_mark_interrupted(session, stale_after=stale_after, shop_id=staff.shop_id, now=now)
    rows = await session.scalars(
        select(ImportJob)
        .where(ImportJob.shop_id == staff.shop_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def import_job(
    session: AsyncSession,
    staff: StaffAccount,
    job_id: int,
    *,
    stale_after: float | None = None,
    now: datetime | None = None,
) -> ImportJob:
    """One job of the account's shop; with ``stale_after``, marked interrupted first if
    it lost its process (the caller commits)."""
    check_may_import(staff)
    if stale_after is not None:
        await do_mark_interrupted(session, stale_after=stale_after, shop_id=staff.shop_id, now=now)
    job = await session.get(ImportJob, job_id, populate_existing=True)
    if job is None or job.shop_id != staff.shop_id:
        raise ImportNotFound(say("no such import"))
    return job


def rejects_file(job: ImportJob, index: int) -> Path | None:
    """The job's rejects file number ``index``, while it is kept."""
    if not 0 <= index < len(job.rejects):
        return None
    path = Path(job.rejects[index])
    return path if path.is_file() else None


def _error(message: str) -> dict[str, Any]:
    """A job's error: in English, and as data to show in the reader's language."""
    return {"error": str(message), "error_data": to_data(message)}


def job_error(job: ImportJob) -> str:
    """The job's error as a message to translate (its English text in older jobs)."""
    return job.error if job.error_data is None else from_data(job.error_data)


def job_messages(job: ImportJob) -> list[str]:
    """The job's first rejected rows as messages to translate (plain in older jobs)."""
    return [from_data(m) for m in job.messages]


def job_json(job: ImportJob, translate: Callable[[str], str] = str) -> dict[str, Any]:
    """The job for pages and the API, its messages passed through ``translate``
    (English unless given). An interrupted job shows how far it had got."""
    total = job.total_bytes or 0
    ended = job.status in (JobStatus.done.value, JobStatus.failed.value)
    return {
        "id": job.id,
        "status": job.status,
        "phase": job.phase,
        "percent": 100 if ended else (round(100 * job.done_bytes / total) if total else 0),
        "kind": job.files.get("kind") or "orders",
        "files": {k: v for k, v in job.files.items() if k != "folder"},
        "summary": job.summary,
        "messages": [translate(m) for m in job_messages(job)],
        "rejects": [Path(p).name for p in job.rejects],
        "error": translate(job_error(job)) if job.error else "",
        "resumable": job.status == JobStatus.interrupted.value,
        "runs": job.runs or 1,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
