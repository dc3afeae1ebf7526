"""Importing seller-centre exports into a shop (O1): real files, the real database."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from benchmarks.order_exports import rewrite_with_changes, write_sample_export
from sqlalchemy import func, select

from tests.test_cli import xiaoer
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.models import Event, Timer
from xiaoer.orders import workflow
from xiaoer.orders.models import Order, OrderItem, TradeStatus
from xiaoer.sellercentre.exports import ExportError, OrderRow, open_orders
from xiaoer.sellercentre.ingest import import_orders, row_digest
from xiaoer.shops.models import Shop

ORDER_HEADER_START = ["订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费"]


async def _count(db: Database, model: type, **where: object) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(await session.scalar(query) or 0)


async def test_a_sample_export_imports_once_and_a_second_import_changes_nothing(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 300, seed=3)
    with open_orders(order_list) as reader:
        rows = [r for r in reader if isinstance(r, OrderRow)]
    first = await import_orders(db, shop.id, order_list, item_list)
    assert first.orders.as_dict() == {
        "read": 300, "created": 300, "updated": 0, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert first.items.rejected == 0 and first.items.created == first.items.read
    assert first.rejects == []
    assert await _count(db, Order, shop_id=shop.id) == 300
    assert await _count(db, OrderItem) == first.items.read

    async with db.session() as session:
        sample = rows[0]
        stored = await session.scalar(
            select(Order).where(Order.platform_order_id == sample.platform_order_id)
        )
        assert stored is not None
        assert stored.status == sample.status.value
        assert stored.paid_fen == sample.paid_fen
        assert stored.receiver_phone == sample.receiver_phone
        assert stored.source == "import"
        buyer = await session.get(Customer, stored.customer_id)
        assert buyer is not None and buyer.buyer_id == sample.buyer_nick
        goods = await session.scalar(
            select(func.sum(OrderItem.price_fen * OrderItem.quantity)).where(
                OrderItem.order_id == stored.id
            )
        )
        assert goods == stored.goods_fen

    again = await import_orders(db, shop.id, order_list, item_list)
    assert again.orders.as_dict() == {
        "read": 300, "created": 0, "updated": 0, "unchanged": 300, "rejected": 0,
    }  # fmt: skip
    assert again.items.unchanged == first.items.read and again.items.created == 0
    assert await _count(db, Order) == 300
    assert await _count(db, OrderItem) == first.items.read


async def test_a_newer_export_updates_status_payment_and_shipping(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 400, seed=5)
    await import_orders(db, shop.id, order_list, item_list)
    newer = tmp_path / "newer.csv"
    moved = rewrite_with_changes(order_list, newer, 0.5, seed=1)
    assert moved.paid and moved.shipped

    result = await import_orders(db, shop.id, newer, item_list)
    assert result.orders.updated == len(moved.paid) + len(moved.shipped)
    assert result.orders.unchanged == 400 - result.orders.updated
    assert result.orders.created == 0
    async with db.session() as session:
        paid = await session.scalar(select(Order).where(Order.platform_order_id == moved.paid[0]))
        shipped = await session.scalar(
            select(Order).where(Order.platform_order_id == moved.shipped[0])
        )
        assert paid is not None and paid.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value
        assert paid.paid_at is not None and paid.paid_fen > 0
        assert shipped is not None
        assert shipped.status == TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
        assert shipped.tracking_number
        audits = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "order.imported")
        )
        assert audits == 2
        # Each order that moved is told as any other change of status, with where it was.
        told = {
            e.payload["order_id"]: (e.payload["before"], e.payload["status"])
            for e in await session.scalars(select(Event).where(Event.kind == "order.status"))
        }
        assert len(told) == result.orders.updated
        assert told[paid.id] == ("WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS")
        assert told[shipped.id] == ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS")


def _rewrite(path: Path, change: dict[int, dict[str, str]], encoding: str = "gb18030") -> None:
    """Change cells of the given data rows (0 = first row after the header)."""
    with path.open(encoding=encoding, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    for index, cells in change.items():
        for column, value in cells.items():
            rows[index + 1][header.index(column)] = value
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)


async def test_rejected_rows_are_reported_written_beside_the_input_and_write_nothing(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 50, seed=7, quirks=False)
    with open_orders(order_list) as reader:
        ids = [r.platform_order_id for r in reader if isinstance(r, OrderRow)]
    _rewrite(
        order_list,
        {
            2: {"买家实际支付金额": "12.3.4"},
            5: {"订单状态": "已经飞走了"},
            9: {"订单创建时间": ""},
        },
    )
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.orders.rejected == 3
    assert result.orders.created == 47
    assert await _count(db, Order) == 47
    for refused in (ids[2], ids[5], ids[9]):
        async with db.session() as session:
            assert (
                await session.scalar(select(Order).where(Order.platform_order_id == refused))
            ) is None
    # The items of the refused orders are refused too, and nothing else is.
    assert result.items.rejected > 0
    assert result.items.created + result.items.rejected == result.items.read
    assert any("买家实际支付金额" in m and ":4:" in m for m in result.messages), result.messages

    rejects = {p.name: p for p in result.rejects}
    orders_rejects = rejects[order_list.stem + ".rejects.csv"]
    with orders_rejects.open(encoding="gb18030", newline="") as f:
        lines = list(csv.reader(f))
    header = [h.strip() for h in lines[0]]
    assert header[:5] == ORDER_HEADER_START
    assert len(lines) == 4
    line_numbers = sorted(int(r[header.index("行号")]) for r in lines[1:])
    assert line_numbers == [4, 7, 11]
    assert item_list.stem + ".rejects.csv" in rejects

    # Fixing the rows and importing again brings them in; the rest stays unchanged.
    fixed, fixed_items = write_sample_export(tmp_path / "fixed", 50, seed=7, quirks=False)
    after = await import_orders(db, shop.id, fixed, fixed_items)
    assert after.orders.created == 3 and after.orders.unchanged == 47
    assert after.items.rejected == 0


async def test_items_of_an_order_nobody_knows_are_rejected(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 20, seed=8)
    with item_list.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    rows.append(['="999999999999999999"', "幽灵窗帘", "10.00", "1", "", "", "", "", "", "X-1"])
    with item_list.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.items.rejected == 1
    assert any("999999999999999999" in m for m in result.messages)


async def test_the_same_order_twice_in_one_file_is_rejected_the_second_time(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, _items = write_sample_export(tmp_path, 10, seed=9, quirks=False)
    with order_list.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    rows.append(rows[3])
    with order_list.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)
    result = await import_orders(db, shop.id, order_list)
    assert result.orders.as_dict()["rejected"] == 1
    assert result.orders.created == 10
    assert "appears earlier" in result.messages[0]


async def test_an_item_list_given_as_the_order_list_is_refused_before_any_write(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    _orders, item_list = write_sample_export(tmp_path, 10, seed=10)
    with pytest.raises(ExportError):
        await import_orders(db, shop.id, item_list)
    assert await _count(db, Order) == 0


async def test_an_xlsx_order_list_and_a_utf8_bom_item_list_import(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(
        tmp_path, 60, seed=11, xlsx=True, encoding="utf-8-sig"
    )
    assert order_list.suffix == ".xlsx"
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.orders.created == 60 and result.orders.rejected == 0
    assert result.items.rejected == 0
    again = await import_orders(db, shop.id, order_list, item_list)
    assert again.orders.unchanged == 60


async def test_only_orders_still_in_motion_start_the_workflow(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    """Unpaid orders young enough get a reminder; last year's orders raise nothing."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    order_list, item_list = write_sample_export(tmp_path, 200, seed=12, start=start)
    with open_orders(order_list) as reader:
        rows = [r for r in reader if isinstance(r, OrderRow)]
    now = max(r.created_at for r in rows) + timedelta(minutes=1)
    young_unpaid = {
        r.platform_order_id
        for r in rows
        if r.status == TradeStatus.WAIT_BUYER_PAY and now - r.created_at < timedelta(hours=24)
    }
    await import_orders(db, shop.id, order_list, item_list, now=now)
    async with db.session() as session:
        subjects = set(
            await session.scalars(select(Timer.subject).where(Timer.kind == workflow.REMIND))
        )
        numbers = {
            oid: pid
            for oid, pid in await session.execute(select(Order.id, Order.platform_order_id))
        }
        reminded = {numbers[int(s.split(":")[1])] for s in subjects}
        all_timers = await session.scalar(select(func.count()).select_from(Timer))
    assert reminded == young_unpaid
    assert all_timers is not None and all_timers < 200


def test_the_row_fingerprint_changes_with_any_cell() -> None:
    cells = ["3362000000000000001", "买家甲", "", "129.00", "10.00"]
    base = row_digest(cells)
    assert row_digest(list(cells)) == base
    for i in range(len(cells)):
        changed = list(cells)
        changed[i] += "x"
        assert row_digest(changed) != base
    # Cells are separated, so moving text across a border changes the fingerprint.
    assert row_digest(["ab", "c"]) != row_digest(["a", "bc"])


async def test_a_cell_too_long_for_its_column_rejects_the_row(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 12, seed=15, quirks=False)
    _rewrite(order_list, {4: {"物流公司": "很长的物流公司名字" * 10}})
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.orders.rejected == 1 and result.orders.created == 11
    assert any("courier" in m and "at most 32" in m for m in result.messages), result.messages


def test_the_command_prints_the_counts_as_its_last_line(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """``xiaoer import orders`` against the test database, with its own shop."""
    order_list, item_list = write_sample_export(tmp_path, 30, seed=14)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return xiaoer(database_url, *args)

    made = run("shop", "add", "cli-import", "导入测试")
    assert made.returncode == 0, made.stderr
    first = run("import", "orders", str(order_list), "--items", str(item_list),
                "--shop", "cli-import")  # fmt: skip
    assert first.returncode == 0, first.stderr
    counts = json.loads(first.stdout.strip().splitlines()[-1])
    assert {k: counts[k] for k in ("read", "created", "updated", "unchanged", "rejected")} == {
        "read": 30, "created": 30, "updated": 0, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert "importing orders" in first.stderr  # the progress bar
    again = run("import", "orders", str(order_list), "--shop", "cli-import")
    assert json.loads(again.stdout.strip().splitlines()[-1])["unchanged"] == 30
    missing = run("import", "orders", str(tmp_path / "nope.csv"), "--shop", "cli-import")
    assert missing.returncode != 0 and "no such file" in missing.stderr


async def test_changed_items_replace_the_stored_ones(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 20, seed=16, quirks=False)
    first = await import_orders(db, shop.id, order_list, item_list)
    with item_list.open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    number = rows[1][header.index("订单编号")].strip('="')
    of_order = [r for r in rows[1:] if r[header.index("订单编号")].strip('="') == number]
    rows[1][header.index("标题")] = "换了个标题的窗帘"
    with item_list.open("w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows(rows)
    again = await import_orders(db, shop.id, order_list, item_list)
    assert again.items.updated == len(of_order)
    assert again.items.unchanged == first.items.read - len(of_order)
    async with db.session() as session:
        titles = list(
            await session.scalars(
                select(OrderItem.title)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.platform_order_id == number)
            )
        )
    assert "换了个标题的窗帘" in titles and len(titles) == len(of_order)
    assert await _count(db, OrderItem) == first.items.read


async def test_a_large_import_leaves_the_planner_statistics_of_what_it_wrote(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    """PostgreSQL: while the tables grow, the import's look-up columns are analysed (the
    planner would otherwise take a million orders for none); once the order list is in,
    every column of the orders and buyers."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite keeps no statistics of its own")
    from sqlalchemy import text

    order_list, item_list = write_sample_export(tmp_path, 5000, seed=5, quirks=False)
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.orders.created == 5000
    async with db.session() as session:
        analysed = {
            (table, column)
            for table, column in await session.execute(
                text(
                    "SELECT tablename, attname FROM pg_stats WHERE schemaname = 'public'"
                    " AND tablename IN ('order', 'customer', 'order_item')"
                )
            )
        }
        sizes = dict(
            (await session.execute(text(
                "SELECT relname, reltuples FROM pg_class"
                " WHERE relname IN ('order', 'customer', 'order_item')"
            ))).all()
        )  # fmt: skip
    looked_up = {
        ("order", "shop_id"), ("order", "platform_order_id"), ("customer", "buyer_id"),
        ("order_item", "order_id"),
    }  # fmt: skip
    assert looked_up <= analysed
    assert {("order", "status"), ("order", "created_at"), ("customer", "nick")} <= analysed
    assert sizes["order"] >= 5000 and sizes["order_item"] >= 2 * 2000


async def test_ids_taken_for_a_copy_are_new_and_the_sequence_moves_past_them(
    db: Database, shop: Shop
) -> None:
    """PostgreSQL: the ids an import takes before its COPY are the sequence's own, so a
    row written afterwards, by default, gets none of them."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite gives the ids as the rows are written")
    from xiaoer.buyers.service import do_get_or_create_customer
    from xiaoer.sellercentre.ingest import take_ids

    async with db.session() as session:
        first = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="taobao", buyer_id="before"
        )
        taken = await take_ids(session, "customer", 2500)
        after = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="taobao", buyer_id="after"
        )
        await session.commit()
    assert len(set(taken)) == 2500
    assert first.id < min(taken) and max(taken) < after.id
