"""An export parsed in a process of its own imports exactly as one parsed in a thread of
the import: the same orders and items, counts, messages and rejects files."""

from __future__ import annotations

import csv
import itertools
import os
import re
import shutil
from collections.abc import Iterator
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest
from benchmarks.aftersales_exports import REFUND_HEADER, write_report
from benchmarks.order_exports import write_sample_export
from sqlalchemy import select

import tests.aftersales.test_refund_import as refunds
from tests.sellercentre.test_import import _rewrite
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_import import import_refunds
from xiaoer.core.db import Database
from xiaoer.orders.models import Order, OrderItem
from xiaoer.sellercentre import parsing
from xiaoer.sellercentre.exports import ExportError, ExportReader
from xiaoer.sellercentre.ingest import ImportResult, import_orders
from xiaoer.sellercentre.parsing import Opening, open_source
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

_GB = "gb18030"


def _append(path: Path, rows: list[list[str]]) -> None:
    with path.open("a", encoding=_GB, newline="") as f:
        csv.writer(f).writerows(rows)


def _data_rows(path: Path) -> list[list[str]]:
    """The rows after the header (0 = the first)."""
    with path.open(encoding=_GB, newline="") as f:
        return list(csv.reader(f))[1:]


def _flawed_export(folder: Path) -> tuple[Path, Path]:
    """An export with every kind of rejected row: a bad amount, an unknown status, an
    empty time, a cell too long, an order twice, the items of a refused order and of an
    order nobody knows."""
    order_list, item_list = write_sample_export(folder, 400, seed=21)
    _rewrite(
        order_list,
        {
            2: {"买家实际支付金额": "12.3.4"},
            5: {"订单状态": "已经飞走了"},
            9: {"订单创建时间": ""},
            14: {"收货人姓名": "名" * 300},
        },
    )
    rows = _data_rows(order_list)
    _append(order_list, [rows[30], rows[31]])
    ghost = ['="999999999999999999"', "幽灵窗帘", "10.00", "1", "", "", "", "", "", "X-1"]
    _append(item_list, [ghost])
    return order_list, item_list


async def _stored(db: Database, shop_id: int) -> dict[str, Any]:
    """Every order of the shop as imported, with its items, by order number."""
    async with db.session() as session:
        orders = list(await session.scalars(select(Order).where(Order.shop_id == shop_id)))
        items = list(
            await session.execute(
                select(OrderItem.order_id, OrderItem.title, OrderItem.price_fen,
                       OrderItem.quantity, OrderItem.sku_text, OrderItem.sku_code)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.shop_id == shop_id)
                .order_by(OrderItem.id)
            )
        )  # fmt: skip
    by_id: dict[int, list[tuple[Any, ...]]] = {}
    for order_id, *rest in items:
        by_id.setdefault(order_id, []).append(tuple(rest))
    columns = [c.key for c in Order.__table__.columns if c.key not in ("id", "shop_id",
               "customer_id", "updated_at")]  # fmt: skip
    return {
        order.platform_order_id: (
            {name: getattr(order, name) for name in columns}, by_id.get(order.id, [])
        )
        for order in orders
    }


def _rejects(result: ImportResult, into: Path) -> list[list[list[str]]]:
    """The rejects files' rows (moved into ``into``: the next import writes its own)."""
    into.mkdir()
    files = []
    for path in result.rejects:
        with path.open(encoding=_GB, newline="") as f:
            files.append(list(csv.reader(f)))
        shutil.move(path, into / path.name)
    return files


async def _second_shop(db: Database) -> Shop:
    async with db.session() as session:
        shop = await do_create_shop(session, code="apart", name="另一家店")
        await session.commit()
        return shop


async def test_parsed_apart_or_in_a_thread_an_import_is_the_same(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = _flawed_export(tmp_path / "export")
    other = await _second_shop(db)
    results: dict[bool, ImportResult] = {}
    rejects: dict[bool, list[list[list[str]]]] = {}
    for target, apart in ((shop, False), (other, True)):
        result = await import_orders(db, target.id, order_list, item_list, apart=apart)
        results[apart] = result
        rejects[apart] = _rejects(result, tmp_path / f"rejects-{apart}")
    thread, process = results[False], results[True]
    assert thread.summary() == process.summary()
    assert thread.orders.rejected == 6  # four flawed rows, two repeated
    assert thread.items.rejected > 1  # the refused orders' items and the stranger's one
    assert thread.messages == process.messages
    assert thread.reasons == process.reasons
    assert rejects[False] == rejects[True] and len(rejects[True]) == 2
    assert set(process.parsing) == {order_list.name, item_list.name}
    assert thread.parsing == {}
    # Every order and item alike, down to the fingerprint of the row.
    assert await _stored(db, shop.id) == await _stored(db, other.id)
    # Again, apart: nothing changes, and the rejects are the same.
    again = await import_orders(db, other.id, order_list, item_list, apart=True)
    assert again.orders.unchanged == thread.orders.created
    assert again.orders.rejected == thread.orders.rejected
    assert again.items.unchanged == thread.items.created
    assert again.reasons == thread.reasons


async def test_a_file_broken_late_fails_with_its_line_either_way(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 300, seed=22, quirks=False)
    with order_list.open(encoding=_GB, newline="") as f:
        records = csv.reader(f)
        for _cells in records:
            pass
        last = records.line_num
    with order_list.open("ab") as f:
        f.write(b'="1234","\xff\xff\xff\n')  # no GB18030 text, on the line after the last
    told = []
    for apart in (False, True):
        with pytest.raises(ExportError) as raised:
            await import_orders(db, shop.id, order_list, item_list, apart=apart)
        told.append(str(raised.value))
        _no_parsing_processes_left()
    # The text is decoded a block ahead of the rows: the line told is where the block
    # that cannot be decoded begins, late in the file, the same either way.
    assert told[0] == told[1]
    found = re.fullmatch(r"line (\d+): the file is not valid gb18030 text from there on", told[0])
    assert found is not None and last // 2 < int(found[1]) <= last + 1


async def test_an_import_that_fails_leaves_no_parsing_process(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    order_list, _items = write_sample_export(tmp_path, 50, seed=23)
    # The item list is opened and read beside the order list, then refused: neither
    # process is left behind, and nothing is written.
    with pytest.raises(ExportError, match="order list"):
        await import_orders(db, shop.id, order_list, order_list, apart=True)
    _no_parsing_processes_left()
    async with db.session() as session:
        assert list(await session.scalars(select(Order.id))) == []


def _no_parsing_processes_left() -> None:
    """The fork server's children (the parsing processes) have all ended."""
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    if server is None:
        return
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == server and fields[0] != "Z":
            children.append(int(entry))
    assert children == []


def _dies(reader: ExportReader, apart: bool) -> Iterator[Any]:
    """Entries that end their process after ten rows, as a crash would."""
    yield from itertools.islice(reader.records(), 10)
    os._exit(3)


async def test_a_parsing_process_that_dies_fails_the_import_with_a_clear_error(
    tmp_path: Path,
) -> None:
    order_list, _items = write_sample_export(tmp_path, 50, seed=24)
    got: list[Any] = []
    with pytest.raises(ExportError, match=r"the process reading .+ stopped \(exit code 3\)"):
        async with open_source(Opening(order_list, "orders"), _dies, 4, apart=True) as source:
            async for batch in source.chunks():
                got += batch
    assert len(got) == 8  # the chunks sent before it died
    _no_parsing_processes_left()


async def _paid_orders(db: Database, shop: Shop, folder: Path) -> list[Order]:
    order_list, item_list = write_sample_export(folder, 12, seed=5, quirks=False)
    await import_orders(db, shop.id, order_list, item_list, now=refunds.NOW)
    async with db.session() as session:
        return list(
            await session.scalars(
                select(Order)
                .where(Order.shop_id == shop.id, Order.paid_fen > 100)
                .order_by(Order.platform_order_id)
            )
        )


async def test_a_report_parsed_apart_imports_as_one_parsed_in_a_thread(
    db: Database, shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await _second_shop(db)
    seen: dict[bool, tuple[Any, ...]] = {}
    for target, apart in ((shop, False), (other, True)):
        folder = tmp_path / f"apart-{apart}"
        monkeypatch.setattr(parsing, "APART_BYTES", 0 if apart else 1 << 40)
        orders = await _paid_orders(db, target, folder / "orders")
        first = write_report(folder / "first.csv", REFUND_HEADER, [refunds._refund(orders[0], 1)])
        await import_refunds(db, target.id, first, now=refunds.NOW)
        rows = [
            refunds._refund(orders[0], 1),  # as before
            refunds._refund(orders[1], 2, 是否需要退货="是"),  # new
            refunds._refund(orders[3], 4, 退款状态="退款进行中"),  # no such status
            {**refunds._refund(orders[4], 5), "订单编号": "999999999999999999"},  # no order
            refunds._refund(orders[6], 7, 退款完结时间="2024-03-19 10:00:00"),  # ends first
            refunds._refund(orders[8], 2),  # the same refund again
        ]
        report = write_report(folder / "mixed.csv", REFUND_HEADER, rows)
        result = await import_refunds(db, target.id, report, now=refunds.NOW)
        async with db.session() as session:
            stored = sorted(
                (r.platform_refund_id, r.kind, r.status, r.goods, r.amount_fen, r.applied_at)
                for r in await session.scalars(select(Refund).where(Refund.shop_id == target.id))
            )
        seen[apart] = (
            result.summary(),
            [(line, str(why)) for line, why in result.rejected_rows],
            [path.read_text("gb18030") for path in result.rejects],
            stored,
        )
    assert seen[False] == seen[True]
    summary, rejected, files, stored = seen[True]
    assert summary["rejected"] == 4 and [line for line, _why in rejected] == [4, 5, 6, 7]
    assert len(files) == 1 and len(stored) == 2
