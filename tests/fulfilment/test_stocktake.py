"""Stock-take (盘点): the sheet out and back in, moves during the count, the recount,
one adjustment document, and the projections rebuilt from the ledger."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, text

from tests.conftest import MakeStaff
from tests.fulfilment.stock_world import stocked
from xiaoer.catalog.models import Sku
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.fulfilment.ledger import Document, Line, StockError, post
from xiaoer.fulfilment.models import MoveKind, StockLevel, StockMove, StockTake, StockTakeLine
from xiaoer.fulfilment.rebuild import rebuild
from xiaoer.fulfilment.stocktake import (
    count_sheet,
    do_enter_counts,
    do_import_counts,
    do_post_take,
    do_start_take,
    take_of,
)
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

HEADERS = ["商家编码", "标题", "属性", "库位", "实盘数"]


def _sheet(rows: list[list[object]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _take_lines(db: Database, take_id: int) -> dict[int, StockTakeLine]:
    async with db.session() as session:
        rows = await session.scalars(select(StockTakeLine).where(StockTakeLine.take_id == take_id))
        return {line.sku_id: line for line in rows}


async def _on_hand(db: Database, sku: int, place: int) -> int:
    async with db.session() as session:
        level = await session.scalar(
            select(StockLevel).where(StockLevel.sku_id == sku, StockLevel.location_id == place)
        )
        assert level is not None
        return level.on_hand


async def test_the_count_sheet_lists_every_sku_of_the_location(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await session.commit()
        name, data = await count_sheet(session, wu, take.id, show_expected=True)
    assert name == f"stocktake-{take.id}-A.xlsx"
    book = load_workbook(io.BytesIO(data))
    rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert rows == [
        ["商家编码", "标题", "属性", "库位", "账面数", "实盘数"],
        ["CL-G", "棉麻窗帘", "颜色：浅灰", "A", 4, None],
        ["CL-W", "棉麻窗帘", "颜色：米白", "A", 10, None],
    ]
    async with db.session() as session:
        with pytest.raises(StockError, match="being counted already"):
            await do_start_take(session, wu, location_id=world.main)


async def test_a_parcel_shipped_mid_count_is_not_a_loss_and_a_big_difference_is_recounted(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given: white 10 and grey 4 at A; the sheet goes out
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    white, grey = world.skus["CL-W"], world.skus["CL-G"]
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main, note="月底盘点")
        await session.commit()
    # and while it is counted, two whites are reserved and shipped
    async with db.session() as session:
        order = Document("order", ref="T-1")
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 2)],
                   document=order)  # fmt: skip
        await post(session, shop.id, MoveKind.ship, [Line(white, world.main, 2)],
                   document=Document("shipment"))  # fmt: skip
        await session.commit()
    # when: the counters find 8 whites (right, after the parcel) and 0 greys (4 gone)
    first = _sheet([["CL-W", "", "", "A", 8], ["CL-G", "", "", "A", 0]])
    async with db.session() as session:
        report = await do_import_counts(session, wu, first, take_id=take.id)
        await session.commit()
    # then: nothing posts yet; grey waits for a recount (|−4| > 2)
    assert (report.read, report.counted, len(report.rejected)) == (2, 2, 0)
    assert (report.recount, report.posted, report.status) == (1, 0, "recount")
    lines = await _take_lines(db, take.id)
    assert (lines[white].moved_during, lines[white].difference) == (-2, 0)
    assert (lines[grey].needs_recount, lines[grey].difference) == (True, -4)
    assert await _on_hand(db, white, world.main) == 8
    # the same sheet again changes nothing
    async with db.session() as session:
        again = await do_import_counts(session, wu, first, take_id=take.id)
        await session.commit()
    assert (again.counted, again.unchanged, again.posted, again.recount) == (0, 2, 0, 1)
    async with db.session() as session:
        with pytest.raises(StockError, match="1 lines wait for a recount"):
            await do_post_take(session, wu, take.id)
    # the recount sheet holds only grey: 3 are found
    async with db.session() as session:
        _, recount_sheet = await count_sheet(session, wu, take.id)
    assert len(load_workbook(io.BytesIO(recount_sheet)).worksheets[0]["A"]) == 2
    async with db.session() as session:
        done = await do_import_counts(session, wu, _sheet([["CL-G", "", "", "A", 3]]),
                                      take_id=take.id)  # fmt: skip
        await session.commit()
    # then the adjustment posts, as one document of adjust moves, once
    assert (done.counted, done.posted, done.status) == (1, 1, "posted")
    assert await _on_hand(db, grey, world.main) == 3
    assert await _on_hand(db, white, world.main) == 8
    async with db.session() as session:
        moves = list(await session.scalars(
            select(StockMove).where(StockMove.document_kind == "take")
        ))  # fmt: skip
        assert [(m.kind, m.sku_id, m.on_hand_delta, m.document_id) for m in moves] == [
            ("adjust", grey, -1, take.id)
        ]
        assert await do_post_take(session, wu, take.id) == 0
        last = await do_import_counts(session, wu, first, take_id=take.id)
        await session.commit()
    assert (last.counted, last.posted, last.status) == (0, 0, "posted")
    async with db.session() as session:
        assert (
            await session.scalar(
                select(StockMove.id).where(StockMove.document_kind == "take").offset(1)
            )
            is None
        )
        posted = await take_of(session, wu, take.id)
    assert posted.posted_by == wu.id


async def test_rows_are_refused_one_by_one_with_their_line_and_reason(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await session.commit()
    sheet = _sheet([
        ["CL-W", "", "", "A", 10],  # 2: kept
        ["NOPE", "", "", "A", 1],  # 3: unknown SKU
        ["CL-G", "", "", "A", ""],  # 4: blank count
        ["RUG-1", "", "", "A", 2],  # 5: not on this location's sheet
        ["CL-G", "", "", "B", 4],  # 6: another location (and CL-G twice)
        ["CL-W", "", "", "A", 10],  # 7: CL-W twice
    ])  # fmt: skip
    async with db.session() as session:
        report = await do_import_counts(session, wu, sheet, take_id=take.id)
        await session.commit()
    reasons = {line: str(reason) for line, reason in report.rejected}
    assert reasons == {
        2: "the SKU CL-W is on lines 2, 7",
        3: "no SKU NOPE",
        4: "the SKU CL-G is on lines 4, 6",
        5: "the SKU RUG-1 is not on the sheet of A",
        6: "the SKU CL-G is on lines 4, 6",
        7: "the SKU CL-W is on lines 2, 7",
    }
    sheet = _sheet([["CL-W", "", "", "A", "ten"], ["CL-G", "", "", "A", -1],
                    ["CL-W ", "", "", "A", 9.5]])  # fmt: skip
    async with db.session() as session:
        report = await do_import_counts(session, wu, sheet, take_id=take.id)
    assert {line for line, _ in report.rejected} == {2, 3, 4}


async def test_counts_typed_on_the_page_post_when_within_the_threshold(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    wu = await make_staff("wu", "warehouse")
    white, grey = world.skus["CL-W"], world.skus["CL-G"]
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=world.main)
        await do_enter_counts(session, wu, take.id, {white: 9})
        with pytest.raises(StockError, match="1 lines have no count yet"):
            await do_post_take(session, wu, take.id)
        report = await do_enter_counts(session, wu, take.id, {grey: 5})
        await session.commit()
    assert (report.posted, report.status) == (2, "posted")
    assert await _on_hand(db, white, world.main) == 9
    assert await _on_hand(db, grey, world.main) == 5


async def test_the_command_finds_the_take_by_its_location_and_another_shop_keeps_its_own(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs = await stocked(db, far.id, {"CL-W": 3})
    mine = await stocked(db, shop.id, {"CL-W": 3})
    wu = await make_staff("wu", "warehouse")
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        take = await do_start_take(session, wu, location_id=mine.main)
        with pytest.raises(NotFound):
            await do_start_take(session, wu, location_id=theirs.main)
        with pytest.raises(NotPermitted):
            await do_start_take(session, auditor, location_id=mine.main)
        with pytest.raises(NotPermitted):
            await take_of(session, agent, take.id)
        assert (await take_of(session, auditor, take.id)).id == take.id
        with pytest.raises(NotPermitted):
            await do_post_take(session, auditor, take.id)
        await session.commit()
    async with db.session() as session:
        far_take = StockTake(shop_id=far.id, location_id=theirs.main)
        session.add(far_take)
        await session.commit()
    async with db.session() as session:
        with pytest.raises(NotFound):
            await take_of(session, wu, far_take.id)
        with pytest.raises(NotFound):
            await do_import_counts(session, wu, _sheet([["CL-W", "", "", "A", 3]]),
                                   take_id=far_take.id)  # fmt: skip


async def test_rebuild_reports_and_fixes_a_corrupted_projection(db: Database, shop: Shop) -> None:
    # given: a true ledger, then projections changed behind its back
    world = await stocked(db, shop.id, {"CL-W": 10, "CL-G": 4})
    white, grey = world.skus["CL-W"], world.skus["CL-G"]
    async with db.session() as session:
        await post(session, shop.id, MoveKind.reserve, [Line(white, world.main, 3)],
                   document=Document("order"))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        await session.execute(
            text("UPDATE stock_level SET on_hand = 50 WHERE sku_id = :s AND location_id = :l"),
            {"s": white, "l": world.main},
        )
        await session.execute(text("UPDATE sku SET stock = 0 WHERE id = :s"), {"s": grey})
        await session.execute(text("DELETE FROM stock_level WHERE sku_id = :s"), {"s": grey})
        await session.commit()
    # when: only checked
    async with db.session() as session:
        checked = await rebuild(session, shop.id, fix=False)
        await session.rollback()
    found = {(d.sku, d.location, d.field, d.was, d.is_) for d in checked.drift}
    assert found == {
        ("CL-W", "A", "on_hand", 50, 10),
        ("CL-G", "A", "on_hand", 0, 4),
        ("CL-G", "", "stock", 0, 4),
    }
    assert checked.levels == 2
    # then fixed, and a second run finds nothing
    async with db.session() as session:
        fixed = await rebuild(session, shop.id)
        await session.commit()
    assert len(fixed.drift) == 3 and fixed.fixed
    assert await _on_hand(db, white, world.main) == 10
    assert await _on_hand(db, grey, world.main) == 4
    async with db.session() as session:
        again = await rebuild(session, shop.id)
        stock = await session.scalar(select(Sku.stock).where(Sku.id == grey))
        level = await session.scalar(select(StockLevel.reserved).where(StockLevel.sku_id == white))
    assert (again.drift, stock, level) == ([], 4, 3)
