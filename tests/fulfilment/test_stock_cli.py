"""``xiaoer stock rebuild`` and ``xiaoer stock take`` as an operator runs them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from tests.conftest import create_scratch_database, drop_scratch_database
from tests.fulfilment.stock_world import Stocked, stocked
from tests.test_cli import xiaoer
from xiaoer.core.db import Database
from xiaoer.core.migrate import upgrade
from xiaoer.fulfilment.models import StockLevel, StockMove, StockTake
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.service import do_add_staff


@pytest.fixture
def cli_db(tmp_path: Path) -> Iterator[str]:
    url = create_scratch_database(tmp_path, "stockcli")
    upgrade(url)
    yield url
    drop_scratch_database(url)


async def _shop(url: str) -> tuple[int, Stocked]:
    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="tea", name="茶香小铺")
            await session.commit()
        return shop.id, await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    finally:
        await db.dispose()


async def _sql(url: str, statement: str, **values: object) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            await session.execute(text(statement), values)
            await session.commit()
    finally:
        await db.dispose()


async def test_rebuild_checks_reports_the_drift_and_fixes_it(cli_db: str) -> None:
    _, world = await _shop(cli_db)
    clean = xiaoer(cli_db, "stock", "rebuild", "--check")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout.splitlines()[-1])["drift"] == 0
    await _sql(cli_db, "UPDATE stock_level SET on_hand = 7, reserved = 2 WHERE sku_id = :s",
               s=world.skus["CL-W"])  # fmt: skip
    checked = xiaoer(cli_db, "stock", "rebuild", "--check", "--shop", "tea")
    assert checked.returncode == 1
    assert json.loads(checked.stdout.splitlines()[-1])["drift"] == 2
    assert "drift CL-W A on_hand: was 7, is 10" in checked.stderr
    assert "drift CL-W A reserved: was 2, is 0" in checked.stderr
    fixed = xiaoer(cli_db, "stock", "rebuild")
    assert fixed.returncode == 0, fixed.stderr
    summary = json.loads(fixed.stdout.splitlines()[-1])
    assert (summary["levels"], summary["drift"]) == (2, 2)
    assert set(summary) == {"levels", "drift", "seconds"}
    again = xiaoer(cli_db, "stock", "rebuild", "--check")
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[-1])["drift"] == 0
    assert xiaoer(cli_db, "stock", "rebuild", "--shop", "nope").returncode == 1


async def test_stock_take_reads_a_sheet_into_the_open_take_of_its_location(
    cli_db: str, tmp_path: Path
) -> None:
    shop_id, world = await _shop(cli_db)
    db = Database(cli_db)
    try:
        async with db.session() as session:
            wu = await do_add_staff(session, shop_id=shop_id, username="wu", number="2001",
                                    name="吴", password="correct-horse-7", level="junior",
                                    team="presale", roles=("warehouse",))  # fmt: skip
            from xiaoer.fulfilment.stocktake import do_start_take

            take = await do_start_take(session, wu, location_id=world.main)
            await session.commit()
    finally:
        await db.dispose()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["商家编码", "标题", "属性", "库位", "实盘数"])
    sheet.append(["CL-W", "棉麻窗帘", "颜色：米白", "A", 9])
    sheet.append(["CL-G", "棉麻窗帘", "颜色：浅灰", "A", 4])
    sheet.append(["NOPE", "", "", "A", 1])
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "盘点.xlsx"
    path.write_bytes(out.getvalue())

    done = xiaoer(cli_db, "stock", "take", str(path), "--shop", "tea")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert {k: summary[k] for k in ("read", "counted", "rejected", "recount", "posted")} == {
        "read": 3, "counted": 2, "rejected": 1, "recount": 0, "posted": 1,
    }  # fmt: skip
    assert "rejected line 4: no SKU NOPE" in done.stderr
    again = json.loads(xiaoer(cli_db, "stock", "take", str(path)).stdout.splitlines()[-1])
    assert (again["counted"], again["posted"], again["unchanged"]) == (0, 0, 2)
    db = Database(cli_db)
    try:
        async with db.session() as session:
            level = await session.scalar(
                select(StockLevel.on_hand).where(StockLevel.sku_id == world.skus["CL-W"])
            )
            moves = list(await session.scalars(
                select(StockMove.actor).where(StockMove.document_id == take.id,
                                              StockMove.document_kind == "take")
            ))  # fmt: skip
            status = await session.scalar(select(StockTake.status).where(StockTake.id == take.id))
    finally:
        await db.dispose()
    assert (level, moves, status) == (9, ["import"], "posted")
    missing = xiaoer(cli_db, "stock", "take", str(tmp_path / "none.xlsx"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
