"""A server killed halfway through an import (``kill -9``): the next server shows the job
interrupted, and completing it leaves every order of the export exactly once (O1)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.order_exports import write_sample_export
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Database
from xiaoer.orders.models import Order, OrderItem
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop

ORDERS = 40000  # its order list takes a few progress writes: long enough to be killed halfway
STALE_SECONDS = 1  # the second server's threshold, so the test need not wait long


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Servers:
    """``xiaoer serve`` processes on the test database, stopped at the end."""

    def __init__(self, database_url: str, data_dir: Path, logs: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        log = self.logs / f"serve-{len(self.started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "xiaoer", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={
                **os.environ,
                "XIAOER_DATABASE_URL": self.database_url,
                "XIAOER_DATA_DIR": str(self.data_dir),
                "XIAOER_SECRET_KEY": "crash-secret-key-0123456789",
                "XIAOER_RUN_TIMERS": "false",
                **env,
            },
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return process, base
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not up within 30 s: {log.read_text()}")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[Servers]:
    running = Servers(database_url, tmp_path / "data", tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def _job(db: Database, job_id: int) -> ImportJob:
    async with db.session() as session:
        job = await session.get(ImportJob, job_id)
        assert job is not None
        return job


async def _count(db: Database, column: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(column)) or 0)


async def test_an_import_killed_halfway_is_interrupted_and_completed_once(
    db: Database, shop: Shop, make_staff: MakeStaff, servers: Servers, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "export", ORDERS, seed=31, quirks=False)
    first, base = await asyncio.to_thread(servers.start)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, "boss")
        token = csrf_from((await client.get("/orders/import")).text)
        files = {
            "orders": (order_list.name, order_list.read_bytes(), "text/csv"),
            "items": (item_list.name, item_list.read_bytes(), "text/csv"),
        }
        started = await client.post("/orders/import", files=files, data={"csrf_token": token})
    assert started.status_code == 303
    job_id = int(started.headers["location"].rsplit("/", 1)[1])

    # Killed once its first chunks are in and its progress written.
    deadline = time.monotonic() + 30
    while (await _job(db, job_id)).done_bytes == 0:
        assert time.monotonic() < deadline, "the import made no progress"
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait)
    crashed = await _job(db, job_id)
    assert crashed.status == "running"  # as the dead process left it
    folder = tmp_path / "data" / "imports" / f"job-{job_id}"
    assert sorted(p.name for p in folder.iterdir()) == sorted([order_list.name, item_list.name])

    # The next server, once the heartbeat is older than its threshold, marks it as it starts.
    stale_at = as_utc(crashed.heartbeat_at) + timedelta(seconds=STALE_SECONDS)
    await asyncio.sleep(max(0.0, (stale_at - utcnow()).total_seconds()))
    second, base = await asyncio.to_thread(
        servers.start, XIAOER_IMPORT_STALE_SECONDS=str(STALE_SECONDS)
    )
    interrupted = await _job(db, job_id)
    assert (interrupted.status, interrupted.runs) == ("interrupted", 1)
    assert 0 < interrupted.done_bytes < interrupted.total_bytes
    # What the killed run had committed (on PostgreSQL a commit it sent just before
    # dying may land a moment later, so this is counted now).
    before = await _count(db, func.count(Order.id))
    assert 0 < before < ORDERS

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, "boss")
        assert "已中断" in (await client.get(f"/orders/import/{job_id}")).text
    # The resumed run is watched by a server with the default threshold: under a loaded
    # machine a chunk may take longer than the one second above, which would rightly
    # look like a dead process to the second server.
    second.terminate()
    await asyncio.to_thread(second.wait)
    _third, base = await asyncio.to_thread(servers.start)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, "boss")
        page = await client.get(f"/orders/import/{job_id}")
        resumed = await client.post(
            f"/orders/import/{job_id}/resume", data={"csrf_token": csrf_from(page.text)}
        )
        assert resumed.status_code == 303
        deadline = time.monotonic() + 60
        while (status := (await client.get(f"/api/orders/imports/{job_id}")).json())[
            "status"
        ] == "running":
            assert time.monotonic() < deadline, "the resumed import did not end"
            await asyncio.sleep(0.2)
    assert status["status"] == "done"
    job = await _job(db, job_id)
    assert job.runs == 2
    # Every order once; the resumed run counts the orders the killed one wrote as unchanged.
    assert await _count(db, func.count(Order.id)) == ORDERS
    assert await _count(db, func.count(func.distinct(Order.platform_order_id))) == ORDERS
    assert {k: job.summary[k] for k in ("read", "created", "updated", "unchanged", "rejected")} == {
        "read": ORDERS, "created": ORDERS - before, "updated": 0, "unchanged": before,
        "rejected": 0,
    }  # fmt: skip
    items = job.summary["items"]
    assert items["rejected"] == 0
    assert await _count(db, func.count(OrderItem.id)) == items["read"]
    assert not folder.exists()  # done, no rejects: its uploads are gone
