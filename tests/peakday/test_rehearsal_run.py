"""A rehearsal against a real ``xiaoer serve``: a tiny forecast at high speed, played in
a scratch shop that is gone afterwards, its figures recorded for the real shop."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, Database
from xiaoer.peakday.rehearsal_models import RehearsalRun
from xiaoer.peakday.rehearsal_scratch import (
    RehearsalError,
    do_clean_abandoned,
    do_open_rehearsal,
    latest_rehearsal,
)
from xiaoer.shops.models import SCRATCH_PREFIX, Shop
from xiaoer.shops.service import list_shops
from xiaoer.staff.models import StaffAccount

FORECAST = """start,sessions
2026-11-11T23:15,1
2026-11-11T23:30,2
2026-11-11T23:45,3
2026-11-12T00:00,6
2026-11-12T00:15,8
2026-11-12T00:30,5
2026-11-12T00:45,4
2026-11-12T01:00,1
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``xiaoer serve`` on the test database, on loopback; its base URL."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "XIAOER_DATABASE_URL": database_url,
        "XIAOER_SECRET_KEY": "rehearsal-secret-key-0123456789",
        "XIAOER_RUN_TIMERS": "false",
    }
    env.pop("XIAOER_TRUSTED_PROXIES", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _rehearse(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XIAOER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "xiaoer", "rehearse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _rows_of_other_shops(db: Database, shop_id: int) -> dict[str, int]:
    """Rows of every table holding a shop id other than the real shop's."""
    found = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            if "shop_id" in table.c:
                count = await session.scalar(
                    select(func.count()).select_from(table).where(table.c.shop_id != shop_id)
                )
                if count:
                    found[table.name] = int(count)
    return found


async def test_a_rehearsal_plays_the_peak_hour_and_leaves_only_its_record(
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    server: str,
    database_url: str,
    on_postgres: bool,
    tmp_path: Path,
) -> None:
    # given: a shop of two agents, and a forecast whose peak hour is 00:00–01:00
    await make_staff("xiaomei")
    await make_staff("xiaoli")
    forecast = tmp_path / "double11.csv"
    forecast.write_text(FORECAST)

    # when: the hour is played 900 times faster (an interval a second), the buyers'
    # messages to reach their agent within 5 s
    done = await asyncio.to_thread(
        _rehearse, database_url, "--forecast", str(forecast), "--url", server,
        "--speed", "900", "--max-seconds", "30", "--target-ms", "5000", "--json",
    )  # fmt: skip

    # then: every buyer's message reached an agent, the report says so, the run is recorded
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert "peak hour from 2026-11-12 00:00" in done.stderr  # progress on the way
    assert figures["peak_start"] == "2026-11-12T00:00:00+08:00"
    assert (figures["peak_sessions"], figures["buyers"], figures["agents"]) == (23, 23, 2)
    assert figures["buyers_connected"] == 23
    assert [i["buyers"] for i in figures["intervals"]] == [6, 8, 5, 4]
    assert figures["messages_sent"] >= 2 * 23
    assert figures["delivered"] == figures["messages_sent"]
    # On SQLite the server may refuse a message for a moment (one writer at a time):
    # the buyer sends it again, as the widget does, and the report counts it.
    assert (figures["lost"], figures["refused"], figures["never_acknowledged"]) == (0, 0, 0)
    assert (figures["queued"], figures["waiting_at_end"]) == (0, 0)  # two agents: no queue
    assert sum(figures["refusals"].values()) == figures["sent_again"]
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    on_time = figures["p99_ms"] <= figures["target_ms"] and figures["fell_behind_at"] is None
    assert figures["held"] is on_time
    assert ("the system HELD" if on_time else "the system NOT HELD") in done.stdout
    if on_postgres:  # SQLite refuses a line for a moment now and then: see the note above
        assert figures["held"] is True
    async with db.session() as session:
        run = await latest_rehearsal(session, shop.id)
        assert run is not None
        assert (run.status, run.held, run.speed, run.peak_sessions) == ("done", on_time, 900, 23)
        assert run.figures["messages_sent"] == figures["messages_sent"]
        # the scratch shop and all it held are gone
        assert [s.code for s in await session.scalars(select(Shop))] == ["tea"]
        assert await session.scalar(select(func.count(StaffAccount.id))) == 2
    assert await _rows_of_other_shops(db, shop.id) == {}


async def test_a_rehearsal_killed_halfway_leaves_a_scratch_shop_the_next_one_removes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given: a rehearsal that started 20 minutes ago with a 60 s limit and never finished
    await make_staff("xiaomei")
    long_ago = utcnow() - timedelta(minutes=20)
    async with db.session() as session:
        scratch = await do_open_rehearsal(
            session, shop=shop, url="http://127.0.0.1:9", forecast_name="f.csv",
            peak_start=long_ago, peak_sessions=10, speed=10, buyers=10, agents=2,
            max_seconds=60, now=long_ago,
        )  # fmt: skip
        await session.commit()
        assert [s.code for s in await list_shops(session)] == ["tea"]  # never listed
    assert scratch.code.startswith(SCRATCH_PREFIX)

    # when: the next rehearsal cleans up before it starts
    removed = await do_clean_abandoned(db)

    # then: the scratch shop is gone, the run says it was abandoned and is not "latest"
    assert removed == [scratch.code]
    assert await _rows_of_other_shops(db, shop.id) == {}
    async with db.session() as session:
        run = await session.get(RehearsalRun, scratch.run_id)
        assert run is not None and run.status == "abandoned"
        assert await latest_rehearsal(session, shop.id) is None


async def test_one_rehearsal_at_a_time(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        await do_open_rehearsal(
            session, shop=shop, url="http://127.0.0.1:9", forecast_name="f.csv",
            peak_start=utcnow(), peak_sessions=10, speed=10, buyers=10, agents=1,
            max_seconds=600,
        )  # fmt: skip
        await session.commit()
    async with db.session() as session:
        with pytest.raises(RehearsalError, match="is still running"):
            await do_open_rehearsal(
                session, shop=shop, url="http://127.0.0.1:9", forecast_name="f.csv",
                peak_start=utcnow(), peak_sessions=10, speed=10, buyers=10, agents=1,
                max_seconds=600,
            )  # fmt: skip
    assert await do_clean_abandoned(db) == []  # still within its time: left alone
