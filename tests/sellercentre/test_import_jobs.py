"""Import jobs keep their files private and only as long as they serve, and a job whose
process died is shown interrupted and completed by importing its files again (O1)."""

from __future__ import annotations

import asyncio
import csv
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.order_exports import write_sample_export
from sqlalchemy import func, select, update

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.sellercentre.test_import_page import _spoil_first_row
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy, policy_from_data
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.timers import fire_all_due
from xiaoer.orders.models import Order
from xiaoer.sellercentre import imports, ingest
from xiaoer.sellercentre.cleanup import sweep_imports
from xiaoer.sellercentre.imports import (
    CLEAN,
    ImportForbidden,
    JobRun,
    do_resume_import,
    do_start_import,
    interrupt_jobs,
    run_job,
    start_in_background,
    wait_for_jobs,
)
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.sellercentre.jobfiles import imports_root
from xiaoer.sellercentre.models import ImportJob, JobStatus
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

STALE = timedelta(minutes=2)  # the app's default threshold is a minute


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def _upload(client: httpx.AsyncClient, *files: Path) -> int:
    token = csrf_from((await client.get("/orders/import")).text)
    parts = {
        field: (path.name, path.read_bytes(), "text/csv")
        for field, path in zip(("orders", "items"), files, strict=False)
    }
    started = await client.post("/orders/import", files=parts, data={"csrf_token": token})
    assert started.status_code == 303
    return int(started.headers["location"].rsplit("/", 1)[1])


async def _job(db: Database, job_id: int) -> ImportJob:
    async with db.session() as session:
        job = await session.get(ImportJob, job_id)
        assert job is not None
        return job


async def _orders(db: Database, shop_id: int) -> tuple[int, int]:
    """(orders, distinct platform ids) of the shop."""
    async with db.session() as session:
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Order.platform_order_id))).where(
                    Order.shop_id == shop_id
                )
            )
        ).one()
    return int(row[0]), int(row[1])


def _first_rows(source: Path, target: Path, count: int) -> Path:
    """The export's header and first ``count`` rows, as the lost run had read them."""
    with source.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    with target.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows[: count + 1])
    return target


async def _stored_job(
    db: Database, boss: StaffAccount, root: Path, order_list: Path, items: Path | None = None
) -> JobRun:
    """A job as the import page stores it, not started."""
    with order_list.open("rb") as orders:
        item_file = items.open("rb") if items is not None else None
        try:
            async with db.session() as session:
                run = await do_start_import(
                    session,
                    staff=boss,
                    root=root,
                    orders=(order_list.name, orders),
                    items=(items.name, item_file) if items is not None and item_file else None,
                )
                await session.commit()
        finally:
            if item_file is not None:
                item_file.close()
    return run


async def _lose_process(db: Database, job_id: int, *, ago: timedelta = STALE) -> None:
    """The job's process died ``ago``, 19 % into the order list."""
    async with db.session() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(heartbeat_at=utcnow() - ago, phase="orders", done_bytes=19, total_bytes=100)
        )
        await session.commit()


# --- files -----------------------------------------------------------------------


async def test_an_upload_is_stored_owner_only_and_deleted_when_the_job_is_done(
    db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    boss = await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "export", 30, seed=5, quirks=False)
    data = tmp_path / "data"
    previous = os.umask(0)  # the most permissive: the modes must not depend on it
    try:
        run = await _stored_job(db, boss, imports_root(data), order_list, item_list)
    finally:
        os.umask(previous)
    folder = data / "imports" / f"job-{run.job_id}"
    assert (run.orders, run.items) == (folder / order_list.name, folder / item_list.name)
    assert [_mode(p) for p in (data, data / "imports", folder)] == [0o700, 0o700, 0o700]
    assert [_mode(p) for p in (run.orders, run.items)] == [0o600, 0o600]
    assert run.orders.read_bytes() == order_list.read_bytes()

    await run_job(db, run)
    job = await _job(db, run.job_id)
    assert (job.status, job.summary["created"]) == ("done", 30)
    assert not folder.exists()  # no rejects: nothing is kept


async def test_a_rejects_file_is_kept_owner_only_and_the_uploads_go(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path, data_dir: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    order_list, item_list = write_sample_export(tmp_path, 40, seed=21, quirks=False)
    _spoil_first_row(order_list)
    job_id = await _upload(client, order_list, item_list)
    await wait_for_jobs()
    job = await _job(db, job_id)
    folder = data_dir / "imports" / f"job-{job_id}"
    assert (job.status, job.files["folder"]) == ("done", str(folder))
    # The spoilt order's row, and its items with it, were rejected: two files.
    rejects = [folder / f"{path.stem}.rejects.csv" for path in (order_list, item_list)]
    assert job.rejects == [str(path) for path in rejects]
    kept = sorted([p.name for p in rejects] + [f"{p.name}.reasons.json" for p in rejects])
    assert sorted(p.name for p in folder.iterdir()) == kept
    assert [_mode(p) for p in folder.iterdir()] == [0o600] * 4
    assert _mode(folder) == 0o700
    download = await client.get(f"/orders/import/{job_id}/rejects/0")
    assert download.status_code == 200
    assert sorted(p.name for p in folder.iterdir()) == kept  # the translated copy is gone once sent


async def test_a_failed_job_leaves_no_file_behind(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path, data_dir: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    _orders_list, item_list = write_sample_export(tmp_path, 5, seed=22)
    wrong = tmp_path / "ExportOrderList.csv"
    wrong.write_bytes(item_list.read_bytes())
    job_id = await _upload(client, wrong)
    await wait_for_jobs()
    assert (await _job(db, job_id)).status == "failed"
    assert not (data_dir / "imports" / f"job-{job_id}").exists()


async def test_rejects_files_are_removed_once_the_policys_days_have_passed(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path, data_dir: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    order_list, item_list = write_sample_export(tmp_path, 40, seed=21, quirks=False)
    _spoil_first_row(order_list)
    job_id = await _upload(client, order_list, item_list)
    await wait_for_jobs()
    job = await _job(db, job_id)
    assert job.finished_at is not None
    ended = as_utc(job.finished_at)
    async with db.session() as session:
        timer = await session.scalar(select(Timer).where(Timer.kind == CLEAN))
    assert timer is not None and timer.subject == f"job:{job_id}"
    assert as_utc(timer.due_at) == ended + timedelta(days=30)
    folder = data_dir / "imports" / f"job-{job_id}"

    await fire_all_due(db, now=ended + timedelta(days=29))
    assert folder.is_dir()
    assert (await client.get(f"/orders/import/{job_id}/rejects/0")).status_code == 200

    await fire_all_due(db, now=ended + timedelta(days=30, minutes=1))
    assert not folder.exists()
    assert (await _job(db, job_id)).rejects == []
    assert (await client.get(f"/orders/import/{job_id}/rejects/0")).status_code == 404
    page = await client.get(f"/orders/import/{job_id}")
    assert "下载拒绝文件" not in page.text and "拒绝 1" in page.text  # the report stays


async def test_a_process_start_tidies_what_no_timer_did(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    boss = await make_staff("boss", "supervisor")
    data = tmp_path / "data"
    root = imports_root(data)
    order_list, item_list = write_sample_export(tmp_path / "export", 40, seed=21, quirks=False)
    _spoil_first_row(order_list)
    run = await _stored_job(db, boss, root, order_list, item_list)
    await run_job(db, run)
    job = await _job(db, run.job_id)
    folder = root / f"job-{run.job_id}"
    # The process died between the job's end and the deletion of its uploads.
    left = folder / "left-behind.csv"
    left.write_bytes(b"x")
    orphan = root / "job-9999"  # its row is gone, for an hour now
    orphan.mkdir()
    hour_ago = time.time() - 3700
    os.utime(orphan, (hour_ago, hour_ago))
    young = root / "job-9998"  # an upload whose row is not committed yet
    young.mkdir()
    other = root / "notes"  # not ours
    other.mkdir()
    async with db.session() as session:
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=policy_from_data({**Policy().to_plain(), "imports": {"keep_rejects_days": 2}}),
            source="test",
            effective_from=utcnow().date() - timedelta(days=10),
            actor="boss",
        )
        await session.commit()

    await sweep_imports(db, data, stale_after=60)
    kept = [Path(p).name for p in job.rejects]
    assert len(kept) == 2
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        kept + [f"{name}.reasons.json" for name in kept]
    )
    assert (orphan.exists(), young.exists(), other.exists()) == (False, True, True)

    assert job.finished_at is not None
    await sweep_imports(db, data, stale_after=60, now=as_utc(job.finished_at) + timedelta(days=2))
    assert not folder.exists() and other.exists()
    assert (await _job(db, run.job_id)).rejects == []


# --- interrupted, resumed ---------------------------------------------------------


async def test_a_job_whose_process_died_shows_interrupted_and_a_live_one_runs_on(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, shop: Shop
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    async with db.session() as session:
        dead = ImportJob(shop_id=shop.id, files={"orders": "dead.csv"}, summary={})
        live = ImportJob(shop_id=shop.id, files={"orders": "live.csv"}, summary={})
        session.add_all([dead, live])
        await session.commit()
        dead_id, live_id = dead.id, live.id
    await _lose_process(db, dead_id)
    await _lose_process(db, live_id, ago=timedelta(seconds=5))

    listing = await client.get("/orders/import")
    assert listing.status_code == 200
    assert listing.text.count("已中断") == 1 and listing.text.count("导入中") == 1
    job = await _job(db, dead_id)
    assert (job.status, job.runs, job.done_bytes) == ("interrupted", 1, 19)
    assert job.error == "the import stopped when its process ended; resume it to finish"
    still = await _job(db, live_id)
    assert (still.status, still.error, still.runs) == ("running", "", 1)

    page = await client.get(f"/orders/import/{dead_id}")
    assert "导入进程意外结束，导入停在了中途；请继续导入以完成" in page.text
    assert f'action="/orders/import/{dead_id}/resume"' in page.text
    assert "19%" in page.text
    shown = (await client.get(f"/api/orders/imports/{dead_id}")).json()
    assert (shown["status"], shown["percent"], shown["resumable"]) == ("interrupted", 19, True)
    # Its uploads wait to be resumed: given up, and deleted, after the policy's days.
    async with db.session() as session:
        timer = await session.scalar(select(Timer).where(Timer.subject == f"job:{dead_id}"))
    assert timer is not None and timer.kind == CLEAN


async def test_an_interrupted_import_is_completed_by_importing_its_files_again(
    client: httpx.AsyncClient,
    db: Database,
    make_staff: MakeStaff,
    shop: Shop,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    boss = await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "export", 300, seed=8, quirks=False)
    run = await _stored_job(db, boss, imports_root(data_dir), order_list, item_list)
    # The lost run had committed its first 120 orders, and their items, when it died.
    head = _first_rows(order_list, tmp_path / order_list.name, 120)
    done_before = await import_orders(db, shop.id, head, item_list)
    assert done_before.orders.created == 120
    await _lose_process(db, run.job_id)
    await sign_in(client, "boss")
    page = await client.get(f"/orders/import/{run.job_id}")
    assert "已中断" in page.text

    resumed = await client.post(
        f"/orders/import/{run.job_id}/resume", data={"csrf_token": csrf_from(page.text)}
    )
    assert resumed.status_code == 303
    assert resumed.headers["location"] == f"/orders/import/{run.job_id}"
    await wait_for_jobs()
    job = await _job(db, run.job_id)
    assert (job.status, job.runs, job.error) == ("done", 2, "")
    # The report is the resumed run's: what the lost run wrote counts as unchanged.
    assert {k: job.summary[k] for k in ("read", "created", "updated", "unchanged")} == {
        "read": 300, "created": 180, "updated": 0, "unchanged": 120,
    }  # fmt: skip
    assert job.summary["items"]["rejected"] == 0
    assert job.summary["items"]["read"] == done_before.items.read
    assert await _orders(db, shop.id) == (300, 300)
    done_page = await client.get(f"/orders/import/{run.job_id}")
    assert "这次导入中断后继续完成（共运行 2 次）" in done_page.text
    assert not (data_dir / "imports" / f"job-{run.job_id}").exists()


async def test_only_the_shops_supervisors_and_managers_may_resume_an_import(
    client: httpx.AsyncClient,
    db: Database,
    make_staff: MakeStaff,
    shop: Shop,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei", "agent")
    order_list, _items = write_sample_export(tmp_path / "export", 5, seed=9, quirks=False)
    run = await _stored_job(db, boss, imports_root(data_dir), order_list)
    await _lose_process(db, run.job_id)
    async with db.session() as session:
        await imports.do_mark_interrupted(session, stale_after=60)
        await session.commit()

    async def unchanged() -> None:
        job = await _job(db, run.job_id)
        assert (job.status, job.runs) == ("interrupted", 1)
        assert await _orders(db, shop.id) == (0, 0)

    await sign_in(client, "mei")
    token = csrf_from((await client.get("/orders/tasks")).text)
    refused = await client.post(f"/orders/import/{run.job_id}/resume", data={"csrf_token": token})
    assert refused.status_code == 403
    await unchanged()
    async with db.session() as session:  # the service decides, whoever calls it
        with pytest.raises(ImportForbidden):
            await do_resume_import(session, staff=mei, job_id=run.job_id)
    await unchanged()

    async with db.session() as session:
        other = await do_create_shop(session, code="linen", name="棉麻小铺")
        await session.commit()
    stranger = await make_staff("stranger", "supervisor")
    async with db.session() as session:
        await session.execute(
            update(StaffAccount).where(StaffAccount.id == stranger.id).values(shop_id=other.id)
        )
        await session.commit()
    await sign_in(client, "stranger")
    token = csrf_from((await client.get("/orders/import")).text)
    hidden = await client.post(f"/orders/import/{run.job_id}/resume", data={"csrf_token": token})
    assert hidden.status_code == 404
    assert (await client.get(f"/orders/import/{run.job_id}")).status_code == 404
    await unchanged()

    await sign_in(client, "boss")
    page = await client.get(f"/orders/import/{run.job_id}")
    run.orders.unlink()
    gone = await client.post(
        f"/orders/import/{run.job_id}/resume", data={"csrf_token": csrf_from(page.text)}
    )
    assert gone.status_code == 409
    assert "这次导入的文件已经不在了，请重新上传" in gone.text
    await unchanged()


async def test_a_done_import_is_not_resumed(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    order_list, _items = write_sample_export(tmp_path, 5, seed=10, quirks=False)
    job_id = await _upload(client, order_list)
    await wait_for_jobs()
    page = await client.get(f"/orders/import/{job_id}")
    assert "/resume" not in page.text
    refused = await client.post(
        f"/orders/import/{job_id}/resume", data={"csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 409 and "只有已中断的导入可以继续" in refused.text
    job = await _job(db, job_id)
    assert (job.status, job.runs, job.summary["created"]) == ("done", 1, 5)


async def test_a_run_whose_job_was_resumed_elsewhere_stops_and_writes_nothing(
    db: Database, make_staff: MakeStaff, shop: Shop, tmp_path: Path
) -> None:
    boss = await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "export", 10000, seed=11, quirks=False)
    run = await _stored_job(db, boss, imports_root(tmp_path / "data"), order_list, item_list)
    # Taken for dead, the job was resumed by another process: it is run 2's now.
    async with db.session() as session:
        await session.execute(update(ImportJob).where(ImportJob.id == run.job_id).values(runs=2))
        await session.commit()
    await run_job(db, run)  # run 1 wakes up, finds out at its first heartbeat, and stops
    job = await _job(db, run.job_id)
    assert (job.status, job.runs, job.summary, job.finished_at) == ("running", 2, {}, None)
    assert (job.done_bytes, job.error) == (0, "")
    imported, _distinct = await _orders(db, shop.id)
    assert imported == 0  # it did not import beside run 2
    assert run.orders.is_file()  # run 2's files are left alone


async def test_a_server_stopping_in_good_order_leaves_its_imports_resumable(
    db: Database,
    make_staff: MakeStaff,
    shop: Shop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boss = await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "export", 6000, seed=12, quirks=False)
    run = await _stored_job(db, boss, imports_root(tmp_path / "data"), order_list, item_list)
    # The import waits before its second chunk until the server is stopping, so the
    # stop finds it halfway however fast this machine reads.
    stopping = asyncio.Event()
    chunks = ingest.read_chunks

    async def held(rows: Any, size: int) -> AsyncIterator[list[Any]]:
        async for number, batch in _numbered(chunks(rows, size)):
            if number:
                await stopping.wait()
            yield batch

    monkeypatch.setattr(ingest, "read_chunks", held)
    start_in_background(db, run, stale_after=60)
    deadline = time.monotonic() + 20
    while (await _job(db, run.job_id)).done_bytes == 0:  # under way
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    asyncio.get_running_loop().call_soon(stopping.set)  # once the stop is asked for
    await interrupt_jobs()
    job = await _job(db, run.job_id)
    assert job.status == "interrupted" and job.finished_at is None
    assert job.error == "the server stopped during the import; resume it to finish"
    assert 0 < job.done_bytes < job.total_bytes
    assert run.orders.is_file() and run.items is not None and run.items.is_file()


async def _numbered(batches: AsyncIterator[list[Any]]) -> AsyncIterator[tuple[int, list[Any]]]:
    number = 0
    async for batch in batches:
        yield number, batch
        number += 1


async def test_a_worker_starting_marks_the_imports_whose_process_died(
    database_url: str, db: Database, shop: Shop, tmp_path: Path
) -> None:
    async with db.session() as session:
        dead = ImportJob(
            shop_id=shop.id, files={"orders": "x.csv"}, summary={}, heartbeat_at=utcnow() - STALE
        )
        session.add(dead)
        await session.commit()
    env = {**os.environ, "XIAOER_DATABASE_URL": database_url, "XIAOER_DATA_DIR": str(tmp_path)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "xiaoer", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (await _job(db, dead.id)).status == JobStatus.interrupted.value
    assert _mode(tmp_path / "imports") == 0o700
