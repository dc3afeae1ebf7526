"""The warehouse's screens: the queue, a pick list and its PDF, the pack-and-ship
screen as a scanner and a tablet use it, and waybills in bulk."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.fulfilment.shipments import order_of, parcel
from xiaoer.core.db import Database
from xiaoer.core.sheets import read_rows
from xiaoer.fulfilment.models import StockLocation
from xiaoer.fulfilment.pdf import PdfFontError, pick_list_pdf
from xiaoer.fulfilment.picking import PickList
from xiaoer.orders.models import TradeStatus
from xiaoer.shops.models import Shop


def pdf_text(data: bytes) -> str:
    """The characters a PDF's fonts map their glyphs to (its ToUnicode maps), read
    from every stream it holds: what a reader extracts as text, in no order."""
    found = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            text = zlib.decompress(raw)
        except zlib.error:
            text = raw
        if b"beginbfchar" in text or b"beginbfrange" in text:
            for code in re.findall(rb"<([0-9A-Fa-f]{4,8})>\s*\n", text + b"\n"):
                found.append(chr(int(code, 16)))
            for code in re.findall(rb"<[0-9A-Fa-f]+>\s*<([0-9A-Fa-f]{4,8})>", text):
                found.append(chr(int(code, 16)))
    return "".join(found)


async def _warehouse(client: httpx.AsyncClient, make_staff: MakeStaff) -> str:
    await make_staff("war", "warehouse")
    await sign_in(client, "war")
    return csrf_from((await client.get("/fulfilment/warehouse")).text)


async def test_the_queue_shows_locations_and_parcels_late_first_to_the_warehouse_only(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    late = datetime(2020, 1, 1, tzinfo=UTC)
    first = await parcel(db, shop, "Q-1", {"CL-200": 1}, chat=False)
    second = await parcel(db, shop, "Q-2", {"CL-200": 1}, chat=False, ship_by=late)
    await make_staff("mei", "agent")
    await sign_in(client, "mei")
    assert (await client.get("/fulfilment/warehouse")).status_code == 403
    assert (
        await client.get(f"/fulfilment/warehouse/shipments/{first.shipment_id}")
    ).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await _warehouse(client, make_staff)
    page = await client.get("/fulfilment/warehouse")
    assert page.status_code == 200
    assert "A区货架" in page.text and "2 个包裹待拣" in page.text and "1 个已超时" in page.text
    assert page.text.index(f"#{second.shipment_id}") < page.text.index(f"#{first.shipment_id}")
    sheet = await client.get("/fulfilment/warehouse/export.xlsx")
    assert sheet.status_code == 200 and sheet.content.startswith(b"PK")
    rows = [r for _, r in read_rows(sheet.content, ("包裹", "订单编号", "状态"))]
    assert [(r["订单编号"], r["状态"]) for r in rows] == [("Q-2", "picking"), ("Q-1", "picking")]
    # a scanned order number opens its parcel; a number of nothing says so
    found = await client.get("/fulfilment/warehouse", params={"q": " Q-1 "})
    assert found.status_code == 303
    assert found.headers["location"] == f"/fulfilment/warehouse/shipments/{first.shipment_id}"
    by_id = await client.get("/fulfilment/warehouse", params={"q": f"#{second.shipment_id}"})
    assert by_id.headers["location"].endswith(f"/shipments/{second.shipment_id}")
    nothing = await client.get("/fulfilment/warehouse", params={"q": "NOPE-1"})
    assert nothing.status_code == 200 and "没有找到“NOPE-1”对应的包裹" in nothing.text


async def test_a_pick_list_page_and_its_pdf_in_chinese(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    p = await parcel(db, shop, "L-1", {"CL-200": 2, "AB-100": 1}, chat=False)
    await _warehouse(client, make_staff)
    page = await client.get(f"/fulfilment/warehouse/locations/{p.location_id}")
    assert page.status_code == 200
    assert page.text.index("AB-100") < page.text.index("CL-200") and "L-1" in page.text
    pdf = await client.get(f"/fulfilment/warehouse/locations/{p.location_id}/pick.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"/FontFile2" in pdf.content or b"/FontFile3" in pdf.content  # embedded
    text = pdf_text(pdf.content)
    assert all(ch in text for ch in "拣货单A区货架窗帘米白")
    slip = await client.get(f"/fulfilment/warehouse/shipments/{p.shipment_id}/slip.pdf")
    assert slip.status_code == 200 and slip.content.startswith(b"%PDF")
    assert all(ch in pdf_text(slip.content) for ch in "装箱单包裹感谢")


def test_a_pdf_without_a_chinese_font_is_refused_with_what_to_install(tmp_path: Path) -> None:
    picks = PickList(StockLocation(id=1, shop_id=1, code="A", name="A区"), [], [], {})
    with pytest.raises(PdfFontError, match="fonts-wqy-microhei"):
        pick_list_pdf(picks, zone="Asia/Shanghai", now=datetime.now(UTC),
                      fonts=[(str(tmp_path / "none.ttc"), 0)])  # fmt: skip


async def test_packing_by_scanner_refuses_a_wrong_item_then_ships_with_a_waybill(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    p = await parcel(db, shop, "K-1", {"CL-200": 2}, chat=True)
    token = await _warehouse(client, make_staff)
    url = f"/fulfilment/warehouse/shipments/{p.shipment_id}"
    page = await client.get(url)
    assert 'id="scan-input"' in page.text and "autofocus" in page.text
    # a wrong item: refused loudly, nothing counted
    wrong = await client.post(
        f"{url}/scan", data={"csrf_token": token, "code": "XX-1", "quantity": "1"}
    )
    assert wrong.status_code == 422 and "XX-1 不在这个包裹里" in wrong.text
    assert '<span class="packed">0</span> / 2' in wrong.text
    # the right one, as the form sends it, then as the page's script sends it
    right = await client.post(f"{url}/scan", data={"csrf_token": token, "code": "CL-200"})
    assert right.status_code == 303
    assert "CL-200 × 1 已装箱" in (await client.get(right.headers["location"])).text
    as_script = {"Accept": "application/json"}
    more = await client.post(
        f"{url}/scan", data={"csrf_token": token, "code": "cl-200", "quantity": "2"},
        headers=as_script,
    )  # fmt: skip
    assert more.status_code == 422 and more.json()["ok"] is False
    done = await client.post(f"{url}/scan", data={"csrf_token": token, "code": "cl-200"},
                             headers={"Accept": "application/json"})  # fmt: skip
    assert done.json() | {"message": ""} == {
        "ok": True, "message": "", "line_id": done.json()["line_id"], "packed": 2, "quantity": 2,
        "status": "packed", "full": True}  # fmt: skip
    # the ship step: the shop's courier chosen, a bad number refused and kept in the field
    page = await client.get(url)
    assert 'id="ship-waybill"' in page.text and '<option value="SF" selected>' in page.text
    bad = await client.post(
        f"{url}/ship", data={"csrf_token": token, "carrier": "SF", "waybill": "SF12"}
    )
    assert (
        bad.status_code == 422 and "不是顺丰速运的运单号" in bad.text and 'value="SF12"' in bad.text
    )
    shipped = await client.post(
        f"{url}/ship", data={"csrf_token": token, "carrier": "SF", "waybill": "SF1234567890123"}
    )
    assert shipped.status_code == 303
    page = await client.get(shipped.headers["location"])
    assert "SF1234567890123" in page.text and "包裹已发货" in page.text
    order = await order_of(db, p.order_id)
    assert order.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value


async def test_another_shops_parcel_is_not_found(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from xiaoer.shops.service import do_create_shop

    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店", default_courier="圆通")
        await session.commit()
    p = await parcel(db, far, "FAR-1", {"CL-200": 1}, chat=False)
    token = await _warehouse(client, make_staff)
    url = f"/fulfilment/warehouse/shipments/{p.shipment_id}"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"{url}/slip.pdf")).status_code == 404
    scan = await client.post(f"{url}/scan", data={"csrf_token": token, "code": "CL-200"})
    assert scan.status_code == 404
    ship = await client.post(f"{url}/ship", data={"csrf_token": token, "carrier": "SF",
                                                  "waybill": "SF1234567890123"})  # fmt: skip
    assert ship.status_code == 404
    assert (await client.get(f"/fulfilment/warehouse/locations/{p.location_id}")).status_code == 404


async def test_uploading_the_bulk_shipping_sheet_shows_the_same_summary(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    p = await parcel(db, shop, "336200000000041", {"CL-200": 1}, chat=False)
    token = await _warehouse(client, make_staff)
    sheet = (
        "订单编号,物流公司,运单号\n"
        "336200000000041,申通,773000000041\n336200000000049,申通,773000000049\n"
    )
    files = {"file": ("批量发货.csv", sheet.encode("gb18030"), "text/csv")}
    page = await client.post(
        "/fulfilment/warehouse/waybills", data={"csrf_token": token}, files=files
    )
    assert page.status_code == 200
    assert "读取 2 行：发货 1，未变 0，拒绝 1。" in page.text
    assert "本店没有订单 336200000000049" in page.text
    again = await client.post(
        "/fulfilment/warehouse/waybills", data={"csrf_token": token}, files=files
    )
    assert "读取 2 行：发货 0，未变 1，拒绝 1。" in again.text
    assert (await order_of(db, p.order_id)).tracking_number == "773000000041"
    wrong = await client.post("/fulfilment/warehouse/waybills", data={"csrf_token": token},
                              files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})  # fmt: skip
    assert wrong.status_code == 422 and "x.csv" in wrong.text
