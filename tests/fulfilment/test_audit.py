"""The audit queue: paid orders enter it, the rules flag them, the auditor passes
(reserving stock and making parcels), holds, merges and splits them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.fulfilment.audit_helpers import NOTE, paid_order, stock_floor
from xiaoer.aftersales.refund_states import RefundKind
from xiaoer.aftersales.refunds import do_open_refund
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.core.policy import Policy
from xiaoer.fulfilment.audit import (
    AuditError,
    AuditForbidden,
    AuditNotFound,
    audit_for,
    promise_of,
    sync_queue,
)
from xiaoer.fulfilment.audit_actions import (
    do_hold,
    do_merge,
    do_pass,
    do_pass_clean,
    do_release_hold,
    do_split,
)
from xiaoer.fulfilment.models import (
    AuditStatus,
    OrderAudit,
    ProductionSlip,
    Shipment,
    ShipmentLine,
    SlipStatus,
    StockLevel,
)
from xiaoer.fulfilment.production import do_mark_made, production_ready
from xiaoer.orders.changes import ChangeRequest, do_change_order
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, do_close_order, do_ship_order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

TEA = NewItem("龙井茶", 5000, 2, "TEA-1", "规格：250克")
CURTAIN = NewItem("定制窗帘", 50000, 1, "CUR-300", "尺寸：3米*2.4米")


async def _row(db: Database, order_id: int) -> OrderAudit:
    async with db.session() as session:
        row = await session.scalar(select(OrderAudit).where(OrderAudit.order_id == order_id))
        assert row is not None
        return row


async def _levels(db: Database, sku: int) -> dict[int, tuple[int, int]]:
    async with db.session() as session:
        rows = await session.scalars(select(StockLevel).where(StockLevel.sku_id == sku))
        return {r.location_id: (r.on_hand, r.reserved) for r in rows}


async def _rules(db: Database, order_id: int, auditor: StaffAccount) -> set[str]:
    async with db.session() as session:
        audit, _ = await audit_for(session, auditor, order_id)
        await session.commit()
        return {f["rule"] for f in audit.flags}


async def _parcels(db: Database, order_id: int) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """(location, lead order, [(order, units)]) of the parcels carrying the order."""
    async with db.session() as session:
        shipments = await session.scalars(
            select(Shipment)
            .where(Shipment.id.in_(select(ShipmentLine.shipment_id)
                                   .where(ShipmentLine.order_id == order_id)))
            .where(Shipment.status != "cancelled")
            .order_by(Shipment.id)
        )  # fmt: skip
        found = []
        for s in shipments:
            lines = await session.scalars(
                select(ShipmentLine).where(ShipmentLine.shipment_id == s.id)
                .order_by(ShipmentLine.id)
            )  # fmt: skip
            found.append((s.location_id, s.order_id, [(x.order_id, x.quantity) for x in lines]))
        return found


# --- the queue ---------------------------------------------------------------------------


async def test_a_paid_order_enters_the_queue_and_a_closed_one_leaves_releasing_its_stock(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        unpaid = await paid_order(session, shop, "U-1", TEA, cod=True, writer=agent)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.waiting.value
    async with db.session() as session:
        assert (
            await session.scalar(select(OrderAudit.id).where(OrderAudit.order_id == unpaid.id))
            is None
        )  # cash on delivery waits for the phone confirmation
        await do_pass(session, auditor, order.id)
        await session.commit()
    tea = floor.skus["TEA-1"]
    assert (await _levels(db, tea))[floor.locations["A"]] == (10, 2)
    async with db.session() as session:
        fresh = await session.get(Order, order.id)
        assert fresh is not None
        await do_close_order(session, order=fresh, reason="买家不要了")
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.cancelled.value
    assert (await _levels(db, tea))[floor.locations["A"]] == (10, 0)
    assert await _parcels(db, order.id) == []


async def test_shipping_by_other_means_leaves_the_queue(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        await do_pass(session, auditor, order.id)
        await do_ship_order(session, order=order, courier="中通", tracking_number="ZT1")
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.cancelled.value
    assert (await _levels(db, floor.skus["TEA-1"]))[floor.locations["A"]] == (10, 0)


async def test_shipping_through_its_own_parcel_keeps_the_audit(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        [parcel] = await do_pass(session, auditor, order.id)
        parcel.waybill = "SF1234567890"
        await do_ship_order(session, order=order, courier="顺丰", tracking_number="SF1234567890")
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.passed.value
    assert (await _levels(db, floor.skus["TEA-1"]))[floor.locations["A"]] == (10, 2)


async def test_sync_queue_adds_the_orders_that_arrived_without_the_hook(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        await stock_floor(session, shop)
        first = await paid_order(session, shop, "P-1", TEA, writer=agent)
        second = await paid_order(session, shop, "P-2", TEA, writer=agent)
        cod = await paid_order(session, shop, "C-1", TEA, writer=agent, cod=True)
        cod.cod_confirmed_at = datetime.now(UTC)
        await session.flush()
        await session.execute(
            OrderAudit.__table__.delete().where(OrderAudit.order_id.in_([first.id, second.id]))
        )
        assert await sync_queue(session, shop.id) == 3
        assert await sync_queue(session, shop.id) == 0
        await session.commit()
    for order in (first, second, cod):
        assert (await _row(db, order.id)).status == AuditStatus.waiting.value


def test_orders_paid_before_the_cutoff_ship_the_same_day() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    policy = Policy()
    morning = datetime(2026, 12, 1, 10, 0, tzinfo=zone).astimezone(UTC)
    evening = datetime(2026, 12, 1, 18, 0, tzinfo=zone).astimezone(UTC)
    ship_by, deliver_by = promise_of(morning, zone, policy)
    assert ship_by == datetime(2026, 12, 1, 23, 59, tzinfo=zone)
    assert deliver_by == datetime(2026, 12, 6, 23, 59, tzinfo=zone)
    assert promise_of(evening, zone, policy)[0] == datetime(2026, 12, 2, 23, 59, tzinfo=zone)
    hurried = policy.model_copy(update={"orders": policy.orders.model_copy(
        update={"ship_within_hours": 2})})  # fmt: skip
    assert promise_of(morning, zone, hurried)[0] == morning + timedelta(hours=2)


# --- the rules ---------------------------------------------------------------------------


async def test_each_rule_flags_its_case(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    agent = await make_staff("mei", "agent")
    leader = await make_staff("sup", "supervisor")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        await stock_floor(session, shop, a=3, b=0)
        clean = await paid_order(session, shop, "OK-1", TEA, writer=agent)
        no_note = await paid_order(session, shop, "N-1", TEA, writer=agent, note=None)
        bad_note = await paid_order(session, shop, "N-2", TEA, writer=agent, note="刘贺,随便")
        custom = await paid_order(session, shop, "C-1", CURTAIN, writer=agent, note=None)
        wrong_size = await paid_order(session, shop, "C-2", CURTAIN, writer=agent,
                                      note="刘贺,2米*2.4米,图案正常,12月19发货,自提")  # fmt: skip
        remote = await paid_order(session, shop, "R-1", TEA, writer=agent,
                                  address="新疆乌鲁木齐市天山区1号")  # fmt: skip
        big = await paid_order(session, shop, "B-1", NewItem("龙井茶", 600000, 1, "TEA-1"),
                               writer=agent)  # fmt: skip
        short = await paid_order(session, shop, "S-1", NewItem("龙井茶", 5000, 9, "TEA-1"),
                                 writer=agent)  # fmt: skip
        unknown = await paid_order(session, shop, "K-1", NewItem("旧款", 5000, 1, "OLD-9"),
                                   writer=agent)  # fmt: skip
        moved = await paid_order(session, shop, "M-1", TEA, writer=agent)
        await do_change_order(session, order=moved, agent=leader, request=ChangeRequest(
            receiver_address="浙江省杭州市上城区1号", reason="买家改地址"))  # fmt: skip
        refunded = await paid_order(session, shop, "F-1", TEA, writer=agent)
        await do_open_refund(
            session, leader, order_id=refunded.id, kind=RefundKind.refund_only, amount_fen=100,
            reason="少件",
        )  # fmt: skip
        await session.commit()
    expected = {
        clean.id: set(),
        no_note.id: {"note_missing"},
        bad_note.id: {"note_unparsable"},
        custom.id: {"note_missing", "custom_no_spec"},
        wrong_size.id: {"note_mismatch"},
        remote.id: {"remote_area"},
        big.id: {"amount_over"},
        short.id: {"stock_short"},
        unknown.id: {"unknown_sku"},
        moved.id: {"address_changed"},
        refunded.id: {"refund_open"},
    }
    found = {order_id: await _rules(db, order_id, auditor) for order_id in expected}
    assert found == expected


# --- passing -----------------------------------------------------------------------------


async def test_pass_reserves_at_the_first_location_that_holds_every_line(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop, a=1, b=5)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        shipments = await do_pass(session, auditor, order.id)
        await session.commit()
    a, b = floor.locations["A"], floor.locations["B"]
    assert [s.location_id for s in shipments] == [b]  # A has 1 of the 2
    assert await _parcels(db, order.id) == [(b, order.id, [(order.id, 2)])]
    assert await _levels(db, floor.skus["TEA-1"]) == {a: (1, 0), b: (5, 2)}
    row = await _row(db, order.id)
    assert row.status == AuditStatus.passed.value and row.decided_by == auditor.id
    assert row.ship_by is not None and row.deliver_by is not None
    async with db.session() as session:
        shipment = await session.get(Shipment, shipments[0].id)
        assert shipment is not None
        assert (shipment.status, shipment.carrier) == ("picking", "SF")  # the shop's 顺丰
        assert shipment.ship_by == row.ship_by
        kinds = set(await session.scalars(select(Event.kind).where(Event.shop_id == shop.id)))
        assert "audit.passed" in kinds
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "audit_pass")
            )
            == 1
        )


async def test_pass_splits_over_two_locations_when_neither_holds_it_all(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop, a=2, b=2)
        order = await paid_order(session, shop, "P-1", NewItem("龙井茶", 5000, 3, "TEA-1"),
                                 writer=agent)  # fmt: skip
        await do_pass(session, auditor, order.id)
        await session.commit()
    a, b = floor.locations["A"], floor.locations["B"]
    assert await _parcels(db, order.id) == [
        (a, order.id, [(order.id, 2)]), (b, order.id, [(order.id, 1)]),
    ]  # fmt: skip
    assert await _levels(db, floor.skus["TEA-1"]) == {a: (2, 2), b: (2, 1)}


async def test_pass_is_refused_on_a_blocking_flag_unless_overridden(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent, note=None)
        short = await paid_order(session, shop, "S-1", NewItem("龙井茶", 5000, 30, "TEA-1"),
                                 writer=agent)  # fmt: skip
        await session.commit()
    async with db.session() as session:
        with pytest.raises(AuditError, match="overriding"):
            await do_pass(session, auditor, order.id)
        with pytest.raises(AuditError, match="stock is short"):
            await do_pass(session, auditor, short.id, override="买家急要")
    assert (await _row(db, order.id)).status == AuditStatus.waiting.value
    assert (await _levels(db, floor.skus["TEA-1"]))[floor.locations["A"]] == (10, 0)
    async with db.session() as session:
        await do_pass(session, auditor, order.id, override="买家电话确认过，备注稍后补")
        await session.commit()
    row = await _row(db, order.id)
    assert row.status == AuditStatus.passed.value and row.reason.startswith("买家电话")


async def test_pass_all_clean_passes_only_the_unflagged(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        await stock_floor(session, shop)
        clean = await paid_order(session, shop, "P-1", TEA, writer=agent)
        flagged = await paid_order(session, shop, "P-2", TEA, writer=agent, note=None)
        await session.commit()
    async with db.session() as session:
        assert await do_pass_clean(session, auditor, [clean.id, flagged.id]) == 1
        await session.commit()
    assert (await _row(db, clean.id)).status == AuditStatus.passed.value
    assert (await _row(db, flagged.id)).status == AuditStatus.waiting.value


async def test_a_custom_order_gets_its_slip_and_waits_for_production(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    warehouse = await make_staff("war", "warehouse")
    async with db.session() as session:
        await stock_floor(session, shop)
        order = await paid_order(session, shop, "C-1", CURTAIN, writer=agent)
        await do_pass(session, auditor, order.id)
        await session.commit()
    async with db.session() as session:
        slip = await session.scalar(select(ProductionSlip).where(
            ProductionSlip.order_id == order.id))  # fmt: skip
        assert slip is not None and slip.status == SlipStatus.sent.value
        assert slip.spec["note"]["width_m"] == 3 and slip.spec["note"]["height_m"] == 2.4
        assert slip.spec["note_text"] == NOTE
        assert slip.spec["items"] == [
            {"code": "CUR-300", "title": "定制窗帘", "options": "尺寸：3米*2.4米", "quantity": 1}
        ]
        assert not await production_ready(session, order.id)
        with pytest.raises(NotPermitted):
            await do_mark_made(session, auditor, slip.id)
        await do_mark_made(session, warehouse, slip.id)
        await session.commit()
        assert await production_ready(session, order.id)


# --- hold, merge, split -----------------------------------------------------------------


async def test_a_hold_carries_a_reason_and_an_owner_who_clears_it(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    owner = await make_staff("mei", "agent")
    other = await make_staff("bo", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=owner)
        order.owner_id = owner.id
        await session.commit()
    async with db.session() as session:
        with pytest.raises(AuditError, match="why"):
            await do_hold(session, auditor, order.id, reason="  ")
        await do_hold(session, auditor, order.id, reason="尺寸和买家再确认")
        await session.commit()
    row = await _row(db, order.id)
    assert (row.status, row.owner_id, row.reason) == ("held", owner.id, "尺寸和买家再确认")
    async with db.session() as session:
        event = await session.scalar(select(Event).where(Event.kind == "audit.held"))
        assert event is not None and event.payload["owner_id"] == owner.id
        with pytest.raises(AuditForbidden):
            await do_release_hold(session, other, order.id)
        await audit_for(session, owner, order.id)  # the owner reads it
        with pytest.raises(AuditForbidden):
            await audit_for(session, other, order.id)
        await do_release_hold(session, owner, order.id)
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.waiting.value


async def test_merge_ships_one_buyers_orders_in_one_parcel(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        lead = await paid_order(session, shop, "P-1", TEA, writer=agent)
        second = await paid_order(session, shop, "P-2", NewItem("龙井茶", 5000, 1, "TEA-1"),
                                  writer=agent)  # fmt: skip
        stranger = await paid_order(session, shop, "P-3", TEA, writer=agent, buyer="buyer-2")
        elsewhere = await paid_order(session, shop, "P-4", TEA, writer=agent,
                                     address="浙江省宁波市1号")  # fmt: skip
        await session.commit()
    async with db.session() as session:
        with pytest.raises(AuditError, match="another buyer"):
            await do_merge(session, auditor, lead.id, [stranger.id])
        with pytest.raises(AuditError, match="another address"):
            await do_merge(session, auditor, lead.id, [elsewhere.id])
        await do_merge(session, auditor, lead.id, [second.id])
        await do_pass(session, auditor, lead.id)
        await session.commit()
    a = floor.locations["A"]
    assert await _parcels(db, lead.id) == [(a, lead.id, [(lead.id, 2), (second.id, 1)])]
    row = await _row(db, second.id)
    assert (row.status, row.merged_into) == ("merged", lead.id)
    assert (await _levels(db, floor.skus["TEA-1"]))[a] == (10, 3)
    # the merged order closes: its line leaves the parcel, its units are released
    async with db.session() as session:
        fresh = await session.get(Order, second.id)
        assert fresh is not None
        await do_close_order(session, order=fresh, reason="退款")
        await session.commit()
    assert await _parcels(db, lead.id) == [(a, lead.id, [(lead.id, 2)])]
    assert (await _levels(db, floor.skus["TEA-1"]))[a] == (10, 2)


async def test_split_ships_an_order_from_two_places_by_hand(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei", "agent")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        floor = await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, CURTAIN, writer=agent)
        await do_pass(session, auditor, order.id)
        await session.commit()
    a, b = floor.locations["A"], floor.locations["B"]
    assert [p[0] for p in await _parcels(db, order.id)] == [a]
    async with db.session() as session:
        items = (await session.scalars(
            select(ShipmentLine.order_item_id).where(ShipmentLine.order_id == order.id)
            .order_by(ShipmentLine.id)))  # fmt: skip
        tea_item, curtain_item = [i for i in items if i is not None]
        await do_split(session, auditor, order.id, {tea_item: a, curtain_item: b})
        await session.commit()
    assert await _parcels(db, order.id) == [
        (a, order.id, [(order.id, 2)]), (b, order.id, [(order.id, 1)]),
    ]  # fmt: skip
    assert await _levels(db, floor.skus["TEA-1"]) == {a: (10, 2), b: (10, 0)}
    assert await _levels(db, floor.skus["CUR-300"]) == {a: (10, 0), b: (10, 1)}
    async with db.session() as session:
        slips = await session.scalar(select(func.count()).select_from(ProductionSlip))
        assert slips == 1  # the slip sent is kept


# --- who may -----------------------------------------------------------------------------


async def test_who_may_audit(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    agent = await make_staff("mei", "agent")
    warehouse = await make_staff("war", "warehouse")
    leader = await make_staff("sup", "supervisor")
    auditor = await make_staff("aud", "auditor")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方", default_courier="圆通")
        await stock_floor(session, shop)
        order = await paid_order(session, shop, "P-1", TEA, writer=agent)
        order.owner_id = agent.id
        far_order = await paid_order(session, far, "F-1", TEA)
        await session.commit()
    async with db.session() as session:
        for who in (agent, warehouse):
            with pytest.raises(AuditForbidden):
                await do_pass(session, who, order.id)
            with pytest.raises(AuditForbidden):
                await do_hold(session, who, order.id, reason="看看")
            with pytest.raises(AuditForbidden):
                await audit_for(session, who, order.id)
        for who in (auditor, leader):
            with pytest.raises(AuditNotFound):
                await audit_for(session, who, far_order.id)
            with pytest.raises(AuditNotFound):
                await do_pass(session, who, far_order.id)
            with pytest.raises(AuditNotFound):
                await do_merge(session, who, order.id, [far_order.id])
    assert (await _row(db, order.id)).status == AuditStatus.waiting.value
    async with db.session() as session:
        await do_hold(session, leader, order.id, reason="大额复核")
        await do_release_hold(session, auditor, order.id)
        await do_pass(session, leader, order.id)
        await session.commit()
    assert (await _row(db, order.id)).status == AuditStatus.passed.value
