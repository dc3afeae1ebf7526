"""Waybills in bulk: the platform's bulk-shipping sheet, by file and by the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.aftersales.commands import xiaoer
from tests.conftest import MakeStaff
from tests.fulfilment.shipments import Parcel, order_of, parcel
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.core.sheets import write_sheet
from xiaoer.fulfilment.models import Shipment, StockMove
from xiaoer.fulfilment.shipping import do_ship, shipment_for
from xiaoer.fulfilment.waybills import import_waybills
from xiaoer.orders.models import TradeStatus
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.sellercentre.exports import ExportError
from xiaoer.shops.models import Shop

HEADER = (" 订单编号 ", "物流公司", " 运单号")


def _csv(path: Path, rows: list[tuple[str, str, str]], encoding: str = "utf-8") -> Path:
    lines = [",".join(HEADER)] + [",".join(r) for r in rows]  # ="…" kept as the platform writes it
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


async def _order_only(db: Database, shop: Shop, number: str, *, paid: bool) -> None:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("窗帘", 9900),))
        order = await do_create_order(session, shop_id=shop.id, new=new)
        if paid:
            await do_pay_order(session, order=order)
        await session.commit()


async def _ship(db: Database, p: Parcel, carrier: str, number: str) -> None:
    async with db.session() as session:
        shipment = await session.get(Shipment, p.shipment_id)
        assert shipment is not None
        await do_ship(session, None, shipment, carrier, number, require_packed=False)
        await session.commit()


async def _ship_moves(db: Database) -> int:
    async with db.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(StockMove).where(StockMove.kind == "ship")
        )
        return int(found or 0)


async def _mixed_sheet(db: Database, shop: Shop, tmp_path: Path) -> tuple[Path, dict[str, Parcel]]:
    """A sheet with two good rows and one row of each kind of problem."""
    parcels = {
        "good": await parcel(db, shop, "336200000000001", {"CL-200": 2}),
        "good2": await parcel(db, shop, "336200000000002", {"AB-100": 1}, chat=False),
        "same": await parcel(db, shop, "336200000000005", {"AB-100": 1}, chat=False),
        "other": await parcel(db, shop, "336200000000006", {"AB-100": 1}, chat=False),
        "carrier": await parcel(db, shop, "336200000000008", {"AB-100": 1}, chat=False),
        "shape": await parcel(db, shop, "336200000000009", {"AB-100": 1}, chat=False),
        "used": await parcel(db, shop, "336200000000010", {"AB-100": 1}, chat=False),
    }
    await _ship(db, parcels["same"], "YTO", "YT1000000000005")
    await _ship(db, parcels["other"], "YTO", "YT1000000000006")
    await _order_only(db, shop, "336200000000004", paid=True)  # never audited
    await _order_only(db, shop, "336200000000007", paid=False)  # not paid
    rows = [
        ('="336200000000001"', "顺丰", "SF1000000000001"),  # 2
        ("336200000000002", " yto ", "yt1000000000002"),  # 3
        ("336200000000099", "顺丰", "SF1000000000099"),  # 4 unknown order
        ("336200000000004", "顺丰", "SF1000000000004"),  # 5 not audited
        ("336200000000005", "圆通速递", "YT1000000000005"),  # 6 the same: unchanged
        ("336200000000006", "圆通", "YT1000000000666"),  # 7 shipped with another
        ("336200000000007", "顺丰", "SF1000000000007"),  # 8 not paid
        ("336200000000008", "菜鸟直送", "1234567890123"),  # 9 unknown carrier
        ("336200000000009", "中通", "ZT12345"),  # 10 does not fit
        ("336200000000010", "圆通", "YT1000000000006"),  # 11 another parcel's waybill
        ("abc", "顺丰", "SF1000000000011"),  # 12 not an order number
        ("336200000000002", "圆通", "YT1000000000002"),  # 13 again in the file
    ]
    return _csv(tmp_path / "批量发货.csv", rows), parcels


async def test_a_mixed_sheet_ships_the_good_rows_and_rejects_each_bad_one_with_its_reason(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    sheet, parcels = await _mixed_sheet(db, shop, tmp_path)
    before = await _ship_moves(db)
    # when
    result = await import_waybills(db, shop.id, sheet)
    # then
    assert result.summary() == {"read": 12, "shipped": 2, "unchanged": 1, "rejected": 9}
    reasons = dict(result.rejected_rows)
    assert sorted(reasons) == [4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert "unknown order 336200000000099" in reasons[4]
    assert "has not been audited" in reasons[5]
    assert "shipped already with waybill YT1000000000006" in reasons[7]
    assert "not waiting to be shipped" in reasons[8]
    assert "菜鸟直送" in reasons[9] and "not a carrier we know" in reasons[9]
    assert "ZT12345 is not a 中通快递 waybill" in reasons[10]
    assert "YT1000000000006 is on another parcel" in reasons[11]
    assert "not an order number" in reasons[12]
    assert "earlier in this file" in reasons[13]
    assert result.rejects and result.rejects[0].is_file()
    assert await _ship_moves(db) == before + 2
    good = await order_of(db, parcels["good"].order_id)
    assert good.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
    assert (good.courier, good.tracking_number) == ("顺丰速运", "SF1000000000001")
    async with db.session() as session:
        shipment = await session.get(Shipment, parcels["good2"].shipment_id)
        assert shipment is not None
        assert (shipment.status, shipment.carrier, shipment.waybill) == (
            "shipped", "YTO", "YT1000000000002")  # fmt: skip
        used = await session.get(Shipment, parcels["used"].shipment_id)
        assert used is not None and used.status == "picking"


async def test_the_same_sheet_again_changes_nothing(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    sheet, _ = await _mixed_sheet(db, shop, tmp_path)
    await import_waybills(db, shop.id, sheet)
    moves = await _ship_moves(db)
    again = await import_waybills(db, shop.id, sheet)
    assert again.summary() == {"read": 12, "shipped": 0, "unchanged": 3, "rejected": 9}
    assert await _ship_moves(db) == moves


@pytest.mark.parametrize("kind", ["gbk", "gb18030", "utf-8-sig", "utf-8", "xlsx"])
async def test_csv_in_every_encoding_and_workbooks_read_alike(
    db: Database, shop: Shop, tmp_path: Path, kind: str
) -> None:
    one = await parcel(db, shop, "336200000000021", {"CL-200": 1}, chat=False)
    two = await parcel(db, shop, "336200000000022", {"CL-200": 1}, chat=False)
    rows = [
        ('="336200000000021"', "韵达快递", "4312345678901"),
        ("336200000000022", "京东", "JDVA00000000001"),
    ]
    if kind == "xlsx":  # a workbook keeps the number as text: no ="…" there
        sheet = tmp_path / "waybills.xlsx"
        rows[0] = ("336200000000021", *rows[0][1:])
        sheet.write_bytes(write_sheet("批量发货", HEADER, rows))
    else:
        sheet = _csv(tmp_path / "waybills.csv", rows, kind)
    result = await import_waybills(db, shop.id, sheet)
    assert result.summary() == {"read": 2, "shipped": 2, "unchanged": 0, "rejected": 0}
    assert (await order_of(db, one.order_id)).courier == "韵达快递"
    assert (await order_of(db, two.order_id)).tracking_number == "JDVA00000000001"


async def test_a_file_that_is_not_a_bulk_shipping_sheet_is_refused_whole(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    sheet = tmp_path / "other.csv"
    sheet.write_text("订单编号,备注\n336200000000001,x\n", "utf-8")
    with pytest.raises(ExportError, match="物流公司"):
        await import_waybills(db, shop.id, sheet)


async def test_only_the_warehouse_and_leaders_upload_waybills(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    agent = await make_staff("mei", "agent")
    sheet = _csv(tmp_path / "w.csv", [("336200000000031", "顺丰", "SF1000000000031")])
    with pytest.raises(NotPermitted):
        await import_waybills(db, shop.id, sheet, by=agent)
    war = await make_staff("war", "warehouse")
    p = await parcel(db, shop, "336200000000031", {"CL-200": 1}, chat=False)
    result = await import_waybills(db, shop.id, sheet, by=war)
    assert result.shipped == 1
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        assert shipment.shipped_by == war.id


async def test_the_command_prints_the_counts_and_rejected_rows_as_its_last_line(
    db: Database, shop: Shop, tmp_path: Path, database_url: str
) -> None:
    sheet, _ = await _mixed_sheet(db, shop, tmp_path)
    summary, stderr = await xiaoer(database_url, "import", "waybills", str(sheet), "--shop", "tea")
    assert {k: summary[k] for k in ("read", "shipped", "unchanged", "rejected")} == {
        "read": 12, "shipped": 2, "unchanged": 1, "rejected": 9}  # fmt: skip
    assert [row["line"] for row in summary["rejected_rows"]] == [4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert "unknown order 336200000000099" in stderr
    assert summary["rejects_files"][0].endswith("批量发货.rejects.csv")
    again, _ = await xiaoer(database_url, "import", "waybills", str(sheet), "--shop", "tea")
    assert (again["shipped"], again["unchanged"], again["rejected"]) == (0, 3, 9)
