"""Tracking events in: the aggregator's webhook and the CSV import, into a parcel's
timeline; stages mapped, repeats skipped, signed parcels delivered."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from tests.fulfilment.parcels import make_parcel, shipment_of
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import Event
from xiaoer.fulfilment.models import ShipmentStatus, Stage, TrackingEvent
from xiaoer.fulfilment.tracking import import_tracking, stage_of
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop


async def _channel(db: Database, shop: Shop, name: str = "快递100") -> tuple[int, str]:
    async with db.session() as session:
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name=name)
        await session.commit()
        return channel.id, secret


def _local(hours_ago: float) -> str:
    """A shop-local wall time (Asia/Shanghai) some hours ago, as aggregators write it."""
    at = utcnow() + timedelta(hours=8) - timedelta(hours=hours_ago)
    return at.strftime("%Y-%m-%d %H:%M:%S")


async def _push(
    client: httpx.AsyncClient, channel: tuple[int, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/tracking/{channel[0]}/push",
        json=body,
        headers={"Authorization": f"Bearer {channel[1]}", "Accept-Language": "en"},
    )


async def _scans(db: Database, shipment_id: int) -> list[TrackingEvent]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.shipment_id == shipment_id)
                .order_by(TrackingEvent.at)
            )
        )


def test_the_aggregators_statuses_map_to_our_stages() -> None:
    assert stage_of("已揽收") is Stage.picked_up
    assert stage_of("运输中") is Stage.in_transit
    assert stage_of("在途") is Stage.in_transit
    assert stage_of("派件中") is Stage.out_for_delivery
    assert stage_of("已签收") is Stage.signed
    assert stage_of("退回") is Stage.returned
    assert stage_of("退签") is Stage.returned  # not signed: 签 is in it
    assert stage_of("拒签") is Stage.problem
    assert stage_of("疑难件") is Stage.problem
    assert stage_of("3") is Stage.signed  # 快递100's codes
    assert stage_of("5") is Stage.out_for_delivery
    assert stage_of("2") is Stage.problem
    assert stage_of("SIGN") is Stage.signed
    assert stage_of("out_for_delivery") is Stage.out_for_delivery
    assert stage_of("海关查验") is None


async def test_a_push_stores_the_scans_and_moves_the_parcel_on(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    # given a shipped parcel and the aggregator's channel
    mei = await make_staff("mei")
    parcel = await make_parcel(db, shop, mei, "T-1001", waybill="SF1234567890")
    channel = await _channel(db, shop)
    body = {
        "carrier": "顺丰",
        "waybill": "SF1234567890",
        "scans": [
            {"time": _local(1.5), "status": "已揽收", "place": "上海", "text": "快递员已揽件"},
            {"time": (utcnow() - timedelta(hours=1)).isoformat(), "status": "1xx",
             "place": "上海转运中心", "text": "已到达"},
        ],
    }  # fmt: skip
    # when it pushes
    answer = await _push(client, channel, body)
    # then both are stored, the unknown status kept in transit with its words
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"waybill": "SF1234567890", "stored": 2, "skipped": 0, "problems": []}
    scans = await _scans(db, parcel)
    assert [(s.stage, s.place, s.source) for s in scans] == [
        ("picked_up", "上海", "webhook"),
        ("in_transit", "上海转运中心", "webhook"),
    ]
    assert scans[1].text == "1xx 已到达"
    shipment = await shipment_of(db, parcel)
    assert shipment.last_stage == "in_transit" and shipment.status == "shipped"
    assert shipment.last_scan_at is not None
    # the same push again changes nothing
    again = await _push(client, channel, body)
    assert again.json() == {"waybill": "SF1234567890", "stored": 0, "skipped": 2, "problems": []}
    assert len(await _scans(db, parcel)) == 2


async def test_a_signed_scan_delivers_the_parcel_but_leaves_the_trade_to_the_buyer(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-1002", waybill="SF1000000002")
    channel = await _channel(db, shop)
    answer = await _push(client, channel, {"waybill": "SF1000000002", "scans": [
        {"time": _local(0.5), "status": "3", "place": "徐汇", "text": "本人签收"},
    ]})  # fmt: skip
    assert answer.json()["stored"] == 1
    shipment = await shipment_of(db, parcel)
    assert (shipment.status, shipment.last_stage) == ("delivered", "signed")
    assert shipment.delivered_at is not None
    async with db.session() as session:
        order = await session.get(Order, shipment.order_id)
        assert order is not None and order.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS


async def test_an_unknown_waybill_is_a_clear_404_and_stores_nothing(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_parcel(db, shop, await make_staff("mei"), "T-1003", waybill="SF1000000003")
    channel = await _channel(db, shop)
    scans = [{"time": _local(1), "status": "在途"}]
    answer = await _push(
        client, channel, {"carrier": "SF", "waybill": "SF9999999999", "scans": scans}
    )
    assert answer.status_code == 404
    assert answer.json() == {
        "code": "no_such_parcel",
        "detail": "no shipped parcel with waybill SF9999999999",
    }
    # the right number under another carrier is not it either
    wrong = await _push(
        client, channel, {"carrier": "中通", "waybill": "SF1000000003", "scans": scans}
    )
    assert wrong.status_code == 404
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TrackingEvent)) == 0


async def test_a_push_with_a_bad_scan_stores_none_of_it(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-1004", waybill="SF1000000004")
    channel = await _channel(db, shop)
    future = (utcnow() + timedelta(days=2)).isoformat()
    for scans, detail in (
        ([{"time": _local(2), "status": "在途"}, {"time": "昨天", "status": "在途"}],
         "scan 2: time '昨天' is neither yyyy-MM-dd HH:mm:ss nor ISO 8601 with an offset"),
        ([{"time": future, "status": "在途"}], f"scan 1: time {future[:40]!r} is in the future"),
        ([{"time": "2026-13-01 10:00:00", "status": "在途"}],
         "scan 1: time '2026-13-01 10:00:00' is neither yyyy-MM-dd HH:mm:ss nor ISO 8601 "
         "with an offset"),
    ):  # fmt: skip
        answer = await _push(client, channel, {"waybill": "SF1000000004", "scans": scans})
        assert answer.status_code == 422
        assert answer.json()["detail"] == detail
    body = {
        "carrier": "路边快递",
        "waybill": "SF1000000004",
        "scans": [{"time": _local(1), "status": "在途"}],
    }
    unknown = await _push(client, channel, body)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_carrier")
    assert await _scans(db, parcel) == []


async def test_the_webhook_takes_only_its_own_shops_secret(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    # given a parcel of this shop, and another shop with its own channel
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-1005", waybill="SF1000000005")
    ours = await _channel(db, shop)
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await session.commit()
    theirs = await _channel(db, far, "远方")
    body = {"waybill": "SF1000000005", "scans": [{"time": _local(1), "status": "在途"}]}
    # no secret, a wrong one, ours under their channel's number: refused
    bare = await client.post(f"/tracking/{ours[0]}/push", json=body)
    assert (bare.status_code, bare.json()["code"]) == (401, "unknown_channel")
    assert (await _push(client, (ours[0], "xc_wrong"), body)).status_code == 401
    assert (await _push(client, (theirs[0], ours[1]), body)).status_code == 401
    # the other shop's own secret is good, but our parcel is not theirs
    assert (await _push(client, theirs, body)).status_code == 404
    assert await _scans(db, parcel) == []
    async with db.session() as session:
        kinds = set(await session.scalars(select(Event.kind)))
    assert "parcel.tracked" not in kinds


async def test_the_webhook_refuses_a_body_over_its_limit(
    db: Database, shop: Shop, client: httpx.AsyncClient
) -> None:
    channel = await _channel(db, shop)
    scans = [{"time": _local(1), "status": "在途", "text": "x" * 1000}] * 300
    answer = await client.post(
        f"/tracking/{channel[0]}/push",
        content=json.dumps({"waybill": "SF1", "scans": scans}),
        headers={"Authorization": f"Bearer {channel[1]}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 413


CSV_HEADER = "运单号,快递公司,时间,状态,地点,描述\n"


async def test_the_csv_import_keeps_good_rows_refuses_bad_ones_and_repeats_nothing(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    mei = await make_staff("mei")
    first = await make_parcel(db, shop, mei, "T-2001", waybill="SF2000000001")
    second = await make_parcel(db, shop, mei, "T-2002", carrier="ZTO", waybill="75300000000002")
    lines = [
        f"SF2000000001,顺丰速运,{_local(1.5)},已揽收,上海,快递员已揽件",
        f"SF2000000001,,{_local(1.0)},运输中,上海转运中心,",
        f"75300000000002,中通,{_local(1.0)},派件中,徐汇,派件员 王师傅",
        f"75300000000002,中通,{_local(1.0)},派件中,徐汇,派件员 王师傅",  # the same scan
        f"SF9999999999,顺丰,{_local(1.0)},在途,,",  # unknown waybill
        f"SF2000000001,路边快递,{_local(1.0)},在途,,",  # unknown carrier
        "SF2000000001,顺丰,昨天下午,在途,,",  # a time we cannot read
        f",顺丰,{_local(1.0)},在途,,",  # no waybill
        f"SF2000000001,顺丰,{_local(1.0)},,,",  # no status
    ]
    path = tmp_path / "tracking.csv"
    path.write_bytes((CSV_HEADER + "\n".join(lines) + "\n").encode("gb18030"))
    # when it is imported
    result = await import_tracking(db, shop.id, path.read_bytes(), path.name)
    # then the good rows are stored, the repeat unchanged, each bad one said with its line
    assert (result.read, result.stored, result.unchanged) == (9, 3, 1)
    assert result.rejected == [
        (6, "no shipped parcel with waybill SF9999999999"),
        (7, "unknown carrier '路边快递'"),
        (8, "time '昨天下午' is neither yyyy-MM-dd HH:mm:ss nor ISO 8601 with an offset"),
        (9, "the waybill number is empty"),
        (10, "the status is empty"),
    ]
    assert [s.stage for s in await _scans(db, first)] == ["picked_up", "in_transit"]
    assert [s.source for s in await _scans(db, second)] == ["csv"]
    assert (await shipment_of(db, second)).last_stage == "out_for_delivery"
    # the same file again stores nothing
    again = await import_tracking(db, shop.id, path.read_bytes(), path.name)
    assert (again.read, again.stored, again.unchanged, len(again.rejected)) == (9, 0, 4, 5)


async def test_a_file_without_the_columns_is_refused_whole(db: Database, shop: Shop) -> None:
    from xiaoer.fulfilment.tracking import TrackingError

    with pytest.raises(TrackingError, match="missing column '状态'"):
        data = "运单号,时间\nSF1,2026-12-01 10:00:00\n".encode()
        await import_tracking(db, shop.id, data, "a.csv")


async def test_a_returned_scan_sends_the_parcel_back_as_a_problem(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-1006", waybill="SF1000000006")
    channel = await _channel(db, shop)
    answer = await _push(client, channel, {"waybill": "SF1000000006", "scans": [
        {"time": _local(1), "status": "退回", "text": "收件人拒收，退回寄件人"},
    ]})  # fmt: skip
    assert answer.json()["problems"] == ["returned"]
    shipment = await shipment_of(db, parcel)
    assert (shipment.status, shipment.problem) == (ShipmentStatus.returned, "returned")
    assert shipment.ticket_id is not None


async def test_the_command_prints_its_counts_as_the_last_line(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path, database_url: str
) -> None:
    from tests.aftersales.commands import xiaoer

    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-2101", waybill="SF2100000001")
    path = tmp_path / "scans.csv"
    path.write_text(
        CSV_HEADER
        + f"SF2100000001,顺丰,{_local(1)},已签收,徐汇,本人签收\n"
        + f"SF0000000000,顺丰,{_local(1)},在途,,\n",
        encoding="utf-8-sig",
    )
    last, stderr = await xiaoer(database_url, "import", "tracking", str(path), "--shop", "tea")
    assert {k: last[k] for k in ("read", "stored", "unchanged", "rejected")} == {
        "read": 2, "stored": 1, "unchanged": 0, "rejected": 1,
    }  # fmt: skip
    assert last["rejected_rows"] == [
        {"line": 3, "reason": "no shipped parcel with waybill SF0000000000"}
    ]
    assert "rejected line 3" in stderr
    assert (await shipment_of(db, parcel)).status == "delivered"
    again, _ = await xiaoer(database_url, "import", "tracking", str(path), "--shop", "tea")
    assert (again["stored"], again["unchanged"]) == (0, 1)


async def test_the_same_push_twice_at_once_stores_each_scan_once(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    parcel = await make_parcel(db, shop, await make_staff("mei"), "T-1007", waybill="SF1000000007")
    channel = await _channel(db, shop)
    body = {"waybill": "SF1000000007", "scans": [
        {"time": _local(hours), "status": "在途", "text": f"第{hours}站"} for hours in (3, 2, 1)
    ]}  # fmt: skip
    answers = await asyncio.gather(*(_push(client, channel, body) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.json()["stored"] for a in answers) == [0, 3]
    assert len(await _scans(db, parcel)) == 3
