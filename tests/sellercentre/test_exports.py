"""Reading seller-centre order exports: encodings, quirks, line numbers, rejections,
whole-file errors, the rejects file, and round trips through the sample generator."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from benchmarks.order_exports import (
    ITEM_LIST_HEADER,
    ORDER_LIST_HEADER,
    rewrite_with_changes,
    write_sample_export,
)
from openpyxl import Workbook

from xiaoer.core.sheets import safe_cell
from xiaoer.orders.models import TradeStatus
from xiaoer.sellercentre.exports import (
    SNIFF_BYTES,
    ExportError,
    ItemRow,
    OrderRow,
    Rejected,
    open_items,
    open_orders,
    write_rejects,
)

pytestmark = pytest.mark.database_free

ORDER_HEADER = list(ORDER_LIST_HEADER)
ITEM_HEADER = list(ITEM_LIST_HEADER)
TEXT_ENCODINGS = ["gb18030", "utf-8-sig", "utf-8"]


def order(**cells: str) -> dict[str, str]:
    """A valid order-list row by stripped column name, with ``cells`` changed."""
    row = {
        "订单编号": '="3362512345678901234"',
        "买家会员名": "tb1234567890",
        "买家应付货款": "89.00",
        "买家应付邮费": "10.00",
        "总金额": "99.00",
        "买家实际支付金额": "99.00",
        "订单状态": "买家已付款，等待卖家发货",
        "买家留言": "",
        "收货人姓名": "王芳",
        "收货地址": "浙江省 杭州市 西湖区 文三路478号(310012)",
        "运送方式": "快递",
        "联系手机": "'13800138000",
        "订单创建时间": "2024-03-05 12:34:56",
        "订单付款时间": "2024-03-05 12:40:00",
        "宝贝总数量": "1",
        "退款金额": "0.00",
    }
    row.update(cells)
    return row


def cells_for(header: Sequence[str], row: dict[str, str]) -> list[str]:
    """The row's cells in header order (names matched without surrounding spaces)."""
    return [row.get(name.strip(), "") for name in header]


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line the way the seller centre writes it: ``="…"`` bare, others quoted
    only when they must be."""
    out = []
    for cell in cells:
        bare = cell.startswith('="') and "," not in cell and "\n" not in cell
        if not bare and any(mark in cell for mark in ',"\n\r'):
            cell = '"' + cell.replace('"', '""') + '"'
        out.append(cell)
    return ",".join(out) + "\r\n"


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str] | str],
    encoding: str = "gb18030",
) -> Path:
    """A CSV file; a ``str`` row is written as a raw line (for blank or broken lines)."""
    text = csv_line(header) + "".join(r if isinstance(r, str) else csv_line(r) for r in rows)
    path.write_bytes(text.encode(encoding))
    return path


def write_orders(tmp_path: Path, rows: Sequence[dict[str, str]], **kwargs: Any) -> Path:
    path = tmp_path / "ExportOrderList202403310000.csv"
    return write_csv(path, ORDER_HEADER, [cells_for(ORDER_HEADER, r) for r in rows], **kwargs)


def read_all(path: Path, items: bool = False, **kwargs: Any) -> list[Any]:
    with (open_items if items else open_orders)(path, **kwargs) as reader:
        return list(reader)


def only_order(rows: list[Any]) -> OrderRow:
    assert len(rows) == 1
    assert isinstance(rows[0], OrderRow), rows[0]
    return rows[0]


def only_rejected(rows: list[Any]) -> Rejected:
    assert len(rows) == 1
    assert isinstance(rows[0], Rejected), rows[0]
    return rows[0]


# --- encodings ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", TEXT_ENCODINGS)
def test_each_text_encoding_is_recognised_and_read(tmp_path: Path, encoding: str) -> None:
    path = write_orders(tmp_path, [order(买家留言="请尽快发货，谢谢")], encoding=encoding)
    with open_orders(path) as reader:
        assert reader.encoding == encoding
        assert reader.kind == "orders"
        assert reader.header == ORDER_HEADER
        rows: list[Any] = list(reader)
    row = only_order(rows)
    assert row.line == 2
    assert row.platform_order_id == "3362512345678901234"
    assert row.buyer_nick == "tb1234567890"
    assert row.status is TradeStatus.WAIT_SELLER_SEND_GOODS
    assert (row.goods_fen, row.postage_fen, row.total_fen, row.paid_fen) == (8900, 1000, 9900, 9900)
    assert row.refunded_fen == 0
    assert row.receiver_name == "王芳"
    assert row.receiver_phone == "13800138000"
    assert row.receiver_address == "浙江省 杭州市 西湖区 文三路478号(310012)"
    assert row.buyer_message == "请尽快发货，谢谢"
    assert row.item_count == 1
    assert row.cash_on_delivery is False
    assert row.created_at == datetime(2024, 3, 5, 4, 34, 56, tzinfo=UTC)
    assert row.created_at.utcoffset() is not None
    assert row.paid_at == datetime(2024, 3, 5, 4, 40, tzinfo=UTC)
    assert row.shipped_at is None and row.finished_at is None
    assert row.cells == cells_for(ORDER_HEADER, order(买家留言="请尽快发货，谢谢"))


def test_utf8_character_cut_at_the_sniff_boundary_is_still_utf8(tmp_path: Path) -> None:
    line = csv_line(cells_for(ORDER_HEADER, order())).encode()
    body = csv_line(ORDER_HEADER).encode()
    while len(body) + 2 * len(line) < SNIFF_BYTES:
        body += line
    # The last row's message is padded so that its 留 (three bytes in UTF-8) starts one
    # byte before the end of the sniffed part.
    cells = cells_for(ORDER_HEADER, order())
    at = ORDER_HEADER.index("买家留言")
    lead = len(",".join(cells[:at]).encode()) + 1
    cells[at] = "a" * (SNIFF_BYTES - 1 - len(body) - lead) + "留言"
    body += csv_line(cells).encode()
    assert body[SNIFF_BYTES - 1 : SNIFF_BYTES + 2] == "留".encode()
    path = tmp_path / "orders.csv"
    path.write_bytes(body)
    with open_orders(path) as reader:
        assert reader.encoding == "utf-8"
        rows: list[Any] = list(reader)
    assert all(isinstance(r, OrderRow) for r in rows)
    assert rows[-1].buyer_message.endswith("a留言")


def test_gbk_text_after_a_utf8_looking_start_is_a_whole_file_error(tmp_path: Path) -> None:
    # An ASCII-only header and 64 KiB of ASCII rows look like UTF-8; GBK comes later.
    header = ["订单编号", "订单状态", "订单创建时间", "收货人姓名"]
    ascii_rows = [["1", "TRADE_FINISHED", "2024-03-05 12:34:56", "Li"]] * 4000
    path = tmp_path / "late.csv"
    text = csv_line(header).encode("utf-8") + b"".join(csv_line(r).encode() for r in ascii_rows)
    text += csv_line(["2", "TRADE_FINISHED", "2024-03-05 12:34:56", "王芳"]).encode("gbk")
    assert len(text) > SNIFF_BYTES
    path.write_bytes(text)
    with open_orders(path) as reader, pytest.raises(ExportError, match="not valid utf-8"):
        list(reader)


def test_xlsx_is_read_with_sheet_row_numbers_and_typed_cells(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(ORDER_HEADER)
    first = cells_for(ORDER_HEADER, order(订单编号="3362512345678901234"))
    sheet.append(first)
    sheet.append([])  # an empty sheet row: skipped, but it still counts
    typed: list[Any] = cells_for(ORDER_HEADER, order())
    typed[ORDER_HEADER.index("订单编号")] = 336251234567890  # an int id is fine
    typed[ORDER_HEADER.index("买家应付货款")] = 89.5
    typed[ORDER_HEADER.index("总金额")] = 99  # an int amount
    typed[ORDER_HEADER.index("订单创建时间")] = datetime(2024, 3, 5, 12, 34, 56)
    typed[ORDER_HEADER.index("联系手机")] = 13800138000
    typed[ORDER_HEADER.index("宝贝总数量")] = 2
    sheet.append(typed)
    path = tmp_path / "ExportOrderList202403310000.xlsx"
    book.save(path)
    with open_orders(path) as reader:
        assert reader.encoding == "xlsx"
        assert reader.header == ORDER_HEADER
        rows: list[Any] = list(reader)
        assert reader.bytes_read == reader.bytes_total
    assert [r.line for r in rows] == [2, 4]
    assert all(isinstance(r, OrderRow) for r in rows)
    second = rows[1]
    assert isinstance(second, OrderRow)
    assert second.platform_order_id == "336251234567890"
    assert second.goods_fen == 8950
    assert second.total_fen == 9900
    assert second.created_at == datetime(2024, 3, 5, 4, 34, 56, tzinfo=UTC)
    assert second.receiver_phone == "13800138000"
    assert second.item_count == 2


def test_xlsx_float_order_number_is_rejected(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(ORDER_HEADER)
    row: list[Any] = cells_for(ORDER_HEADER, order())
    row[0] = 3.362512345678901e18
    sheet.append(row)
    path = tmp_path / "orders.xlsx"
    book.save(path)
    rejected = only_rejected(read_all(path))
    assert rejected.line == 2
    assert "订单编号" in rejected.reason and "floating-point" in rejected.reason


def test_xlsx_detected_by_zip_magic_even_with_csv_name(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(ORDER_HEADER)
    # openpyxl writes ="…" as a formula without a value: keep the number as plain text.
    sheet.append(cells_for(ORDER_HEADER, order(订单编号="3362512345678901234")))
    path = tmp_path / "orders.csv"
    book.save(path)
    with open_orders(path) as reader:
        assert reader.encoding == "xlsx"
        assert isinstance(only_order(list(reader)), OrderRow)


# --- quirks ------------------------------------------------------------------


def test_cell_quirks_are_undone(tmp_path: Path) -> None:
    rows = [
        order(),
        order(
            订单编号=" 3362512345678901235 ",
            买家应付货款="89.00元",
            买家应付邮费="¥10",
            总金额="￥1,099.5",
            买家实际支付金额=" 0.5 ",
            联系手机="",
            订单状态="TRADE_FINISHED",
            订单创建时间="2024/3/5 9:05",
            订单付款时间="2024/3/5 9:06:07",
            确认收货时间=" 2024-03-12 10:00:00 ",
        ),
    ]
    header = ORDER_HEADER
    lines = [cells_for(header, r) for r in rows]
    lines[1][header.index("联系电话 ")] = "'0571-88886666"
    path = write_csv(tmp_path / "orders.csv", header, lines)
    first, second = read_all(path)
    assert isinstance(first, OrderRow) and isinstance(second, OrderRow)
    assert first.platform_order_id == "3362512345678901234"
    assert first.receiver_phone == "13800138000"
    assert second.platform_order_id == "3362512345678901235"
    assert (second.goods_fen, second.postage_fen, second.total_fen) == (8900, 1000, 109950)
    assert second.paid_fen == 50
    assert second.receiver_phone == "0571-88886666"  # 联系电话 when there is no mobile
    assert second.status is TradeStatus.TRADE_FINISHED
    assert second.created_at == datetime(2024, 3, 5, 1, 5, tzinfo=UTC)
    assert second.paid_at == datetime(2024, 3, 5, 1, 6, 7, tzinfo=UTC)
    assert second.finished_at == datetime(2024, 3, 12, 2, 0, tzinfo=UTC)


def test_status_texts_and_cash_on_delivery(tmp_path: Path) -> None:
    rows = [
        order(订单状态="买家已签收"),
        order(订单状态="卖家已发货，等待买家确认收货并付款"),
        order(订单状态="买家已付款,等待卖家发货"),  # ASCII comma from a re-save
        order(订单状态="等待买家付款", 运送方式="货到付款"),
        order(订单状态="交易被淘宝关闭", 订单关闭原因="买家未付款"),
    ]
    parsed = read_all(write_orders(tmp_path, rows))
    assert all(isinstance(r, OrderRow) for r in parsed)
    assert [r.status for r in parsed] == [
        TradeStatus.TRADE_BUYER_SIGNED,
        TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        TradeStatus.WAIT_SELLER_SEND_GOODS,
        TradeStatus.WAIT_BUYER_PAY,
        TradeStatus.TRADE_CLOSED_BY_TAOBAO,
    ]
    assert [r.cash_on_delivery for r in parsed] == [True, True, False, True, False]
    assert parsed[4].close_reason == "买家未付款"


def test_multiline_cells_keep_physical_line_numbers(tmp_path: Path) -> None:
    rows: list[Sequence[str] | str] = [
        cells_for(ORDER_HEADER, order(订单编号="1", 买家留言="麻烦发顺丰\n到了先打电话")),
        cells_for(ORDER_HEADER, order(订单编号="2")),
        "\r\n",  # a blank line is skipped, not rejected
        cells_for(ORDER_HEADER, order(订单编号="3", 买家留言="第一行\r\n第二行\r\n第三行")),
        cells_for(ORDER_HEADER, order(订单编号="4", 订单状态="发货中")),
        cells_for(ORDER_HEADER, order(订单编号="5")),
    ]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    parsed = read_all(path)
    assert [(r.line, type(r).__name__) for r in parsed] == [
        (2, "OrderRow"),
        (4, "OrderRow"),
        (6, "OrderRow"),
        (9, "Rejected"),
        (10, "OrderRow"),
    ]
    assert parsed[0].buyer_message == "麻烦发顺丰\n到了先打电话"
    assert parsed[2].buyer_message == "第一行\r\n第二行\r\n第三行"


# --- rejections ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"订单编号": '="33625a"'}, '订单编号 "="33625a"" is not an order number (digits only)'),
        ({"订单编号": "3.36251E+18"}, "is not an order number"),
        ({"订单编号": "1" * 33}, "is longer than 32 digits"),
        ({"订单编号": ""}, "订单编号 is empty"),
        ({"买家实际支付金额": "12.3.4"}, '买家实际支付金额 "12.3.4" is not an amount of money'),
        ({"买家应付货款": "-5.00"}, '买家应付货款 "-5.00" is negative'),
        ({"总金额": "1.234"}, '总金额 "1.234" has more than two decimal places'),
        ({"总金额": "1,23.00"}, '总金额 "1,23.00" is not an amount of money'),
        ({"退款金额": "约10元"}, '退款金额 "约10元" is not an amount of money'),
        ({"买家应付邮费": "99999999.00"}, '买家应付邮费 "99999999.00" is too large'),
        (
            {"订单创建时间": "2024-13-01 00:00:00"},
            '订单创建时间 "2024-13-01 00:00:00" is not a time',
        ),
        ({"订单付款时间": "昨天"}, '订单付款时间 "昨天" is not a time'),
        ({"订单创建时间": ""}, "订单创建时间 is empty"),
        ({"订单状态": "发货中"}, '订单状态 "发货中" is not a known trade status'),
        ({"订单状态": ""}, "订单状态 is empty"),
        ({"宝贝总数量": "1.5"}, '宝贝总数量 "1.5" is not a whole number'),
    ],
)
def test_bad_cells_are_rejected_with_the_column_named(
    tmp_path: Path, cells: dict[str, str], reason: str
) -> None:
    path = write_orders(tmp_path, [order(**cells), order(订单编号="42")])
    bad, good = read_all(path)
    assert isinstance(bad, Rejected)
    assert reason in bad.reason
    assert bad.line == 2
    assert bad.cells == cells_for(ORDER_HEADER, order(**cells))
    assert isinstance(good, OrderRow) and good.line == 3


def test_rejected_row_keeps_a_readable_order_number(tmp_path: Path) -> None:
    rows = [order(买家实际支付金额="abc"), order(订单编号="x1", 订单状态="?")]
    first, second = read_all(write_orders(tmp_path, rows))
    assert isinstance(first, Rejected) and first.platform_order_id == "3362512345678901234"
    assert isinstance(second, Rejected) and second.platform_order_id == ""


def test_row_length_rules(tmp_path: Path) -> None:
    full = cells_for(ORDER_HEADER, order(订单编号="1"))
    created_at = ORDER_HEADER.index("订单创建时间")
    rows: list[Sequence[str] | str] = [
        [*cells_for(ORDER_HEADER, order(订单编号="2")), "surplus"],  # long: rejected
        [*cells_for(ORDER_HEADER, order(订单编号="3")), "", " "],  # empty surplus: fine
        full[: created_at + 1],  # short, but only optional columns missing: padded
        full[:created_at],  # short, a required column missing: rejected
        full,
        full[:5],  # short of every required column after the first
    ]
    parsed = read_all(write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
    kinds = [(r.line, type(r).__name__) for r in parsed]
    assert kinds == [
        (2, "Rejected"),
        (3, "OrderRow"),
        (4, "OrderRow"),
        (5, "Rejected"),
        (6, "OrderRow"),
        (7, "Rejected"),
    ]
    assert parsed[5].reason == "the row has 5 cells but the header has 54; 订单状态 is missing"
    assert parsed[0].reason == f"the row has {len(ORDER_HEADER) + 1} cells but the header has 54"
    assert parsed[0].cells[-1] == "surplus"
    assert parsed[3].reason.endswith("订单创建时间 is missing")
    assert parsed[3].cells == full[:created_at]
    padded = parsed[2]
    assert isinstance(padded, OrderRow) and padded.paid_at is None and padded.refunded_fen == 0


# --- header -------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["订单编号", "订单状态", "订单创建时间"])
def test_missing_required_order_column_is_named(tmp_path: Path, missing: str) -> None:
    header = [name for name in ORDER_HEADER if name.strip() != missing]
    path = write_csv(tmp_path / "orders.csv", header, [cells_for(header, order())])
    with pytest.raises(ExportError, match=missing):
        open_orders(path)


def test_missing_required_item_column_is_named(tmp_path: Path) -> None:
    header = [name for name in ITEM_HEADER if name != "价格"]
    path = write_csv(tmp_path / "items.csv", header, [])
    with pytest.raises(ExportError, match="价格"):
        open_items(path)


def test_item_list_given_as_orders_and_back(tmp_path: Path) -> None:
    items = write_csv(tmp_path / "ExportOrderDetailList1.csv", ITEM_HEADER, [])
    with pytest.raises(ExportError, match="item list"):
        open_orders(items)
    orders = write_orders(tmp_path, [order()])
    with pytest.raises(ExportError, match="order list"):
        open_items(orders)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        (b"\xff\xfe" + "订单编号".encode("utf-16-le"), "UTF-16"),
        (b"PK\x03\x04 not really a zip", "xlsx"),
        ("退款编号,订单编号\r\n".encode("gbk"), "refund report"),
        ("名称,数量\r\n".encode("gbk"), "missing columns 订单编号, 订单状态, 订单创建时间"),
    ],
)
def test_whole_file_problems(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    with pytest.raises(ExportError, match=message.replace(".", r"\.")):
        open_orders(path)


def test_unreadable_path_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot read"):
        open_orders(tmp_path / "nope.csv")


def test_extra_and_missing_optional_columns(tmp_path: Path) -> None:
    # An old 28-column export plus the newer Tmall columns and one nobody knows.
    header = [*ORDER_HEADER[:28], "发货时间", "商家备忘", "  新字段  "]
    rows = [
        order(发货时间="2024-03-06 08:00:00", 商家备忘="加急", 订单备注="旧备注"),
        order(订单编号="2", 订单备注="旧备注"),
    ]
    path = write_csv(tmp_path / "orders.csv", header, [cells_for(header, r) for r in rows])
    first, second = read_all(path)
    assert isinstance(first, OrderRow) and isinstance(second, OrderRow)
    assert first.shipped_at == datetime(2024, 3, 6, 0, 0, tzinfo=UTC)
    assert first.seller_memo == "加急"
    assert second.seller_memo == "旧备注"  # 商家备忘 empty: 订单备注 instead
    assert first.refunded_fen == 0 and first.finished_at is None  # columns not in the file
    # Only the required columns, in another order.
    minimal = ["订单创建时间", "订单状态", "订单编号"]
    path = write_csv(tmp_path / "minimal.csv", minimal, [cells_for(minimal, order())])
    row = only_order(read_all(path))
    assert row.buyer_nick == "" and row.total_fen == 0 and row.item_count == 0


# --- times ----------------------------------------------------------------------


def test_times_before_1992_use_the_zone_database(tmp_path: Path) -> None:
    # China kept daylight saving time until 1991: July 1988 was UTC+9.
    path = write_orders(tmp_path, [order(订单创建时间="1988-07-01 12:00:00")])
    assert only_order(read_all(path)).created_at == datetime(1988, 7, 1, 3, 0, tzinfo=UTC)


def test_other_shop_zone(tmp_path: Path) -> None:
    path = write_orders(tmp_path, [order(订单创建时间="2024-07-01 12:00:00")])
    row = only_order(read_all(path, zone="Europe/Berlin"))
    assert row.created_at == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ExportError, match="time zone"):
        open_orders(path, zone="Mars/Olympus")


# The seller centre's order list has no shipping-time column; the reader takes it
# when another export adds it.
@pytest.mark.parametrize("column", ["订单创建时间", "订单付款时间", "发货时间", "确认收货时间"])
def test_a_time_more_than_a_day_ahead_is_rejected_with_its_line(
    tmp_path: Path, column: str
) -> None:
    now = datetime(2024, 3, 31, tzinfo=UTC)
    header = [*ORDER_HEADER, "发货时间"]
    rows = [order(), order(**{"订单编号": "42", column: "9999-12-31 00:00:00"})]
    path = write_csv(tmp_path / "orders.csv", header, [cells_for(header, r) for r in rows])
    good, bad = read_all(path, now=now)
    assert isinstance(good, OrderRow)
    assert isinstance(bad, Rejected) and bad.line == 3
    assert bad.reason == f"{column} 9999-12-31 00:00:00 is more than a day in the future"


def test_a_time_within_a_day_ahead_is_kept(tmp_path: Path) -> None:
    # 2024-04-01 07:59 in Shanghai is 23:59 UTC on 03-31: within a day of ``now``.
    now = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
    soon = order(订单创建时间="2024-04-01 07:59:00", 订单付款时间="2024-04-01 07:59:30")
    late = order(订单编号="42", 订单创建时间="2024-04-01 08:00:01")
    kept, refused = read_all(write_orders(tmp_path, [soon, late]), now=now)
    assert isinstance(kept, OrderRow) and kept.created_at == datetime(
        2024, 3, 31, 23, 59, tzinfo=UTC
    )
    assert isinstance(refused, Rejected) and "more than a day in the future" in refused.reason


# --- items ---------------------------------------------------------------------


def test_item_rows(tmp_path: Path) -> None:
    base = {
        "订单编号": '="3362512345678901234"',
        "标题": "北欧简约全遮光窗帘",
        "价格": "89.00",
        "购买数量": "2",
        "外部系统编号": "CL2027",
        "商品属性": "颜色分类：米白;尺码：2米宽*2.7米高",
        "订单状态": "交易成功",
        "商家编码": "CL2027-0102",
        "备注": "",
    }
    rows = [
        base,
        {**base, "价格": "29.9元", "商家编码": "", "购买数量": " 1 "},
        {**base, "购买数量": "0"},
        {**base, "标题": " "},
        {**base, "价格": ""},
        {**base, "价格": "1.999"},
    ]
    path = write_csv(tmp_path / "items.csv", ITEM_HEADER, [cells_for(ITEM_HEADER, r) for r in rows])
    with open_items(path) as reader:
        assert reader.kind == "items"
        parsed: list[Any] = list(reader)
    first, second, *bad = parsed
    assert isinstance(first, ItemRow) and isinstance(second, ItemRow)
    assert (first.platform_order_id, first.price_fen, first.quantity) == (
        "3362512345678901234",
        8900,
        2,
    )
    assert first.sku_text == "颜色分类：米白;尺码：2米宽*2.7米高"
    assert first.sku_code == "CL2027-0102"
    assert (second.price_fen, second.quantity, second.sku_code) == (2990, 1, "CL2027")
    assert all(isinstance(r, Rejected) for r in bad)
    assert [r.reason for r in bad] == [
        '购买数量 "0" is not a positive number',
        "标题 is empty",
        "价格 is empty",
        '价格 "1.999" has more than two decimal places',
    ]
    assert [r.line for r in bad] == [4, 5, 6, 7]


# --- rejects file --------------------------------------------------------------


@pytest.mark.parametrize("encoding", [*TEXT_ENCODINGS, "xlsx"])
def test_rejects_file_keeps_cells_line_and_reason(tmp_path: Path, encoding: str) -> None:
    rows = [order(), order(订单编号='="3362512345678901299"', 买家实际支付金额="12.3.4")]
    if encoding == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(ORDER_HEADER)
        for row in rows:
            cells = cells_for(ORDER_HEADER, row)
            cells[0] = cells[0].strip('="')  # a workbook holds the number as text
            sheet.append(cells)
        path = tmp_path / "ExportOrderList202403310000.xlsx"
        book.save(path)
    else:
        path = write_orders(tmp_path, rows, encoding=encoding)
    with open_orders(path) as reader:
        rejected = [r for r in reader if isinstance(r, Rejected)]
        target = write_rejects(path, reader.header, rejected, reader.encoding)
    assert target == path.with_name(f"{path.stem}.rejects.csv")
    expected = "utf-8-sig" if encoding == "xlsx" else encoding
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (expected == "utf-8-sig")
    lines = list(csv.reader(raw.decode(expected).splitlines()))
    assert lines[0] == [*ORDER_HEADER, "行号", "原因"]
    assert len(lines) == 2
    written = lines[1]
    assert written[-2] == "3"
    assert written[-1] == '买家实际支付金额 "12.3.4" is not an amount of money'
    # Cells as found, but safe to open: the spreadsheet-text id is quoted, as is any
    # cell a spreadsheet would run; reading the file back takes the quotes off.
    assert written[:-2] == [safe_cell(cell) for cell in rejected[0].cells]
    if encoding != "xlsx":
        assert written[0] == '\'="3362512345678901299"'
    with open_orders(target) as again:
        read_back = [cells for _line, cells in again.records()]
    assert read_back == [[*rejected[0].cells, "3", written[-1]]]


def test_rejects_file_pads_short_rows(tmp_path: Path) -> None:
    header = ["订单编号", "订单状态", "订单创建时间", "买家留言"]
    path = write_csv(tmp_path / "orders.csv", header, [["1", "?", "2024-03-05 00:00:00"]])
    with open_orders(path) as reader:
        rejected = [r for r in reader if isinstance(r, Rejected)]
        target = write_rejects(path, reader.header, rejected, reader.encoding)
    lines = list(csv.reader(target.read_text(encoding="gb18030").splitlines()))
    assert lines[1] == ["1", "?", "2024-03-05 00:00:00", "", "2", rejected[0].reason]


# --- samples -------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"encoding": "utf-8"},
        {"encoding": "utf-8-sig", "tmall_columns": True},
        {"xlsx": True},
        {"quirks": False},
    ],
)
def test_sample_export_round_trip(tmp_path: Path, options: dict[str, Any]) -> None:
    list_path, items_path = write_sample_export(tmp_path, 300, seed=3, **options)
    assert (
        list_path.name == f"ExportOrderList202403310000.{'xlsx' if options.get('xlsx') else 'csv'}"
    )
    assert items_path.name == "ExportOrderDetailList202403310000.csv"
    with open_orders(list_path) as reader:
        header = [h.strip() for h in reader.header]
        orders: list[Any] = list(reader)
        assert reader.bytes_read == reader.bytes_total
    assert header[: len(ORDER_HEADER)] == [h.strip() for h in ORDER_HEADER]
    assert all(isinstance(r, OrderRow) for r in orders), [
        r for r in orders if isinstance(r, Rejected)
    ][:3]
    by_id = {r.platform_order_id: r for r in orders}
    assert len(by_id) == 300
    assert {r.status for r in orders} == set(TradeStatus)
    export_time = datetime(2024, 3, 30, 16, 0, tzinfo=UTC)
    for row in orders:
        assert row.total_fen == row.goods_fen + row.postage_fen
        times = [t for t in (row.created_at, row.paid_at, row.finished_at) if t is not None]
        assert times == sorted(times) and times[-1] <= export_time
        if row.status is TradeStatus.WAIT_BUYER_PAY:
            assert row.paid_at is None and row.paid_fen == 0
        if row.status is TradeStatus.TRADE_FINISHED:
            assert row.finished_at is not None
        if row.status is TradeStatus.TRADE_BUYER_SIGNED:
            assert row.cash_on_delivery
    with open_items(items_path) as reader:
        items: list[Any] = list(reader)
    assert all(isinstance(r, ItemRow) for r in items)
    goods: Counter[str] = Counter()
    pieces: Counter[str] = Counter()
    for item in items:
        assert isinstance(item, ItemRow)
        goods[item.platform_order_id] += item.price_fen * item.quantity
        pieces[item.platform_order_id] += item.quantity
        assert "：" in item.sku_text and item.sku_code
    assert goods == {oid: row.goods_fen for oid, row in by_id.items()}
    assert pieces == {oid: row.item_count for oid, row in by_id.items()}


def test_sample_quirks_are_present_and_deterministic(tmp_path: Path) -> None:
    list_path, items_path = write_sample_export(tmp_path / "a", 400, seed=5)
    again, _ = write_sample_export(tmp_path / "b", 400, seed=5)
    other, _ = write_sample_export(tmp_path / "c", 400, seed=6)
    assert list_path.read_bytes() == again.read_bytes()
    assert list_path.read_bytes() != other.read_bytes()
    text = list_path.read_bytes().decode("gb18030")
    assert text.startswith(",".join(ORDER_HEADER) + "\r\n")
    assert '\r\n="33' in text
    assert ",'1" in text  # a phone with a leading '
    assert "元," in text
    orders = read_all(list_path)
    assert any("\n" in r.buyer_message for r in orders)
    assert items_path.read_bytes().decode("gb18030").startswith(",".join(ITEM_HEADER))


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    list_path, _ = write_sample_export(tmp_path, 3000, seed=1)
    seen = []
    with open_orders(list_path) as reader:
        assert reader.bytes_read == 0
        for _ in reader:
            seen.append(reader.bytes_read)
        total = reader.bytes_total
    assert total == list_path.stat().st_size
    assert seen == sorted(seen)
    assert any(0 < value < total for value in seen)
    assert reader.bytes_read == total


def test_xlsx_progress_moves(tmp_path: Path) -> None:
    list_path, _ = write_sample_export(tmp_path, 3000, seed=1, xlsx=True)
    seen = []
    with open_orders(list_path) as reader:
        for _ in reader:
            seen.append(reader.bytes_read)
        assert reader.bytes_read == reader.bytes_total
    assert seen == sorted(seen)
    assert any(0 < value < seen[-1] for value in seen)


def test_rewrite_with_changes_moves_orders_on(tmp_path: Path) -> None:
    list_path, _ = write_sample_export(tmp_path, 600, seed=2)
    newer = tmp_path / "ExportOrderList202404010000.csv"
    summary = rewrite_with_changes(list_path, newer, 0.5, seed=9)
    assert summary.paid and summary.shipped
    before = {r.platform_order_id: r for r in read_all(list_path)}
    with open_orders(newer) as reader:
        assert reader.encoding == "gb18030"
        after: dict[str, Any] = {r.platform_order_id: r for r in reader}
    assert before.keys() == after.keys()
    assert all(isinstance(r, OrderRow) for r in after.values())
    for oid in summary.paid:
        assert before[oid].status is TradeStatus.WAIT_BUYER_PAY
        assert after[oid].status is TradeStatus.WAIT_SELLER_SEND_GOODS
        paid_at = after[oid].paid_at
        assert paid_at is not None and paid_at > after[oid].created_at
        assert after[oid].paid_fen == after[oid].total_fen
    for oid in summary.shipped:
        assert before[oid].status is TradeStatus.WAIT_SELLER_SEND_GOODS
        assert after[oid].status is TradeStatus.WAIT_BUYER_CONFIRM_GOODS
        assert after[oid].tracking_number and after[oid].courier
    changed = set(summary.paid) | set(summary.shipped)
    for oid, row in after.items():
        if oid not in changed:
            assert row == before[oid]
    assert rewrite_with_changes(list_path, tmp_path / "again.csv", 0.5, seed=9) == summary
