"""The audit pages through the real app: the queue with its tabs, filters and export,
the check page and its actions, the production slips; and who may see them."""

from __future__ import annotations

import io

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.fulfilment.audit_helpers import paid_order, stock_floor
from xiaoer.core.db import Database
from xiaoer.fulfilment.audit_actions import do_hold, do_pass
from xiaoer.fulfilment.models import AuditStatus, OrderAudit, ProductionSlip, SlipStatus
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

TEA = NewItem("龙井茶", 5000, 2, "TEA-1", "规格：250克")
CURTAIN = NewItem("定制窗帘", 50000, 1, "CUR-300", "尺寸：2米*2.4米")


async def _post(client: httpx.AsyncClient, path: str, **form: str | list[str]) -> httpx.Response:
    token = csrf_from((await client.get("/")).text)
    return await client.post(path, data={**form, "csrf_token": token})


async def _status(db: Database, order_id: int) -> str:
    async with db.session() as session:
        status = await session.scalar(
            select(OrderAudit.status).where(OrderAudit.order_id == order_id)
        )
        assert status is not None
        return status


async def test_the_auditor_works_the_queue_and_the_check_page(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    await make_staff("aud", "auditor")
    async with db.session() as session:
        await stock_floor(session, shop)
        clean = await paid_order(session, shop, "3362000000000001", TEA, writer=agent)
        custom = await paid_order(session, shop, "3362000000000002", CURTAIN, writer=agent)
        unnoted = await paid_order(session, shop, "3362000000000003", TEA, writer=agent,
                                   note=None, buyer="buyer-9")  # fmt: skip
        unnoted.owner_id = agent.id
        await session.commit()
    assert (await sign_in(client, "aud")).status_code == 303
    page = await client.get("/fulfilment/audit")
    assert page.status_code == 200
    assert "3362000000000001" in page.text and "缺少卖家备注" in page.text
    assert "备注与宝贝不一致" in page.text  # the curtain's note says 3 m, the item 2 m
    assert 'id="pass-clean"' in page.text
    flagged = await client.get("/fulfilment/audit?rule=note_missing")
    assert "3362000000000003" in flagged.text and "3362000000000001" not in flagged.text
    found = await client.get("/fulfilment/audit?q=3362000000000002")
    assert "3362000000000002" in found.text and "3362000000000001" not in found.text

    check = await client.get(f"/fulfilment/audit/{custom.id}")
    assert check.status_code == 200
    assert "13800001111" in check.text  # the auditor sees the full contact
    assert "不一致" in check.text and "刘贺" in check.text
    refused = await _post(client, f"/fulfilment/audit/{custom.id}/pass")
    assert refused.status_code == 422 and "须写明理由" in refused.text
    assert await _status(db, custom.id) == AuditStatus.waiting.value
    passed = await _post(client, f"/fulfilment/audit/{custom.id}/pass", override="买家确认2米")
    assert passed.status_code == 303
    assert await _status(db, custom.id) == AuditStatus.passed.value

    held = await _post(client, f"/fulfilment/audit/{unnoted.id}/hold", reason="请补备注",
                       owner=str(agent.id))  # fmt: skip
    assert held.status_code == 303
    assert await _status(db, unnoted.id) == AuditStatus.held.value

    bulk = await _post(client, "/fulfilment/audit/pass-clean", order=[str(clean.id)])
    assert bulk.status_code == 303 and bulk.headers["location"].endswith("done=1")
    assert await _status(db, clean.id) == AuditStatus.passed.value
    passed_tab = await client.get("/fulfilment/audit?status=passed")
    assert "3362000000000001" in passed_tab.text and "3362000000000002" in passed_tab.text

    export = await client.get("/fulfilment/audit/export.xlsx?status=passed")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert sheet is not None
    numbers = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"3362000000000001", "3362000000000002"}

    slips = await client.get("/fulfilment/audit/slips")
    assert slips.status_code == 200 and "CUR-300" in slips.text
    async with db.session() as session:
        slip = await session.scalar(select(ProductionSlip))
        assert slip is not None
    sheet_page = await client.get(f"/fulfilment/audit/slips/{slip.id}")
    assert sheet_page.status_code == 200 and "3362000000000002" in sheet_page.text
    assert 'id="made"' not in sheet_page.text  # production is the warehouse's to mark


async def test_the_holds_owner_sees_and_clears_it_and_the_warehouse_marks_a_slip_made(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    await make_staff("bo", "agent")
    auditor = await make_staff("aud", "auditor")
    await make_staff("war", "warehouse")
    async with db.session() as session:
        await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        fitting = NewItem("定制窗帘", 50000, 1, "CUR-300", "尺寸：3米*2.4米")
        curtain = await paid_order(session, shop, "P-2", fitting, writer=agent)
        await do_hold(session, auditor, order.id, reason="尺寸再确认", owner_id=agent.id)
        await do_pass(session, auditor, curtain.id)
        await session.commit()
    await sign_in(client, "bo")
    assert (await client.get(f"/fulfilment/audit/{order.id}")).status_code == 403
    assert "P-1" not in (await client.get("/fulfilment/audit")).text
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, "mei")
    mine = await client.get("/fulfilment/audit?owner=me")
    assert mine.status_code == 200 and "P-1" in mine.text and "尺寸再确认" in mine.text
    assert (await client.get(f"/fulfilment/audit/{order.id}")).status_code == 200
    assert (await client.get("/fulfilment/audit/slips")).status_code == 403
    cleared = await _post(client, f"/fulfilment/audit/{order.id}/release")
    assert cleared.status_code == 303
    assert await _status(db, order.id) == AuditStatus.waiting.value
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, "war")
    assert (await client.get("/fulfilment/audit")).status_code == 403
    async with db.session() as session:
        slip = await session.scalar(select(ProductionSlip))
        assert slip is not None
    made = await _post(client, f"/fulfilment/audit/slips/{slip.id}/made")
    assert made.status_code == 303
    async with db.session() as session:
        fresh = await session.get(ProductionSlip, slip.id)
        assert fresh is not None and fresh.status == SlipStatus.made.value


async def test_another_shops_order_is_not_found(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("aud", "auditor")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方", default_courier="圆通")
        order = await paid_order(session, far, "F-1", TEA)
        await session.commit()
    await sign_in(client, "aud")
    assert (await client.get(f"/fulfilment/audit/{order.id}")).status_code == 404
    assert (await _post(client, f"/fulfilment/audit/{order.id}/pass")).status_code == 404
    assert (
        await _post(client, f"/fulfilment/audit/{order.id}/hold", reason="x")
    ).status_code == 404
    assert (await _post(client, "/fulfilment/audit/pass-clean",
                        order=[str(order.id)])).status_code == 404  # fmt: skip
    async with db.session() as session:
        row = await session.scalar(select(OrderAudit).where(OrderAudit.order_id == order.id))
        fresh = await session.get(Order, order.id)
        assert row is not None and row.status == AuditStatus.waiting.value
        assert fresh is not None
