"""The import page: upload, progress, report and rejects file (O1), through the real app."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.orders.imports import wait_for_jobs
from xiaoer.orders.samples import write_sample_export


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/orders/import")).text)


def _spoil_first_row(path: Path) -> None:
    with path.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    rows[1][header.index("买家实际支付金额")] = "很多钱"
    with path.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)


async def test_a_supervisor_uploads_an_export_and_reads_the_report(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff, tmp_path: Path
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
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
    job_url = started.headers["location"]
    job_id = int(job_url.rsplit("/", 1)[1])
    await wait_for_jobs()

    status = (await client.get(f"/api/orders/imports/{job_id}")).json()
    assert status["status"] == "done" and status["percent"] == 100
    assert {k: status["summary"][k] for k in ("read", "created", "rejected")} == {
        "read": 40,
        "created": 39,
        "rejected": 1,
    }
    assert any(":2:" in m and "买家实际支付金额" in m for m in status["messages"])

    page = await client.get(job_url)
    assert page.status_code == 200
    assert "新增 39" in page.text and "拒绝 1" in page.text
    rejects = await client.get(f"/orders/import/{job_id}/rejects/0")
    assert rejects.status_code == 200
    text = rejects.content.decode("gb18030")
    assert "很多钱" in text and "行号" in text

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
    assert "item list" in status["error"]


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
