"""Import files are kept only as long as they serve.

A job that ends (done or failed) loses its uploads at once; its rejects files stay
downloadable for the policy's ``imports.keep_rejects_days`` after its end, then its
folder goes. An interrupted job keeps its uploads so it can be resumed; one left
for as many days is given up (failed) and its folder goes. Two things do it: an
``imports.clean`` timer per job, set when the job ends or is interrupted, and the
sweep every server and worker makes as it starts, which also marks the jobs whose
process died interrupted and catches what a timer could not (a process that died
between a job's end and the deletion of its uploads, timers not run, folders whose
job is gone).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Database
from xiaoer.core.files import remove_tree
from xiaoer.core.models import Timer
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say, to_data
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.sellercentre import jobfiles
from xiaoer.sellercentre.imports import CLEAN, do_mark_interrupted
from xiaoer.sellercentre.models import ImportJob, JobStatus

log = logging.getLogger(__name__)

# A folder without a job row may belong to an upload whose row is not committed yet.
ORPHAN_AFTER = timedelta(hours=1)


async def tidy_job(
    session: AsyncSession, job: ImportJob, now: datetime, folder: Path | None = None
) -> datetime | None:
    """Delete what the job no longer needs of its folder (``folder``, else the one on
    its row); returns when to look again, or None when nothing is left to do."""
    folder = folder or jobfiles.folder_of(job.id, job.files.get("folder"))
    if folder is None or job.status == JobStatus.running.value:
        return None
    policy = await policy_on(session, job.shop_id, now.date())
    days = policy.imports.keep_rejects_days
    if job.status == JobStatus.interrupted.value:
        given_up_at = as_utc(job.heartbeat_at) + timedelta(days=days)
        if now < given_up_at:
            return given_up_at
        message = say("not resumed within {days} days: its files were deleted", days=days)
        job.status = JobStatus.failed.value
        job.phase = "failed"
        job.error, job.error_data = str(message), to_data(message)
        job.finished_at = now
        await asyncio.to_thread(remove_tree, folder)
        return None
    await asyncio.to_thread(jobfiles.drop_uploads, folder, job.rejects)
    ended = as_utc(job.finished_at or job.heartbeat_at)
    expires = ended + timedelta(days=days)
    if now < expires and await asyncio.to_thread(folder.is_dir):
        return expires
    await asyncio.to_thread(remove_tree, folder)
    job.rejects = []
    return None


@timer_handler(CLEAN)
async def _clean(session: AsyncSession, timer: Timer, now: datetime) -> None:
    job = await session.get(ImportJob, int(timer.subject.removeprefix("job:")))
    if job is None:
        return
    again = await tidy_job(session, job, now)
    if again is not None:  # the policy's days were raised since
        await schedule_timer(
            session, shop_id=job.shop_id, kind=CLEAN, subject=timer.subject, due_at=again
        )


async def sweep_imports(
    db: Database, data_dir: Path, *, stale_after: float, now: datetime | None = None
) -> None:
    """At a process's start: mark the jobs whose process died interrupted, and tidy
    every job folder under the data directory."""
    moment = now or utcnow()
    async with db.session() as session:
        await do_mark_interrupted(session, stale_after=stale_after, now=moment)
        await session.commit()
    root = await asyncio.to_thread(jobfiles.imports_root, data_dir)
    folders = await asyncio.to_thread(jobfiles.job_folders, root)
    for job_id, folder in sorted(folders.items()):
        async with db.session() as session:
            job = await session.get(ImportJob, job_id)
            if job is None:
                changed = datetime.fromtimestamp(folder.stat().st_mtime, UTC)
                if moment - changed > ORPHAN_AFTER:
                    await asyncio.to_thread(remove_tree, folder)
                continue
            await tidy_job(session, job, moment, folder)
            await session.commit()
