"""Importing the seller centre's refund report (S1): real files, the real database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from benchmarks.aftersales_exports import REFUND_HEADER, write_report
from benchmarks.order_exports import write_sample_export
from sqlalchemy import func, select

from tests.aftersales.commands import xiaoer
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_import import import_refunds
from xiaoer.aftersales.refunds import refunded_fen
from xiaoer.core.audit import AuditEntry
from xiaoer.core.db import Database
from xiaoer.core.models import Event
from xiaoer.orders.models import Order
from xiaoer.sellercentre.exports import ExportError
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.shops.models import Shop

NOW = datetime(2024, 4, 2, 4, 0, tzinfo=UTC)
ASKING = "买家已经申请退款，等待卖家同意"
RETURNING = "卖家已经同意退款，等待买家退货"
SUCCESS = "退款成功"


async def _orders(db: Database, shop: Shop, tmp_path: Path, count: int = 12) -> list[Order]:
    """Import a sample order export; the paid orders, lowest number first."""
    order_list, item_list = write_sample_export(tmp_path / "orders", count, seed=5, quirks=False)
    await import_orders(db, shop.id, order_list, item_list, now=NOW)
    async with db.session() as session:
        paid = await session.scalars(
            select(Order).where(Order.paid_fen > 100).order_by(Order.platform_order_id)
        )
        return list(paid)


def _refund(order: Order, number: int, **cells: str) -> dict[str, str]:
    row = {
        "订单编号": order.platform_order_id,
        "退款编号": f"88800000000{number:04d}",
        "买家退款金额": "1.00",
        "是否需要退货": "否",
        "退款的申请时间": "2024-03-20 10:00:00",
        "超时时间": "2099-03-23 10:00:00",  # the platform's deadline may lie far ahead
        "退款状态": ASKING,
        "货物状态": "买家已收到货",
        "买家退款原因": "尺码不合适",
        "售中或售后": "售后",
        "责任方": "买家",
    }
    row.update(cells)
    return row


async def _refunds(db: Database) -> dict[str, Refund]:
    async with db.session() as session:
        return {r.platform_refund_id or "": r for r in await session.scalars(select(Refund))}


async def test_a_mixed_report_is_counted_row_by_row_with_each_rejection_and_its_reason(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    # given: orders imported, and a report with a known refund, good rows and bad ones
    orders = await _orders(db, shop, tmp_path)
    first = write_report(tmp_path / "first.csv", REFUND_HEADER, [_refund(orders[0], 1)])
    await import_refunds(db, shop.id, first, now=NOW)
    too_much = f"{orders[2].paid_fen / 100 + 1:.2f}"
    rows = [
        _refund(orders[0], 1),  # line 2: as before
        _refund(orders[1], 2, 是否需要退货="是"),  # line 3: new
        _refund(orders[2], 3, 买家退款金额=too_much),  # line 4: more than paid
        _refund(orders[3], 4, 退款状态="退款进行中"),  # line 5: no such status
        {**_refund(orders[4], 5), "订单编号": "999999999999999999"},  # line 6: unknown order
        _refund(orders[5], 6, 退款的申请时间="2024-13-01 10:00:00"),  # line 7: no time
        _refund(orders[6], 7, 退款完结时间="2024-03-19 10:00:00"),  # line 8: ends first
        _refund(orders[7], 8, 退款的申请时间="2030-01-01 00:00:00"),  # line 9: future
        _refund(orders[8], 2),  # line 10: the same refund again
        _refund(orders[9], 9, 货物状态="买家丢了货"),  # line 11: no such goods state
    ]
    report = write_report(tmp_path / "mixed.csv", REFUND_HEADER, rows)

    # when
    result = await import_refunds(db, shop.id, report, now=NOW)

    # then
    assert result.summary() == {
        "read": 10, "created": 1, "updated": 0, "unchanged": 1, "rejected": 8, "tickets_opened": 1,
    }  # fmt: skip
    assert [(line, str(why)) for line, why in result.rejected_rows] == [
        (4, f"the refund of {round(float(too_much) * 100)} fen is more than the "
            f"{orders[2].paid_fen} fen the buyer paid"),
        (5, '退款状态 "退款进行中" is none of: ' + ", ".join(
            ["买家已经申请退款，等待卖家同意", "卖家已经同意退款，等待买家退货",
             "买家已经退货，等待卖家确认收货", "卖家拒绝退款", "退款关闭", "退款成功",
             "WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS",
             "SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS"])),
        (6, "order 999999999999999999 is not known to the shop; import the orders first"),
        (7, '退款的申请时间 "2024-13-01 10:00:00" is not a time (yyyy-MM-dd HH:mm:ss)'),
        (8, "退款完结时间 is before 退款的申请时间"),
        (9, "退款的申请时间 2030-01-01 00:00:00 is more than a day in the future"),
        (10, "the same row appears earlier in this file"),
        (11, '货物状态 "买家丢了货" is none of: 买家未收到货, 买家已收到货, 买家已退货, '
             "BUYER_NOT_RECEIVED, BUYER_RECEIVED, BUYER_RETURNED_GOODS, SELLER_RECEIVED"),
    ]  # fmt: skip
    assert result.new_refund_ids and result.moved_refund_ids == []
    stored = await _refunds(db)
    assert set(stored) == {"888000000000001", "888000000000002"}
    new = stored["888000000000002"]
    assert result.new_refund_ids == [new.id]
    assert (new.kind, new.status, new.goods) == ("return_refund", "WAIT_SELLER_AGREE",
                                                 "BUYER_RECEIVED")  # fmt: skip
    assert (new.amount_fen, new.reason) == (100, "尺码不合适")
    assert (new.phase, new.responsible) == ("aftersale", "买家")
    assert new.applied_at == datetime(2024, 3, 20, 2, 0, tzinfo=UTC)
    assert new.deadline_at == datetime(2099, 3, 23, 2, 0, tzinfo=UTC)
    # The rejects file beside the input keeps each rejected row with its line and reason.
    assert result.rejects == [tmp_path / "mixed.rejects.csv"]
    assert "退款进行中" in result.rejects[0].read_text("gb18030")
    # The zh texts: the reasons as a Chinese reader sees them.
    from xiaoer.http.i18n import error_catalogue

    zh = error_catalogue("zh")
    for _line, why in result.rejected_rows:
        assert getattr(why, "template", None) in zh


async def test_a_second_import_of_the_same_report_changes_nothing(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    orders = await _orders(db, shop, tmp_path)
    rows = [_refund(order, n, 退款状态=SUCCESS) for n, order in enumerate(orders[:4])]
    report = write_report(tmp_path / "report.csv", REFUND_HEADER, rows)
    first = await import_refunds(db, shop.id, report, now=NOW)
    assert (first.counts.created, first.counts.rejected) == (4, 0)
    async with db.session() as session:
        refunded = {i: f for i, f in await session.execute(select(Order.id, Order.refunded_fen))}
    again = await import_refunds(db, shop.id, report, now=NOW)
    assert again.summary() == {
        "read": 4, "created": 0, "updated": 0, "unchanged": 4, "rejected": 0, "tickets_opened": 0,
    }  # fmt: skip
    assert again.new_refund_ids == [] and again.moved_refund_ids == []
    async with db.session() as session:
        assert {
            i: f for i, f in await session.execute(select(Order.id, Order.refunded_fen))
        } == refunded
        assert await session.scalar(select(func.count()).select_from(Refund)) == 4


async def test_a_later_report_moves_the_refund_with_an_event_an_audit_and_counts_it_once(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    # given: a refund imported while the buyer returns the goods
    orders = await _orders(db, shop, tmp_path)
    order = orders[0]
    async with db.session() as session:
        before_fen = (await session.get(Order, order.id)).refunded_fen  # type: ignore[union-attr]
    asked = write_report(tmp_path / "one.csv", REFUND_HEADER,
                         [_refund(order, 1, 退款状态=RETURNING, 是否需要退货="是")])  # fmt: skip
    await import_refunds(db, shop.id, asked, now=NOW)

    # when: the next report says it succeeded, and is imported twice
    done = _refund(order, 1, 退款状态=SUCCESS, 是否需要退货="是", 货物状态="买家已退货",
                   退款完结时间="2024-03-25 09:00:00", 退货物流单号="SF1234567890123",
                   退货物流公司="顺丰速运")  # fmt: skip
    later = write_report(tmp_path / "two.csv", REFUND_HEADER, [done])
    moved = await import_refunds(db, shop.id, later, now=NOW)
    again = await import_refunds(db, shop.id, later, now=NOW)

    # then
    assert (moved.counts.updated, again.counts.unchanged) == (1, 1)
    refund = (await _refunds(db))["888000000000001"]
    assert moved.moved_refund_ids == [refund.id] and again.moved_refund_ids == []
    assert (refund.status, refund.goods) == ("SUCCESS", "BUYER_RETURNED_GOODS")
    assert (refund.return_waybill, refund.return_carrier) == ("SF1234567890123", "顺丰速运")
    assert refund.finished_at == datetime(2024, 3, 25, 1, 0, tzinfo=UTC)
    async with db.session() as session:
        stored = await session.get(Order, order.id)
        assert stored is not None
        assert stored.refunded_fen == before_fen  # the order list's total is left alone
        # what is paid back counts the successful refund once, whatever the order says
        assert await refunded_fen(session, stored) == max(before_fen, 100)
        events = list(await session.scalars(select(Event).where(Event.kind == "refund.status")))
        assert [e.payload for e in events] == [{
            "refund_id": refund.id, "order_id": order.id, "kind": "return_refund",
            "amount_fen": 100, "move": "import", "by": None, "status": "SUCCESS",
            "goods": "BUYER_RETURNED_GOODS",
        }]  # fmt: skip
        audits = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.entity == "refund"))
        )
        assert len(audits) == 1
        assert (audits[0].actor, audits[0].action) == ("import", "import")
        assert audits[0].before == {"status": "WAIT_BUYER_RETURN_GOODS", "goods": "BUYER_RECEIVED"}
        assert audits[0].after == {"status": "SUCCESS", "goods": "BUYER_RETURNED_GOODS"}


@pytest.mark.parametrize("name", ["report.xlsx", "report-gb.csv", "report-utf8.csv"])
async def test_workbooks_gb18030_and_utf8_with_quoted_ids_and_spaced_headers_read_alike(
    db: Database, shop: Shop, tmp_path: Path, name: str
) -> None:
    orders = await _orders(db, shop, tmp_path)
    header = [f" {h} " if i % 3 == 0 else h for i, h in enumerate(REFUND_HEADER)]
    encoding = "utf-8-sig" if "utf8" in name else "gb18030"
    rows = [_refund(orders[0], 1), _refund(orders[1], 2)]
    report = write_report(tmp_path / name, header, rows, encoding=encoding)
    if name.endswith(".csv"):
        assert '="888000000000001"' in report.read_text(encoding)
    result = await import_refunds(db, shop.id, report, now=NOW)
    assert (result.counts.created, result.counts.rejected) == (2, 0)
    assert set(await _refunds(db)) == {"888000000000001", "888000000000002"}


async def test_an_order_list_is_not_taken_for_a_refund_report(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, _items = write_sample_export(tmp_path, 3, seed=1)
    with pytest.raises(ExportError, match="not a refund report"):
        await import_refunds(db, shop.id, order_list, now=NOW)


async def test_the_command_prints_the_counts_and_rejected_rows_as_its_last_line(
    db: Database, shop: Shop, tmp_path: Path, database_url: str
) -> None:
    orders = await _orders(db, shop, tmp_path)
    rows = [_refund(orders[0], 1), _refund(orders[1], 2, 退款状态="不知道")]
    report = write_report(tmp_path / "cli.csv", REFUND_HEADER, rows)
    last, stderr = await xiaoer(database_url, "import", "refunds", str(report), "--shop", "tea")
    assert {k: last[k] for k in ("read", "created", "updated", "unchanged", "rejected")} == {
        "read": 2, "created": 1, "updated": 0, "unchanged": 0, "rejected": 1,
    }  # fmt: skip
    assert last["rejected_rows"][0]["line"] == 3
    assert last["rejected_rows"][0]["reason"].startswith('退款状态 "不知道" is none of:')
    assert "rejected cli.csv:3:" in stderr
