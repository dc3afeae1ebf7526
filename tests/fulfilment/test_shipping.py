"""Pick lists, the packing check and shipping, through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.fulfilment.shipments import Parcel, order_of, parcel
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.fulfilment.carriers import WaybillError
from xiaoer.fulfilment.models import (
    ProductionSlip,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    SlipStatus,
    StockLevel,
    StockMove,
)
from xiaoer.fulfilment.picking import pick_list, warehouse_queue
from xiaoer.fulfilment.shipping import ShippingError, do_pack, do_ship, shipment_for
from xiaoer.orders.models import TradeStatus
from xiaoer.reception.models import Message
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def _pack_all(db: Database, staff: StaffAccount, p: Parcel) -> None:
    async with db.session() as session:
        shipment = await shipment_for(session, staff, p.shipment_id)
        lines = await session.scalars(
            select(ShipmentLine).where(ShipmentLine.shipment_id == p.shipment_id)
        )
        for line in list(lines):
            await do_pack(session, staff, shipment, line.sku_code, line.quantity)
        await session.commit()


async def _scans(db: Database) -> int:
    async with db.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "shipment.scanned")
        )
        return int(found or 0)


async def test_a_pick_list_sums_a_locations_parcels_per_sku_in_shelf_order(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given two parcels at A sharing a SKU, and one at B
    war = await make_staff("war", "warehouse")
    late = utcnow() - timedelta(hours=2)
    first = await parcel(db, shop, "P-1", {"CL-200": 2, "AB-100": 1}, chat=False)
    second = await parcel(db, shop, "P-2", {"CL-200": 1}, chat=False, ship_by=late)
    elsewhere = await parcel(db, shop, "P-3", {"CL-200": 4}, location="B", chat=False)
    # when
    async with db.session() as session:
        picks = await pick_list(session, war, first.location_id)
        queue = await warehouse_queue(session, war)
    # then
    assert [(p.sku_code, p.quantity, p.orders) for p in picks.lines] == [
        ("AB-100", 1, ["P-1"]),
        ("CL-200", 3, ["P-1", "P-2"]),
    ]
    assert picks.lines[0].title == "窗帘AB-100 颜色分类：米白"
    assert [s.id for s in picks.shipments] == [second.shipment_id, first.shipment_id]  # late first
    assert [(q.location.code, q.waiting, q.late) for q in queue.picking] == [
        ("A", 2, 1),
        ("B", 1, 0),
    ]
    assert queue.to_pick[0].id == second.shipment_id
    async with db.session() as session:
        other = await pick_list(session, war, elsewhere.location_id)
    assert [(p.sku_code, p.quantity) for p in other.lines] == [("CL-200", 4)]
    # a page of two: the counts still cover every parcel, the rest is on page two
    async with db.session() as session:
        first_page = await warehouse_queue(session, war, per_page=2)
        second_page = await warehouse_queue(session, war, per_page=2, page=2)
        everything = await warehouse_queue(session, war, per_page=None)
    assert first_page.totals["to_pick"] == 3 and first_page.pages == 2
    assert [s.id for s in first_page.to_pick] == [second.shipment_id, first.shipment_id]
    assert [s.id for s in second_page.to_pick] == [elsewhere.shipment_id]
    assert [(q.location.code, q.waiting) for q in second_page.picking] == [("A", 2), ("B", 1)]
    assert len(everything.to_pick) == 3


async def test_a_wrong_scan_is_refused_and_records_nothing(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    war = await make_staff("war", "warehouse")
    p = await parcel(db, shop, "W-1", {"CL-200": 2}, chat=False)
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        with pytest.raises(ShippingError, match="XX-999 is not in this parcel"):
            await do_pack(session, war, shipment, "XX-999")
        with pytest.raises(ShippingError, match="2 ordered and 0 packed; 3 more is too many"):
            await do_pack(session, war, shipment, "CL-200", 3)
        with pytest.raises(ShippingError, match="scan a SKU code"):
            await do_pack(session, war, shipment, "  ")
        with pytest.raises(ShippingError, match="1 to 9999"):
            await do_pack(session, war, shipment, "CL-200", 0)
        await session.commit()
    async with db.session() as session:
        line = await session.scalar(
            select(ShipmentLine).where(ShipmentLine.shipment_id == p.shipment_id)
        )
        shipment = await session.get(Shipment, p.shipment_id)
    assert line is not None and line.packed == 0
    assert shipment is not None and shipment.status == ShipmentStatus.picking.value
    assert await _scans(db) == 0


async def test_right_scans_pack_the_parcel_once_every_line_is_full(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    war = await make_staff("war", "warehouse")
    p = await parcel(db, shop, "R-1", {"CL-200": 2, "AB-100": 1}, chat=False)
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        first = await do_pack(session, war, shipment, " cl-200 ")  # a scanner's one unit
        assert (first.line.packed, first.packed) == (1, False)
        await do_pack(session, war, shipment, "AB-100")
        with pytest.raises(ShippingError, match="too many"):
            await do_pack(session, war, shipment, "AB-100")
        last = await do_pack(session, war, shipment, "CL-200", 1)
        assert last.packed
        await session.commit()
    async with db.session() as session:
        shipment = await session.get(Shipment, p.shipment_id)
        assert shipment is not None
        assert (shipment.status, shipment.packed_by) == (ShipmentStatus.packed.value, war.id)
        assert shipment.packed_at is not None
        with pytest.raises(ShippingError, match="packed already"):
            await do_pack(session, war, shipment, "CL-200")
    assert await _scans(db) == 3


async def test_shipping_moves_the_parcel_the_ledger_the_order_and_tells_the_buyer(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    war = await make_staff("war", "warehouse")
    p = await parcel(db, shop, "S-1", {"CL-200": 2}, chat=True)
    await _pack_all(db, war, p)
    # when
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        shipped = await do_ship(session, war, shipment, " 顺丰 ", "sf1234567890123")
        await session.commit()
    # then the parcel
    assert shipped.changed and shipped.told == 1
    async with db.session() as session:
        shipment = await session.get(Shipment, p.shipment_id)
        assert shipment is not None
        assert (shipment.status, shipment.carrier, shipment.waybill, shipment.shipped_by) == (
            "shipped", "SF", "SF1234567890123", war.id)  # fmt: skip
        # the ledger: the reserved units left the shelf
        moves = list(await session.scalars(select(StockMove).where(StockMove.kind == "ship")))
        level = await session.scalar(
            select(StockLevel).where(StockLevel.location_id == p.location_id)
        )
        notices = list(
            await session.scalars(
                select(Message).where(Message.conversation_id == p.conversation_id,
                                      Message.sender == "auto")
            )
        )  # fmt: skip
        audits = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(
                AuditEntry.entity_id == str(p.order_id))
        )  # fmt: skip
    assert [(m.on_hand_delta, m.reserved_delta, m.document_kind, m.document_id, m.document_ref,
             m.order_id, m.actor) for m in moves] == [
        (-2, -2, "shipment", p.shipment_id, "SF1234567890123", p.order_id, war.number)
    ]  # fmt: skip
    assert level is not None and (level.on_hand, level.reserved) == (5, 0)
    # the order moved to 卖家已发货 with its courier and number, in the audit log
    order = await order_of(db, p.order_id)
    assert order.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
    assert (order.courier, order.tracking_number) == ("顺丰速运", "SF1234567890123")
    assert audits and audits >= 1
    # the buyer's chat has the notice, naming the carrier and the number
    shipped_notes = [
        m for m in notices if (m.meta or {}).get("notice") == f"shipped:{p.shipment_id}"
    ]
    assert len(shipped_notes) == 1
    assert "顺丰速运" in shipped_notes[0].text and "SF1234567890123" in shipped_notes[0].text
    # the same waybill again changes nothing; another one is refused
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        again = await do_ship(session, war, shipment, "SF", "SF1234567890123")
        assert not again.changed
        with pytest.raises(ShippingError, match="shipped already with waybill SF SF1234567890123"):
            await do_ship(session, war, shipment, "SF", "SF1234567890999")
        await session.commit()
    async with db.session() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(StockMove).where(StockMove.kind == "ship")
            )
            == 1
        )
        autos = (
            select(func.count())
            .select_from(Message)
            .where(Message.sender == "auto", Message.conversation_id == p.conversation_id)
        )
        assert await session.scalar(autos) == len(notices)


async def test_a_waybill_on_another_parcel_a_bad_number_and_an_unpacked_parcel_are_refused(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    war = await make_staff("war", "warehouse")
    one = await parcel(db, shop, "D-1", {"CL-200": 1}, chat=False)
    two = await parcel(db, shop, "D-2", {"CL-200": 1}, chat=False)
    await _pack_all(db, war, one)
    async with db.session() as session:
        shipment = await shipment_for(session, war, two.shipment_id)
        with pytest.raises(ShippingError, match="scan every item"):
            await do_ship(session, war, shipment, "ZTO", "773000000001")
    await _pack_all(db, war, two)
    async with db.session() as session:
        await do_ship(session, war, await shipment_for(session, war, one.shipment_id),
                      "ZTO", "773000000001")  # fmt: skip
        await session.commit()
    async with db.session() as session:
        shipment = await shipment_for(session, war, two.shipment_id)
        with pytest.raises(ShippingError, match="773000000001 is on another parcel"):
            await do_ship(session, war, shipment, "中通", "773000000001")
        with pytest.raises(WaybillError, match="not a 中通快递 waybill: they are 12–15 digits"):
            await do_ship(session, war, shipment, "中通", "77300")
        with pytest.raises(WaybillError, match="not a carrier we know"):
            await do_ship(session, war, shipment, "飞鸽", "773000000002")
    order = await order_of(db, two.order_id)
    assert order.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value


async def test_a_custom_order_waits_for_its_production_slip(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    war = await make_staff("war", "warehouse")
    p = await parcel(db, shop, "C-1", {"CL-200": 1}, chat=False)
    async with db.session() as session:
        session.add(
            ProductionSlip(shop_id=shop.id, order_id=p.order_id, spec={"size": "3米*2.4米"})
        )
        await session.commit()
    async with db.session() as session:
        shipment = await shipment_for(session, war, p.shipment_id)
        with pytest.raises(ShippingError, match="production has not finished"):
            await do_pack(session, war, shipment, "CL-200")
        slip = await session.scalar(
            select(ProductionSlip).where(ProductionSlip.order_id == p.order_id)
        )
        assert slip is not None
        slip.status = SlipStatus.made.value
        await session.flush()
        assert (await do_pack(session, war, shipment, "CL-200")).packed
        await session.commit()


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [(("warehouse",), True), (("supervisor",), True), (("manager",), True),
     (("agent",), False), (("auditor",), False), (("admin",), False)],
)  # fmt: skip
async def test_only_the_warehouse_and_leaders_pick_pack_and_ship(
    db: Database, shop: Shop, make_staff: MakeStaff, roles: tuple[str, ...], allowed: bool
) -> None:
    staff = await make_staff("someone", *roles)
    p = await parcel(db, shop, "A-1", {"CL-200": 1}, chat=False)
    async with db.session() as session:
        if not allowed:
            with pytest.raises(NotPermitted):
                await shipment_for(session, staff, p.shipment_id)
            with pytest.raises(NotPermitted):
                await pick_list(session, staff, p.location_id)
            with pytest.raises(NotPermitted):
                await warehouse_queue(session, staff)
            shipment = await session.get(Shipment, p.shipment_id)
            assert shipment is not None
            with pytest.raises(NotPermitted):
                await do_pack(session, staff, shipment, "CL-200")
            with pytest.raises(NotPermitted):
                await do_ship(session, staff, shipment, "SF", "SF1234567890123")
            return
        shipment = await shipment_for(session, staff, p.shipment_id)
        await do_pack(session, staff, shipment, "CL-200")
        await do_ship(session, staff, shipment, "SF", "SF1234567890123")
        await session.commit()


async def test_another_shops_parcel_and_location_are_not_found(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from tests.conftest import PASSWORD
    from xiaoer.shops.service import do_create_shop
    from xiaoer.staff.service import do_add_staff

    p = await parcel(db, shop, "F-1", {"CL-200": 1}, chat=False)
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店", default_courier="圆通")
        stranger = await do_add_staff(
            session, shop_id=far.id, username="farwar", number="9001", name="远方仓管",
            password=PASSWORD, roles=("warehouse",),
        )  # fmt: skip
        await session.commit()
    async with db.session() as session:
        with pytest.raises(NotFound):
            await shipment_for(session, stranger, p.shipment_id)
        with pytest.raises(NotFound):
            await pick_list(session, stranger, p.location_id)
        shipment = await session.get(Shipment, p.shipment_id)
        assert shipment is not None
        with pytest.raises(NotFound):
            await do_pack(session, stranger, shipment, "CL-200")
        with pytest.raises(NotFound):
            await do_ship(session, stranger, shipment, "SF", "SF1234567890123")
