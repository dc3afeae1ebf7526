"""Count sheets read as the seller-centre reports are: workbooks and CSV files alike,
a rejects file beside the sheet, progress by bytes, whole-file refusals, the command
and the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.aftersales.commands import xiaoer
from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.fulfilment.stock_world import stocked
from tests.fulfilment.test_stocktake import HEADERS
from tests.fulfilment.test_stocktake import _sheet as _workbook
from tests.test_cli import xiaoer as run_command
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.fulfilment.models import StockLevel, StockMove, StockTake, StockTakeLine
from xiaoer.fulfilment.stocktake import (
    do_import_count_file,
    do_import_counts,
    do_start_take,
)
from xiaoer.sellercentre.exports import ExportError
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

HEADER = HEADERS
REJECTS_HEADER = [*HEADER, "行号", "原因"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What each kind of input gives its rejects file.
REJECTS_ENCODING = {"xlsx": "utf-8-sig", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig",
                    "gb18030": "gb18030"}  # fmt: skip


def _csv(rows: list[list[object]], encoding: str, header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _sheet_file(folder: Path, stem: str, rows: list[list[object]], kind: str) -> Path:
    if kind == "xlsx":
        path = folder / f"{stem}.xlsx"
        path.write_bytes(_workbook(rows))
    else:
        path = folder / f"{stem}.csv"
        path.write_bytes(_csv(rows, kind))
    return path


def _rejects(path: Path, encoding: str) -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def _skus_at(db: Database, shop_id: int, location_id: int, codes: list[str]) -> None:
    """More SKUs with a level (of nothing) at the location, so a take lists them."""
    async with db.session() as session:
        product = Product(shop_id=shop_id, code="MAT", title="地垫", price_fen=1900)
        session.add(product)
        await session.flush()
        skus = [Sku(shop_id=shop_id, product_id=product.id, code=code, price_fen=1900)
                for code in codes]  # fmt: skip
        session.add_all(skus)
        await session.flush()
        session.add_all(
            StockLevel(shop_id=shop_id, sku_id=sku.id, location_id=location_id) for sku in skus
        )
        await session.commit()


async def _counted(db: Database, take_id: int) -> dict[int, int | None]:
    async with db.session() as session:
        lines = await session.scalars(select(StockTakeLine).where(StockTakeLine.take_id == take_id))
        return {line.sku_id: line.counted for line in lines}


async def _take_moves(db: Database) -> list[tuple[int | None, int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(StockMove.document_id, StockMove.sku_id, StockMove.on_hand_delta)
            .where(StockMove.document_kind == "take")
            .order_by(StockMove.id)
        )
        return [(document, sku, delta) for document, sku, delta in rows.all()]


async def _counting(db: Database, shop: Shop, make_staff: MakeStaff) -> tuple[Any, Any, StockTake]:
    """White 10 and grey 4 at A, the warehouse's wu, and a take of A that wu started."""
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await session.commit()
    return world, wu, take


@pytest.mark.parametrize("kind", ["xlsx", "utf-8", "utf-8-sig", "gb18030"])
async def test_a_csv_sheet_counts_as_the_workbook_does(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path, kind: str
) -> None:
    # given: white 10 and grey 4 at A, and a filled sheet in this kind of file
    world, wu, take = await _counting(db, shop, make_staff)
    rows: list[list[object]] = [
        ["CL-W", "棉麻窗帘", "颜色：米白", "A", 9],
        ["CL-G", "棉麻窗帘", "颜色：浅灰", "A", 4],
        ["NOPE", "", "", "A", 1],
    ]
    sheet = _sheet_file(tmp_path, "盘点", rows, kind)
    # when
    async with db.session() as session:
        report = await do_import_count_file(session, wu, sheet, take_id=take.id)
        await session.commit()
    # then: the same counts whatever the file, one move posted
    assert (report.read, report.counted, report.recount, report.posted, report.status) == (
        3, 2, 0, 1, "posted")  # fmt: skip
    assert [(line, str(why)) for line, why in report.rejected] == [(4, "no SKU NOPE")]
    assert await _counted(db, take.id) == {world.skus["CL-W"]: 9, world.skus["CL-G"]: 4}
    assert await _take_moves(db) == [(take.id, world.skus["CL-W"], -1)]
    # and the rejects file beside it is in the input's encoding (a workbook's: UTF-8)
    assert report.rejects_file == tmp_path / "盘点.rejects.csv"
    assert _rejects(report.rejects_file, REJECTS_ENCODING[kind]) == [
        REJECTS_HEADER,
        ["NOPE", "", "", "A", "1", "4", "no SKU NOPE"],
    ]
    assert report.as_json()["rejects_files"] == [str(report.rejects_file)]


async def test_the_rejects_file_holds_exactly_the_refused_rows_with_their_line_and_reason(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4, "RUG-1": 1})
    await _skus_at(db, shop.id, world.main, ["MAT-1"])
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await session.commit()
    path = tmp_path / "counts.csv"
    path.write_text(
        "商家编码,标题,属性,库位,实盘数\r\n"
        "CL-W,棉麻窗帘,颜色：米白,A,10\r\n"  # 2: CL-W twice
        "NOPE,,,A,1\r\n"  # 3: unknown SKU
        "CL-G,棉麻窗帘,颜色：浅灰,A,4\r\n"  # 4: counted
        "RUG-1,羊毛地毯,,B,1\r\n"  # 5: another location
        "CL-W,,,A,9\r\n"  # 6: CL-W twice
        "\r\n"  # 7: blank, skipped
        "MAT-1,地垫,,A,ten\r\n",  # 8: not a count
        "utf-8",
    )
    async with db.session() as session:
        report = await do_import_count_file(session, wu, path, take_id=take.id)
        await session.commit()
    assert (report.read, report.counted, report.status) == (6, 1, "counting")
    twice = "the SKU CL-W is on lines 2, 6"
    expected = [
        ["CL-W", "棉麻窗帘", "颜色：米白", "A", "10", "2", twice],
        ["NOPE", "", "", "A", "1", "3", "no SKU NOPE"],
        ["RUG-1", "羊毛地毯", "", "B", "1", "5", "the SKU RUG-1 is not on the sheet of A"],
        ["CL-W", "", "", "A", "9", "6", twice],
        ["MAT-1", "地垫", "", "A", "ten", "8", "the count must be a whole number of 0 or more"],
    ]
    assert [[str(line), str(why)] for line, why in report.rejected] == [r[-2:] for r in expected]
    assert report.rejects_file is not None
    assert _rejects(report.rejects_file, "utf-8") == [REJECTS_HEADER, *expected]
    counted = await _counted(db, take.id)
    assert len(counted) == 4
    assert {sku: n for sku, n in counted.items() if n is not None} == {world.skus["CL-G"]: 4}


async def test_rows_the_take_refuses_go_to_the_rejects_file_too(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        first = await do_import_counts(session, wu, _workbook([["CL-W", "", "", "A", 10],
                                                               ["CL-G", "", "", "A", 4]]),
                                       take_id=take.id)  # fmt: skip
        await session.commit()
    assert (first.status, first.rejects_file) == ("posted", None)
    late = _sheet_file(tmp_path, "late", [["CL-W", "", "", "A", 9], ["CL-G", "", "", "A", 4]],
                       "gb18030")  # fmt: skip
    async with db.session() as session:
        report = await do_import_count_file(session, wu, late, take_id=take.id)
        await session.commit()
    assert (report.counted, report.unchanged, report.posted) == (0, 1, 0)
    assert report.rejects_file is not None
    posted = "the take is posted: its counts do not change"
    assert _rejects(report.rejects_file, "gb18030") == [
        REJECTS_HEADER,
        ["CL-W", "", "", "A", "9", "2", posted],
    ]
    assert await _take_moves(db) == []


async def test_a_sheet_of_thousands_of_rows_is_read_in_chunks_with_its_progress(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    # given: 4,500 SKUs at A (CL-W with 10, the mats with none)
    world = await stocked(db, shop.id, {"CL-W": 10})
    mats = [f"MAT-{n:04d}" for n in range(1, 4500)]
    await _skus_at(db, shop.id, world.main, mats)
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await session.commit()
    found = {"MAT-0007": 1, "MAT-4000": 2}  # within the threshold: no recount
    rows: list[list[object]] = [["CL-W", "棉麻窗帘", "", "A", 10]]
    rows += [[code, "地垫", "", "A", found.get(code, 0)] for code in mats]
    path = tmp_path / "big.csv"
    path.write_bytes(_csv(rows, "gb18030"))
    told: list[tuple[str, int, int]] = []
    # when
    async with db.session() as session:
        report = await do_import_count_file(
            session, wu, path, take_id=take.id,
            progress=lambda phase, done, total: told.append((phase, done, total)),
        )  # fmt: skip
        await session.commit()
    # then: every count in, posted as one document
    assert (report.read, report.counted, report.rejected, report.posted, report.status) == (
        4500, 4500, [], 2, "posted")  # fmt: skip
    moves = await _take_moves(db)
    assert sorted(delta for _, _, delta in moves) == [1, 2]
    assert {document for document, _, _ in moves} == {take.id}
    # and the progress grew chunk by chunk to the file's size
    size = path.stat().st_size
    assert len(told) >= 3  # three chunks of at most 2,000 rows
    assert {phase for phase, _, _ in told} == {"stock-take"}
    assert {total for _, _, total in told} == {size}
    done = [d for _, d, _ in told]
    assert done == sorted(done) and done[0] < size and done[-1] == size


@pytest.mark.parametrize("kind", ["xlsx", "utf-8"])
async def test_a_sheet_without_a_required_column_is_refused_whole_and_nothing_is_written(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path, kind: str
) -> None:
    _world, wu, take = await _counting(db, shop, make_staff)
    header = ["商家编码", "标题", "属性", "库位"]
    rows: list[list[object]] = [["CL-W", "", "", "A"], ["NOPE", "", "", "A"]]
    path = tmp_path / f"counts.{'xlsx' if kind == 'xlsx' else 'csv'}"
    path.write_bytes(_workbook(rows, header) if kind == "xlsx" else _csv(rows, kind, header))
    async with db.session() as session:
        with pytest.raises(ExportError, match="missing column 实盘数: not a stock-take count"):
            await do_import_count_file(session, wu, path, take_id=take.id)
        await session.commit()
    assert _names(tmp_path) == [path.name]  # no rejects file
    assert set((await _counted(db, take.id)).values()) == {None}
    async with db.session() as session:
        status = await session.scalar(select(StockTake.status).where(StockTake.id == take.id))
    assert status == "counting"


async def test_the_command_prints_and_returns_the_rejects_file(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path, database_url: str
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        await do_start_take(session, wu, location_id=world.main)
        await session.commit()
    rows: list[list[object]] = [["CL-W", "", "", "A", 9], ["CL-G", "", "", "A", 4],
                                ["NOPE", "", "", "A", 1]]  # fmt: skip
    sheet = _sheet_file(tmp_path, "盘点", rows, "gb18030")
    summary, stderr = await xiaoer(database_url, "stock", "take", str(sheet), "--shop", "tea")
    assert {k: summary[k] for k in ("read", "counted", "rejected", "posted", "status")} == {
        "read": 3, "counted": 2, "rejected": 1, "posted": 1, "status": "posted"}  # fmt: skip
    rejects = tmp_path / "盘点.rejects.csv"
    assert summary["rejects_files"] == [str(rejects)]
    assert "rejected line 4: no SKU NOPE" in stderr
    assert f"rejected rows written to {rejects}" in stderr.replace("\n", "")
    assert _rejects(rejects, "gb18030")[1] == ["NOPE", "", "", "A", "1", "4", "no SKU NOPE"]
    again, _ = await xiaoer(database_url, "stock", "take", str(sheet), "--shop", "tea")
    assert (again["counted"], again["unchanged"], again["posted"]) == (0, 2, 0)
    no_counts = tmp_path / "no-counts.csv"
    no_counts.write_bytes(_csv([["CL-W", "", "", "A"]], "utf-8", HEADER[:4]))
    refused = run_command(database_url, "stock", "take", str(no_counts), "--shop", "tea")
    assert refused.returncode == 1 and "missing column 实盘数" in refused.stderr


async def test_a_csv_upload_counts_on_the_take_page(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    world, _wu, take = await _counting(db, shop, make_staff)
    await sign_in(client, "wu")
    url = f"/fulfilment/stock/takes/{take.id}"
    page = await client.get(url)
    assert 'accept=".xlsx,.csv"' in page.text
    data = _csv([["CL-W", "", "", "A", 9], ["CL-G", "", "", "A", 4], ["NOPE", "", "", "A", 1]],
                "gb18030")  # fmt: skip
    uploaded = await client.post(url + "/upload", data={"csrf_token": csrf_from(page.text)},
                                 files={"file": ("盘点.csv", data, "text/csv")})  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    assert 'id="count-report"' in uploaded.text and "已过账" in uploaded.text
    assert "没有 SKU NOPE" in uploaded.text
    assert await _counted(db, take.id) == {world.skus["CL-W"]: 9, world.skus["CL-G"]: 4}
    # a sheet without its counts is refused whole, in the reader's words
    bare = _csv([["CL-W", "", "", "A"]], "utf-8", HEADER[:4])
    refused = await client.post(url + "/upload", data={"csrf_token": csrf_from(page.text)},
                                files={"file": ("bare.csv", bare, "text/csv")})  # fmt: skip
    assert refused.status_code == 422 and "缺少列 实盘数：不是盘点表" in refused.text


async def test_only_stock_keepers_of_the_shop_upload_a_count_sheet(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs = await stocked(db, far.id, {"CL-W": 3})
    mine = await stocked(db, shop.id, {"CL-W": 3})
    keeper = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, keeper, location_id=mine.main)
        far_take = StockTake(shop_id=far.id, location_id=theirs.main)
        session.add(far_take)
        await session.commit()
    sheet = _workbook([["CL-W", "", "", "A", 1]])
    for role in ("agent", "auditor", "warehouse", "supervisor", "manager", "admin"):
        await make_staff(f"u{role}", role)
        client.cookies.clear()
        await sign_in(client, f"u{role}")
        token = csrf_from((await client.get("/", follow_redirects=True)).text)
        keeps = role in ("warehouse", "supervisor", "manager")

        async def upload(target: int, token: str = token) -> httpx.Response:
            return await client.post(f"/fulfilment/stock/takes/{target}/upload",
                                     data={"csrf_token": token},
                                     files={"file": ("盘点.xlsx", sheet, XLSX)})  # fmt: skip

        own = await upload(take.id)
        assert own.status_code == (200 if keeps else 403), role
        if keeps:
            assert 'id="count-report"' in own.text, role
        assert (await upload(far_take.id)).status_code == (404 if keeps else 403), role
    async with db.session() as session:
        far_counts = await session.scalar(
            select(func.count()).select_from(StockTakeLine).where(
                StockTakeLine.take_id == far_take.id, StockTakeLine.counted.is_not(None)
            )
        )  # fmt: skip
    assert far_counts == 0
    assert await _counted(db, take.id) == {mine.skus["CL-W"]: 1}
    assert await _take_moves(db) == [(take.id, mine.skus["CL-W"], -2)]
