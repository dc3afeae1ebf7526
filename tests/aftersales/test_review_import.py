"""Importing the seller centre's review report (S5): real files, the real database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from benchmarks.aftersales_exports import REVIEW_HEADER, write_report
from benchmarks.order_exports import write_sample_export
from sqlalchemy import select

from tests.aftersales.commands import xiaoer
from xiaoer.aftersales.models import Review
from xiaoer.aftersales.review_import import import_reviews
from xiaoer.core.db import Database
from xiaoer.core.models import Event
from xiaoer.orders.models import Order
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.shops.models import Shop

NOW = datetime(2024, 4, 2, 4, 0, tzinfo=UTC)


async def _order_ids(db: Database, shop: Shop, tmp_path: Path) -> list[str]:
    order_list, item_list = write_sample_export(tmp_path / "orders", 6, seed=8, quirks=False)
    await import_orders(db, shop.id, order_list, item_list, now=NOW)
    async with db.session() as session:
        return sorted(await session.scalars(select(Order.platform_order_id)))


def _review(order: str, sub: str, rating: str = "好评", **cells: str) -> dict[str, str]:
    row = {
        "订单编号": order,
        "子订单编号": sub,
        "评价结果": rating,
        "评价内容": "茶叶很香，包装也好",
        "评价时间": "2024-03-22 20:15:00",
        "宝贝标题": "明前龙井 250g",
        "买家会员名": "tea_lover",
    }
    row.update(cells)
    return row


async def test_a_review_report_is_counted_and_a_changed_rating_is_recorded(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    # given
    orders = await _order_ids(db, shop, tmp_path)
    rows = [
        _review(orders[0], "5001"),  # line 2
        _review(orders[1], "5002", "差评", 评价内容="漏发了一包"),  # line 3
        _review(orders[2], "5003", "一般"),  # line 4: no such rating
        _review("123456789012345678", "5004"),  # line 5: unknown order
        _review(orders[3], "5005", 评价内容="好" * 501),  # line 6: too long
        _review(orders[4], "5006", "中评", 追评时间="2024-03-01 00:00:00", 追评内容="还行"),  # 7
        _review(orders[0], "5001"),  # line 8: again
    ]
    report = write_report(tmp_path / "reviews.csv", REVIEW_HEADER, rows)

    # when
    first = await import_reviews(db, shop.id, report, now=NOW)

    # then
    assert first.summary() == {
        "read": 7, "created": 2, "updated": 0, "unchanged": 0, "rejected": 5, "tickets_opened": 1,
    }  # fmt: skip
    assert [(line, str(why)) for line, why in first.rejected_rows] == [
        (4, '评价结果 "一般" is none of: 好评, 中评, 差评, good, neutral, bad'),
        (5, "order 123456789012345678 is not known to the shop; import the orders first"),
        (6, "评价内容 is 501 characters long; at most 500 are kept"),
        (7, "追评时间 is before 评价时间"),
        (8, "the same row appears earlier in this file"),
    ]  # fmt: skip
    async with db.session() as session:
        reviews = {r.platform_sub_order_id: r for r in await session.scalars(select(Review))}
    assert set(reviews) == {"5001", "5002"}
    assert first.bad_review_ids == [reviews["5002"].id]
    bad = reviews["5002"]
    assert (bad.rating, bad.content, bad.buyer_nick) == ("bad", "漏发了一包", "tea_lover")
    assert bad.reviewed_at == datetime(2024, 3, 22, 12, 15, tzinfo=UTC)

    # when: the same report again, then one where the buyer turned 差评 into 好评
    again = await import_reviews(db, shop.id, report, now=NOW)
    changed = write_report(tmp_path / "later.csv", REVIEW_HEADER, [
        _review(orders[0], "5001"),
        _review(orders[1], "5002", "好评", 评价内容="补发收到了", 解释内容="抱歉，已补发"),
    ])  # fmt: skip
    later = await import_reviews(db, shop.id, changed, now=NOW)

    # then
    assert (again.counts.unchanged, again.counts.created, again.counts.updated) == (2, 0, 0)
    assert later.summary() == {
        "read": 2, "created": 0, "updated": 1, "unchanged": 1, "rejected": 0, "tickets_opened": 0,
    }  # fmt: skip
    assert later.bad_review_ids == [] and later.worsened_review_ids == []
    async with db.session() as session:
        events = list(await session.scalars(select(Event).where(Event.kind == "review.changed")))
        stored = await session.get(Review, bad.id)
    assert stored is not None and (stored.rating, stored.reply) == ("good", "抱歉，已补发")
    assert [e.payload for e in events] == [{
        "review_id": bad.id,
        "order_id": bad.order_id,
        "before": {"rating": "bad", "content": "漏发了一包", "reply": ""},
        "after": {"rating": "good", "content": "补发收到了", "reply": "抱歉，已补发"},
    }]  # fmt: skip


async def test_an_xlsx_review_report_and_the_command_line(
    db: Database, shop: Shop, tmp_path: Path, database_url: str
) -> None:
    orders = await _order_ids(db, shop, tmp_path)
    report = write_report(tmp_path / "reviews.xlsx", REVIEW_HEADER,
                          [_review(orders[0], "1"), _review(orders[1], "2", "中评")])  # fmt: skip
    last, _stderr = await xiaoer(database_url, "import", "reviews", str(report), "--shop", "tea")
    assert {k: last[k] for k in ("read", "created", "updated", "unchanged", "rejected")} == {
        "read": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert last["rejected_rows"] == []
