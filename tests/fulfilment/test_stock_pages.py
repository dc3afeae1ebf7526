"""The stock pages as the warehouse, an auditor and an agent use them."""

from __future__ import annotations

import io

import httpx
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.fulfilment.stock_world import stocked
from xiaoer.core.db import Database
from xiaoer.fulfilment.models import StockLevel, StockLocation, StockReceipt, StockTake
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _post(client: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    token = csrf_from((await client.get("/fulfilment/stock/takes")).text)
    return await client.post(path, data={**form, "csrf_token": token})


async def _on_hand(db: Database, sku: int, place: int) -> int:
    async with db.session() as session:
        level = await session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.sku_id == sku, StockLevel.location_id == place
            )
        )
        return level or 0


async def test_the_warehouse_receives_adjusts_and_counts_from_the_pages(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id)
    await make_staff("wu", "warehouse")
    assert (await sign_in(client, "wu")).status_code == 303
    white = world.skus["CL-W"]

    page = await client.get("/fulfilment/stock?q=CL&low=1")
    assert page.status_code == 200
    assert "CL-G" in page.text and "CL-W" not in page.text.split('id="stock-table"')[1]
    assert 'id="low-stock"' in page.text

    added = await _post(client, "/fulfilment/stock/locations", code="C", name="三号仓",
                        kind="stock", position="3")  # fmt: skip
    assert added.status_code == 303
    refused = await _post(client, "/fulfilment/stock/locations", code="C", name="again")
    assert refused.status_code == 422 and "库位编码 C 已经有了" in refused.text

    got = await _post(client, "/fulfilment/stock/receipts", location_id=str(world.main),
                      lines="CL-W 5\nRUG-1 2", number="DN-1", supplier="织造厂")  # fmt: skip
    assert got.status_code == 303
    assert await _on_hand(db, white, world.main) == 15
    bad = await _post(client, "/fulfilment/stock/receipts", location_id=str(world.main),
                      lines="CL-W 5\nNOPE 1")  # fmt: skip
    assert bad.status_code == 422 and "第 2 行：没有 SKU NOPE" in bad.text
    assert "NOPE 1" in bad.text  # what was typed is kept
    assert await _on_hand(db, white, world.main) == 15
    receipts = await client.get("/fulfilment/stock/receipts")
    assert "DN-1" in receipts.text and "织造厂" in receipts.text

    below = await _post(client, "/fulfilment/stock/adjust", sku="CL-W",
                        location_id=str(world.main), delta="-99", reason="报损")  # fmt: skip
    assert below.status_code == 422 and "不能低于已占用的件数" in below.text
    adjusted = await _post(client, "/fulfilment/stock/adjust", sku="CL-W",
                           location_id=str(world.main), delta="-1", reason="报损")  # fmt: skip
    assert adjusted.status_code == 303
    assert adjusted.headers["location"] == f"/fulfilment/stock/{white}"
    ledger = await client.get(f"/fulfilment/stock/{white}")
    assert ledger.status_code == 200 and "报损" in ledger.text and "-1" in ledger.text

    safety = await _post(client, "/fulfilment/stock/safety", channel="jd", quantity="10")
    assert safety.status_code == 303
    listing = await client.get("/fulfilment/stock/listing?channel=jd&format=xlsx")
    assert listing.headers["content-type"] == XLSX
    rows = list(load_workbook(io.BytesIO(listing.content)).worksheets[0].values)
    assert rows[0] == ("商家编码", "标题", "属性", "可售库存")
    assert ("CL-W", "棉麻窗帘", "颜色：米白", 4) in rows  # 14 - 10
    csv = await client.get("/fulfilment/stock/listing?channel=tmall&format=csv")
    assert "CL-W,棉麻窗帘,颜色：米白,11" in csv.text
    assert (await client.get("/fulfilment/stock/listing?channel=pdd")).status_code == 422
    export = await client.get("/fulfilment/stock?export=xlsx")
    assert export.headers["content-type"] == XLSX
    assert (await client.get("/fulfilment/stock?export=csv")).text.startswith("\ufeff商家编码")

    started = await _post(client, "/fulfilment/stock/takes", location_id=str(world.main))
    assert started.status_code == 303
    take_url = started.headers["location"]
    sheet = await client.get(take_url + "/sheet.xlsx")
    book = load_workbook(io.BytesIO(sheet.content))
    filled = Workbook()
    out_sheet = filled.active
    assert out_sheet is not None
    for row in book.worksheets[0].iter_rows(values_only=True):
        values = list(row)
        if values[0] == "CL-W":
            values[-1] = 14
        elif values[0] == "CL-G":
            values[-1] = 4
        elif values[0] == "RUG-1":
            values[-1] = 1  # one missing: within the threshold of 2
        out_sheet.append(values)
    data = io.BytesIO()
    filled.save(data)
    token = csrf_from((await client.get(take_url)).text)
    uploaded = await client.post(
        take_url + "/upload", data={"csrf_token": token},
        files={"file": ("盘点.xlsx", data.getvalue(), XLSX)},
    )  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    assert 'id="count-report"' in uploaded.text and "已过账" in uploaded.text
    assert await _on_hand(db, world.skus["RUG-1"], world.main) == 1
    async with db.session() as session:
        status = await session.scalar(select(StockTake.status))
        receipts_made = await session.scalar(select(StockReceipt.number))
        places = list(await session.scalars(select(StockLocation.code)))
    assert (status, receipts_made) == ("posted", "DN-1")
    assert "C" in places


async def test_counts_and_recounts_typed_on_the_take_page(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    world = await stocked(db, shop.id)
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    white, grey = world.skus["CL-W"], world.skus["CL-G"]
    started = await _post(client, "/fulfilment/stock/takes", location_id=str(world.main))
    url = started.headers["location"]
    typed = await _post(client, url + "/counts", **{f"count_{white}": "2", f"count_{grey}": "4"})
    assert typed.status_code == 303
    page = await client.get(url)
    assert "待复盘" in page.text
    early = await _post(client, url + "/post")
    assert early.status_code == 422 and "还有 1 行等待复盘" in early.text
    again = await _post(client, url + "/counts", **{f"count_{white}": "3"})
    assert again.status_code == 303
    assert await _on_hand(db, white, world.main) == 3
    bad = await _post(client, url + "/counts", **{f"count_{white}": "-3"})
    assert bad.status_code == 422


async def test_who_may_open_the_stock_pages_and_another_shops_objects_are_not_found(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs = await stocked(db, far.id)
    mine = await stocked(db, shop.id)
    async with db.session() as session:
        far_take = StockTake(shop_id=far.id, location_id=theirs.main)
        session.add(far_take)
        await session.commit()
    for role in ("agent", "auditor", "warehouse", "supervisor", "manager", "admin"):
        await make_staff(f"u{role}", role)
    for role in ("agent", "auditor", "warehouse", "supervisor", "manager", "admin"):
        client.cookies.clear()
        await sign_in(client, f"u{role}")
        reads = role in ("auditor", "warehouse", "supervisor", "manager")
        keeps = role in ("warehouse", "supervisor", "manager")
        page = await client.get("/fulfilment/stock")
        assert page.status_code == (200 if reads else 403), role
        assert (await client.get("/fulfilment/stock/adjust")).status_code == (
            200 if keeps else 403
        ), role
        mine_sku = await client.get(f"/fulfilment/stock/{mine.skus['CL-W']}")
        assert mine_sku.status_code == (200 if reads else 403), role
        far_sku = await client.get(f"/fulfilment/stock/{theirs.skus['CL-W']}")
        assert far_sku.status_code == (404 if reads else 403), role
        far_page = await client.get(f"/fulfilment/stock/takes/{far_take.id}")
        assert far_page.status_code == (404 if reads else 403), role
        if keeps:
            token = csrf_from((await client.get("/fulfilment/stock/takes")).text)
            started = await client.post("/fulfilment/stock/takes",
                                        data={"location_id": str(theirs.main),
                                              "csrf_token": token})  # fmt: skip
            assert started.status_code == 404, role
            got = await client.post("/fulfilment/stock/receipts",
                                    data={"location_id": str(theirs.main), "lines": "CL-W 1",
                                          "csrf_token": token})  # fmt: skip
            assert got.status_code == 404, role
            posted = await client.post(f"/fulfilment/stock/takes/{far_take.id}/post",
                                       data={"csrf_token": token})  # fmt: skip
            assert posted.status_code == 404, role
    assert await _on_hand(db, theirs.skus["CL-W"], theirs.main) == 10
