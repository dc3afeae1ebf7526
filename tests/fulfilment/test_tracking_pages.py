"""The parcels' pages: the supervisor's late and problem parcels, a parcel's timeline,
an agent's own orders' health, the chase and "not received" — and who may use each."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.fulfilment.parcels import make_parcel, shipment_of
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, Event
from xiaoer.fulfilment.models import Shipment, ShipmentStatus, Stage
from xiaoer.fulfilment.tracking import Scan, do_record_scans
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.service import do_add_staff


async def _scan(db: Database, shipment_id: int, hours_ago: float, stage: Stage) -> None:
    async with db.session() as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None
        at = utcnow() - timedelta(hours=hours_ago)
        await do_record_scans(session, shipment, [Scan(at, stage, "上海", f"{stage} 扫描")],
                              source="csv")  # fmt: skip
        await session.commit()


class Floor:
    """mei's and bo's orders' parcels, one of each kind, and another shop's."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}


async def _floor(db: Database, shop: Shop, make_staff: MakeStaff) -> Floor:
    now = utcnow()
    mei, bo = await make_staff("mei"), await make_staff("bo")
    floor = Floor()
    # mei: shipped on time and arrived on time; shipped late and on its way past its day;
    # waiting, past its ship-by; a problem parcel
    floor.ids["good"] = await make_parcel(
        db, shop, mei, "T-4001", waybill="SF4000000001", shipped_at=now - timedelta(hours=30),
        ship_by=now - timedelta(hours=20), deliver_by=now + timedelta(hours=20),
    )  # fmt: skip
    await _scan(db, floor.ids["good"], 2, Stage.signed)
    floor.ids["late"] = await make_parcel(
        db, shop, mei, "T-4002", waybill="SF4000000002", shipped_at=now - timedelta(hours=30),
        ship_by=now - timedelta(hours=40), deliver_by=now - timedelta(hours=1),
    )  # fmt: skip
    floor.ids["waiting"] = await make_parcel(
        db, shop, mei, "T-4003", waybill="", status=ShipmentStatus.packed,
        ship_by=now - timedelta(hours=3),
    )  # fmt: skip
    floor.ids["problem"] = await make_parcel(
        db, shop, mei, "T-4004", carrier="ZTO", waybill="75300000004004",
        shipped_at=now - timedelta(hours=5),
    )  # fmt: skip
    await _scan(db, floor.ids["problem"], 1, Stage.problem)
    # bo: one late to ship
    floor.ids["bo"] = await make_parcel(
        db, shop, bo, "T-4005", waybill="", status=ShipmentStatus.picking,
        ship_by=now - timedelta(hours=1),
    )  # fmt: skip
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        far_agent = await do_add_staff(
            session, shop_id=far.id, username="faragent", number="9001", name="Far",
            password="correct-horse-7", roles=("agent",), team="presale",
        )  # fmt: skip
        await session.commit()
    floor.ids["far"] = await make_parcel(
        db, far, far_agent, "F-4006", waybill="SF4000000006", status=ShipmentStatus.packed,
        ship_by=now - timedelta(hours=3),
    )  # fmt: skip
    return floor


async def _as(client: httpx.AsyncClient, make_staff: MakeStaff, name: str, *roles: str) -> None:
    await make_staff(name, *roles)
    assert (await sign_in(client, name)).status_code == 303


def _counts(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-count="(\w+)"><a [^>]*>(\d+)</a>', html))


async def test_the_agent_sees_her_own_orders_health(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    assert (await sign_in(client, "mei")).status_code == 303
    page = await client.get("/fulfilment/health")
    assert page.status_code == 200
    # a late one offers the chase, one on time does not
    assert f'action="/fulfilment/parcels/{floor.ids["late"]}/chase"' in page.text
    assert f'action="/fulfilment/parcels/{floor.ids["good"]}/chase"' not in page.text
    assert _counts(page.text) == {
        "parcels": "4", "shipped_on_time": "2", "late_to_ship": "2", "arrived_on_time": "1",
        "arrived_late": "1", "problem": "1",
    }  # fmt: skip
    assert "T-4001" in page.text and "T-4005" not in page.text and "F-4006" not in page.text
    late = await client.get("/fulfilment/health?show=late_to_ship")
    assert "T-4002" in late.text and "T-4003" in late.text and "T-4001" not in late.text
    # the supervisor sees every agent's, and one agent's with the filter
    await _as(client, make_staff, "sup", "supervisor")
    everyone = await client.get("/fulfilment/health")
    assert _counts(everyone.text)["parcels"] == "5"
    bo = await client.get("/fulfilment/health", params={"agent": str(await _staff_id(db, "bo"))})
    assert _counts(bo.text)["parcels"] == "1" and "T-4005" in bo.text


async def _staff_id(db: Database, username: str) -> int:
    from xiaoer.staff.models import StaffAccount

    async with db.session() as session:
        found = await session.scalar(
            select(StaffAccount.id).where(StaffAccount.username == username)
        )
        assert found is not None
        return found


async def test_an_agent_chases_the_warehouse_on_her_own_late_parcel_only(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    assert (await sign_in(client, "mei")).status_code == 303
    token = csrf_from((await client.get("/fulfilment/health")).text)
    # her own late parcel: chased, with an event for the floor and an audit line
    done = await client.post(f"/fulfilment/parcels/{floor.ids['waiting']}/chase",
                             data={"csrf_token": token, "back": "health"})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/fulfilment/health"
    assert (await shipment_of(db, floor.ids["waiting"])).chased_at is not None
    async with db.session() as session:
        kinds = list(await session.scalars(select(Event.kind)))
        audits = await session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "parcel_chased")
        )  # fmt: skip
    assert kinds.count("parcel.chased") == 1 and audits == 1
    # a parcel on time is not chased
    on_time = await client.post(f"/fulfilment/parcels/{floor.ids['good']}/chase",
                                data={"csrf_token": token})  # fmt: skip
    assert on_time.status_code == 409 and "只有超时的包裹才能催" in on_time.text
    # bo's parcel and the other shop's are not hers: not found, nothing changed
    for other in (floor.ids["bo"], floor.ids["far"]):
        refused = await client.post(f"/fulfilment/parcels/{other}/chase",
                                    data={"csrf_token": token})  # fmt: skip
        assert refused.status_code == 404
        assert (await shipment_of(db, other)).chased_at is None
    # the warehouse does not chase itself
    await _as(client, make_staff, "war", "warehouse")
    token = csrf_from((await client.get("/fulfilment/parcels")).text)
    refused = await client.post(f"/fulfilment/parcels/{floor.ids['bo']}/chase",
                                data={"csrf_token": token})  # fmt: skip
    assert refused.status_code == 403


async def test_the_supervisors_view_filters_searches_and_exports(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    await _as(client, make_staff, "sup", "supervisor")
    page = await client.get("/fulfilment/parcels")
    assert page.status_code == 200
    for number in ("T-4002", "T-4003", "T-4004", "T-4005"):
        assert number in page.text
    assert "T-4001" not in page.text and "F-4006" not in page.text
    assert 'data-kind="late_ship">2<' in page.text and 'data-kind="problem">1<' in page.text
    problems = await client.get("/fulfilment/parcels?kind=problem")
    assert "T-4004" in problems.text and "T-4002" not in problems.text
    zto = await client.get("/fulfilment/parcels?carrier=ZTO")
    assert "T-4004" in zto.text and "T-4003" not in zto.text
    bo = await client.get(f"/fulfilment/parcels?agent={await _staff_id(db, 'bo')}")
    assert "T-4005" in bo.text and "T-4002" not in bo.text
    by_waybill = await client.get("/fulfilment/parcels?q=SF4000000002")
    assert "T-4002" in by_waybill.text and "T-4003" not in by_waybill.text
    by_order = await client.get("/fulfilment/parcels?q=T-4003")
    assert "T-4003" in by_order.text and "T-4002" not in by_order.text
    # the pages walk by id, newest first
    first = await client.get(f"/fulfilment/parcels?after={floor.ids['problem']}")
    assert "T-4004" not in first.text and "T-4002" in first.text
    # exports: the filtered set, as a workbook and as CSV
    book = await client.get("/fulfilment/parcels/export.xlsx?kind=late_ship")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "订单号" and sorted(r[0] for r in rows[1:]) == ["T-4003", "T-4005"]
    text = (await client.get("/fulfilment/parcels/export.csv?carrier=ZTO")).text.lstrip("\ufeff")
    lines = list(csv.reader(io.StringIO(text)))
    assert [line[0] for line in lines[1:]] == ["T-4004"] and lines[1][2] == "75300000004004"


async def test_who_may_read_the_parcels_pages(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    # an agent: her own parcel's timeline, not bo's nor another shop's, not the floor view
    assert (await sign_in(client, "mei")).status_code == 303
    own = await client.get(f"/fulfilment/parcels/{floor.ids['problem']}")
    assert own.status_code == 200 and "75300000004004" in own.text
    assert "快递标记疑难" in own.text and "/aftersales/tickets/" in own.text
    assert "疑难 扫描" in own.text or "problem 扫描" in own.text
    assert (await client.get(f"/fulfilment/parcels/{floor.ids['bo']}")).status_code == 404
    assert (await client.get(f"/fulfilment/parcels/{floor.ids['far']}")).status_code == 404
    assert (await client.get("/fulfilment/parcels")).status_code == 403
    assert (await client.get("/fulfilment/parcels/export.xlsx")).status_code == 403
    # the back office reads every parcel of the shop, has no health page
    for name, role in (("aud", "auditor"), ("war", "warehouse")):
        await _as(client, make_staff, name, role)
        assert (await client.get("/fulfilment/parcels")).status_code == 200
        assert (await client.get(f"/fulfilment/parcels/{floor.ids['bo']}")).status_code == 200
        assert (await client.get(f"/fulfilment/parcels/{floor.ids['far']}")).status_code == 404
        assert (await client.get("/fulfilment/health")).status_code == 403
    # the administrator keeps accounts, not parcels
    await _as(client, make_staff, "adm", "admin")
    assert (await client.get("/fulfilment/parcels")).status_code == 403
    assert (await client.get(f"/fulfilment/parcels/{floor.ids['bo']}")).status_code == 403
    # a manager reads everything of the shop, nothing of the other
    await _as(client, make_staff, "man", "manager")
    assert (await client.get(f"/fulfilment/parcels/{floor.ids['bo']}")).status_code == 200
    assert (await client.get(f"/fulfilment/parcels/{floor.ids['far']}")).status_code == 404


async def test_the_buyer_says_a_signed_parcel_never_came(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    assert (await sign_in(client, "mei")).status_code == 303
    page = await client.get(f"/fulfilment/parcels/{floor.ids['good']}")
    token = csrf_from(page.text)
    assert 'id="not-received"' in page.text
    done = await client.post(f"/fulfilment/parcels/{floor.ids['good']}/not-received",
                             data={"csrf_token": token, "note": "买家说快递柜里没有"})  # fmt: skip
    assert done.status_code == 303
    shipment = await shipment_of(db, floor.ids["good"])
    assert shipment.problem == "not_received" and shipment.ticket_id is not None
    again = await client.post(f"/fulfilment/parcels/{floor.ids['good']}/not-received",
                              data={"csrf_token": token})  # fmt: skip
    assert again.status_code == 409 and "已经标记为未收到" in again.text
    # a parcel on its way is not "not received"
    moving = await client.post(f"/fulfilment/parcels/{floor.ids['late']}/not-received",
                               data={"csrf_token": token})  # fmt: skip
    assert moving.status_code == 409
    assert (await shipment_of(db, floor.ids["late"])).problem == ""
