"""Sample seller-centre after-sales reports: the refund report (退款报表) and the
review report (评价), written the way the seller centre writes them (full header with
some trailing spaces, GBK text, ``="…"`` ids), for tests and the import benchmark.

:func:`write_report` writes given rows; :func:`sample_refunds` makes refund rows for
orders known by their number and paid amount, deterministic from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from xiaoer.core.money import fen_to_yuan

REFUND_HEADER: tuple[str, ...] = (
    "订单编号", "退款编号", "支付宝交易号", "订单付款时间 ", "商家编码", "退款完结时间",
    "买家会员名称", "买家实际支付金额", "宝贝标题 ", "买家退款金额", "手工退款/系统退款",
    "是否需要退货", "退款的申请时间", "超时时间", "退款状态 ", "货物状态", "退货物流信息",
    "发货物流信息", "客服介入状态", "退货物流单号", "退货物流公司", "买家退款原因",
    "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注", "完结时间",
    "部分退款/全部退款",
)  # fmt: skip

REVIEW_HEADER: tuple[str, ...] = (
    "订单编号", "子订单编号", "评价结果", "评价内容", "评价时间", "宝贝标题 ", "买家会员名",
    "追评内容", "追评时间", "解释内容",
)  # fmt: skip

_ID_COLUMNS = frozenset({"订单编号", "退款编号", "子订单编号", "支付宝交易号"})
_REASONS = ("不想要了", "尺码不合适", "质量问题", "发错货", "七天无理由退换货", "少件/漏发")
_CARRIERS = ("中通快递", "圆通速递", "韵达快递", "顺丰速运")

# 退款状态 texts, weighted as a month's report shows them, with the goods and the
# return's stage each implies.
_STATES: tuple[tuple[str, str, bool, int], ...] = (
    ("买家已经申请退款，等待卖家同意", "买家已收到货", False, 12),
    ("卖家已经同意退款，等待买家退货", "买家已收到货", True, 8),
    ("买家已经退货，等待卖家确认收货", "买家已退货", True, 6),
    ("卖家拒绝退款", "买家已收到货", False, 4),
    ("退款关闭", "买家未收到货", False, 15),
    ("退款成功", "买家未收到货", False, 55),
)


def write_report(
    path: str | Path,
    header: Iterable[str],
    rows: Iterable[dict[str, str]],
    *,
    encoding: str = "gb18030",
    quoted_ids: bool = True,
) -> Path:
    """Write ``rows`` (cells by column name, stripped; missing ones empty) under
    ``header`` as a CSV in ``encoding``, or as a workbook when ``path`` ends in
    ``.xlsx``. Ids are written ``="…"`` in a CSV when ``quoted_ids``."""
    target = Path(path)
    names = list(header)

    def cells(row: dict[str, str]) -> list[str]:
        out = []
        for name in names:
            value = row.get(name.strip(), "")
            if quoted_ids and value and name.strip() in _ID_COLUMNS and target.suffix == ".csv":
                value = f'="{value}"'
            out.append(value)
        return out

    if target.suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("报表")
        sheet.append(names)
        for row in rows:
            sheet.append(cells(row))
        book.save(target)
        return target
    with target.open("w", encoding=encoding, newline="") as out:
        out.write(",".join(map(_csv_cell, names)) + "\r\n")
        for row in rows:
            out.write(",".join(map(_csv_cell, cells(row))) + "\r\n")
    return target


def _csv_cell(value: str) -> str:
    """A CSV cell as the seller centre writes it: ``="…"`` ids bare, other cells quoted
    only when they must be."""
    if value.startswith('="') and value.endswith('"') and value[2:-1].isdigit():
        return value
    if any(mark in value for mark in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def sample_refunds(
    orders: Iterable[tuple[str, int]], seed: int = 0, *, at: datetime | None = None
) -> Iterator[dict[str, str]]:
    """One refund row per (order number, paid fen) with something paid: states as a
    month's report has them, amounts within the payment, times before ``at``."""
    rng = random.Random(seed)
    now = at or datetime(2024, 4, 1, 12, 0, 0)  # shop-local wall time
    weights = [w for *_rest, w in _STATES]
    for number, (order, paid) in enumerate(orders, start=1):
        if paid <= 0:
            continue
        status, goods, back, _weight = rng.choices(_STATES, weights)[0]
        applied = now - timedelta(days=rng.randint(1, 25), seconds=rng.randint(0, 86_399))
        row = {
            "订单编号": order,
            "退款编号": str(100_000_000_000_000 + seed * 10_000_000 + number),
            "买家退款金额": fen_to_yuan(rng.randint(1, paid)),
            "买家实际支付金额": fen_to_yuan(paid),
            "是否需要退货": "是" if back else "否",
            "退款的申请时间": applied.strftime("%Y-%m-%d %H:%M:%S"),
            "超时时间": (applied + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "退款状态": status,
            "货物状态": goods,
            "客服介入状态": "无",
            "买家退款原因": rng.choice(_REASONS),
            "售中或售后": rng.choice(("售中", "售后")),
            "责任方": "买家",
        }
        if back and status != "卖家已经同意退款，等待买家退货":
            row["退货物流单号"] = str(rng.randint(7_000_000_000_000, 7_999_999_999_999))
            row["退货物流公司"] = rng.choice(_CARRIERS)
        if status in ("退款成功", "退款关闭"):
            done = applied + timedelta(hours=rng.randint(1, 48))
            row["退款完结时间"] = min(done, now).strftime("%Y-%m-%d %H:%M:%S")
        yield row
