"""``xiaoer points rebuild`` and ``xiaoer points settle`` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import create_scratch_database, drop_scratch_database
from tests.customers.points_world import at, paid_order
from tests.test_cli import xiaoer
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade
from xiaoer.shops.service import do_create_shop


@pytest.fixture
def cli_db(tmp_path: Path) -> Iterator[str]:
    url = create_scratch_database(tmp_path, "pointscli")
    upgrade(url)
    yield url
    drop_scratch_database(url)


async def test_rebuild_reports_the_drift_and_fixes_it(cli_db: str) -> None:
    # given a buyer with 120 points pending, and the balance then written around the ledger
    db = Database(cli_db)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="tea", name="茶香小铺")
            await paid_order(session, shop.id, "C-1", 120, paid=at("2026-05-01"))
            await session.commit()
        async with db.session() as session:
            await session.execute(text("UPDATE points_balance SET pending = 7, usable = 3"))
            await session.commit()
    finally:
        await db.dispose()
    # when checked, then the drift is reported and the exit code says so
    checked = xiaoer(cli_db, "points", "rebuild", "--check", "--shop", "tea")
    assert checked.returncode == 1, checked.stderr
    assert json.loads(checked.stdout.splitlines()[-1])["drift"] == 2
    assert "was 7, is 120" in checked.stderr and "was 3, is 0" in checked.stderr
    # when rebuilt, then a second check finds nothing
    assert xiaoer(cli_db, "points", "rebuild").returncode == 0
    clean = xiaoer(cli_db, "points", "rebuild", "--check")
    assert clean.returncode == 0 and json.loads(clean.stdout.splitlines()[-1])["drift"] == 0
    # and the pass by hand earns nothing twice
    settled = xiaoer(cli_db, "points", "settle", "--shop", "tea")
    assert settled.returncode == 0, settled.stderr
    assert json.loads(settled.stdout.splitlines()[-1])["earned"] == 0
    assert xiaoer(cli_db, "points", "settle", "--shop", "nope").returncode == 1
