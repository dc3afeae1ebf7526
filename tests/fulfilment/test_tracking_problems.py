"""Problem parcels (疑难件) found by their rules through the timers: a case with the
solution first, and the buyer told before they ask."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

import xiaoer.timer_handlers  # noqa: F401  (the handlers the worker runs)
from tests.conftest import MakeStaff
from tests.fulfilment.parcels import make_parcel, notices_of, shipment_of
from xiaoer.aftersales.models import Ticket, TicketLine
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, Event, Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.fulfilment.models import Shipment, Stage
from xiaoer.fulfilment.parcel_problems import NO_SCAN, STATION
from xiaoer.fulfilment.tracking import Scan, do_record_scans
from xiaoer.shops.models import Shop


async def _scan(db: Database, shipment_id: int, at: datetime, stage: Stage, text: str = "") -> None:
    async with db.session() as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None
        await do_record_scans(session, shipment, [Scan(at, stage, "上海", text)], source="csv",
                              now=at)  # fmt: skip
        await session.commit()


async def _ticket(db: Database, ticket_id: int | None) -> tuple[Ticket, list[TicketLine]]:
    assert ticket_id is not None
    async with db.session() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        lines = list(await session.scalars(
            select(TicketLine).where(TicketLine.ticket_id == ticket_id).order_by(TicketLine.id)
        ))  # fmt: skip
        return ticket, lines


async def _kinds(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(Event.kind).order_by(Event.seq)))


async def test_no_scan_for_the_policys_hours_makes_a_problem_with_its_case_and_notice(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given a parcel shipped 2 hours ago whose last scan was then (policy: 48 hours)
    mei = await make_staff("mei")
    shipped = utcnow() - timedelta(hours=2)
    parcel = await make_parcel(db, shop, mei, "T-3001", waybill="SF3000000001",
                               shipped_at=shipped)  # fmt: skip
    await _scan(db, parcel, shipped + timedelta(minutes=30), Stage.picked_up)
    # when 47 hours pass nothing is found
    await fire_all_due(db, now=shipped + timedelta(hours=47))
    assert (await shipment_of(db, parcel)).problem == ""
    # a scan at hour 10 moves the deadline to hour 58
    await _scan(db, parcel, shipped + timedelta(hours=10), Stage.in_transit)
    await fire_all_due(db, now=shipped + timedelta(hours=49))
    assert (await shipment_of(db, parcel)).problem == ""
    # then at hour 58 and a minute it is a problem parcel
    moment = shipped + timedelta(hours=58, minutes=1)
    await fire_all_due(db, now=moment)
    shipment = await shipment_of(db, parcel)
    assert shipment.problem == "no_scan" and shipment.problem_at is not None
    # with a case whose first words are the solution, linked to the parcel
    ticket, lines = await _ticket(db, shipment.ticket_id)
    assert ticket.subject.startswith("先给方案：补发或退款")
    assert "SF3000000001" in ticket.subject and ticket.order_id == shipment.order_id
    assert ticket.kind == "refund" and ticket.priority == 1
    assert lines[0].action == "opened"
    # and the buyer is told, once, with what we do and by when
    notices = await notices_of(db, parcel)
    assert len(notices) == 1
    assert notices[0].text.startswith("亲，非常抱歉，您的包裹（顺丰速运 SF3000000001）已经有")
    assert "补发或者退款" in notices[0].text and "前一定给您答复" in notices[0].text
    assert shipment.delay_told_at is not None
    assert "parcel.problem" in await _kinds(db)
    async with db.session() as session:
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "parcel_problem")
        )
        assert audit is not None and audit.entity_id == str(shipment.order_id)
    # the parcel's deadline does not come back
    async with db.session() as session:
        left = await session.scalars(
            select(Timer.id).where(Timer.subject == str(parcel), Timer.kind == NO_SCAN,
                                   Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
        )  # fmt: skip
        assert list(left) == []


async def test_a_parcel_shipped_without_any_scan_is_a_problem_after_the_hours(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    shipped = utcnow() - timedelta(hours=1)
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3002", shipped_at=shipped)
    await fire_all_due(db, now=shipped + timedelta(hours=48, minutes=1))
    assert (await shipment_of(db, parcel)).problem == "no_scan"


async def test_out_for_delivery_too_long_is_stuck_at_the_station(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    shipped = utcnow() - timedelta(hours=3)
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3003", shipped_at=shipped)
    out = shipped + timedelta(hours=1)
    await _scan(db, parcel, out, Stage.out_for_delivery, "派件员 王师傅")
    async with db.session() as session:
        due = await session.scalar(
            select(Timer.due_at).where(Timer.kind == STATION, Timer.fired_at.is_(None),
                                       Timer.cancelled_at.is_(None))
        )  # fmt: skip
    assert due is not None
    await fire_all_due(db, now=out + timedelta(hours=23))
    assert (await shipment_of(db, parcel)).problem == ""
    await fire_all_due(db, now=out + timedelta(hours=24, minutes=1))
    shipment = await shipment_of(db, parcel)
    assert shipment.problem == "stuck"
    notices = await notices_of(db, parcel)
    assert "在派送网点停留的时间太长了" in notices[0].text


async def test_a_signed_parcel_is_no_longer_followed(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    shipped = utcnow() - timedelta(hours=3)
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3004", shipped_at=shipped,
                               deliver_by=shipped + timedelta(hours=30))  # fmt: skip
    await _scan(db, parcel, shipped + timedelta(hours=1), Stage.out_for_delivery)
    await _scan(db, parcel, shipped + timedelta(hours=2), Stage.signed, "本人签收")
    await fire_all_due(db, now=shipped + timedelta(days=10))
    shipment = await shipment_of(db, parcel)
    assert (shipment.status, shipment.problem, shipment.delay_told_at) == ("delivered", "", None)
    async with db.session() as session:
        open_timers = await session.scalars(
            select(Timer.kind).where(Timer.subject == str(parcel), Timer.fired_at.is_(None),
                                     Timer.cancelled_at.is_(None))
        )  # fmt: skip
        assert list(open_timers) == []


async def test_the_carriers_own_problem_status_opens_the_case_at_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3005")
    words = "地址不详，联系不上收件人"
    await _scan(db, parcel, utcnow() - timedelta(minutes=5), Stage.problem, words)
    shipment = await shipment_of(db, parcel)
    assert (shipment.status, shipment.problem) == ("shipped", "carrier")
    _, lines = await _ticket(db, shipment.ticket_id)
    assert any("地址不详" in str(line.what) for line in lines)
    # a later no-scan finding is a line of the same case, not a second one
    await fire_all_due(db, now=utcnow() + timedelta(days=3))
    again = await shipment_of(db, parcel)
    assert (again.problem, again.ticket_id) == ("carrier", shipment.ticket_id)
    async with db.session() as session:
        tickets = list(await session.scalars(select(Ticket.id)))
    assert tickets == [shipment.ticket_id]
    assert len(await notices_of(db, parcel)) == 1


async def test_the_buyer_hears_of_a_delay_when_the_promised_day_passes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    shipped = utcnow() - timedelta(hours=3)
    promised = shipped + timedelta(hours=20)
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3006", shipped_at=shipped,
                               deliver_by=promised)  # fmt: skip
    await _scan(db, parcel, shipped + timedelta(hours=1), Stage.in_transit)
    await fire_all_due(db, now=promised - timedelta(minutes=1))
    assert await notices_of(db, parcel) == []
    await fire_all_due(db, now=promised + timedelta(minutes=1))
    shipment = await shipment_of(db, parcel)
    assert shipment.delay_told_at is not None and shipment.problem == ""
    notices = await notices_of(db, parcel)
    assert len(notices) == 1 and "比我们承诺的时间晚了" in notices[0].text
    assert notices[0].meta["notice"] == f"late:{parcel}"
    assert "parcel.late" in await _kinds(db)


async def test_a_buyer_without_a_chat_gets_no_notice_but_the_case_opens(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    shipped = utcnow() - timedelta(hours=1)
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-3007", shipped_at=shipped,
                               chat=False)  # fmt: skip
    await fire_all_due(db, now=shipped + timedelta(hours=49))
    shipment = await shipment_of(db, parcel)
    assert shipment.problem == "no_scan" and shipment.ticket_id is not None
    assert shipment.delay_told_at is None
    async with db.session() as session:
        kinds = set(await session.scalars(select(Timer.kind).where(Timer.subject == str(parcel))))
    assert NO_SCAN in kinds
