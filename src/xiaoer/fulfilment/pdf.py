"""Pick lists and packing slips as PDF, in Chinese.

The text is set in a CJK font from the system's Debian packages, embedded (subset) in
the file: ``fonts-wqy-microhei`` first (TrueType outlines, which every PDF reader
takes), else ``fonts-noto-cjk`` (CFF outlines). Nothing is fetched at run time; with
neither installed the PDF is refused with a message saying what to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from xiaoer.core.clock import local
from xiaoer.core.texts import say
from xiaoer.fulfilment.carriers import BY_CODE
from xiaoer.fulfilment.models import Shipment, ShipmentLine
from xiaoer.fulfilment.picking import PickList
from xiaoer.orders.models import Order

# (file, font number within a collection), in order of preference.
FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # 2: Simplified Chinese
)
FAMILY = "cjk"


class PdfFontError(RuntimeError):
    """No CJK font on this machine to set Chinese text in."""


def cjk_font(candidates: Sequence[tuple[str, int]] = FONTS) -> tuple[str, int]:
    for path, number in candidates:
        if Path(path).is_file():
            return path, number
    raise PdfFontError(
        say(
            "no Chinese font is installed for PDF files: install the Debian package "
            "fonts-wqy-microhei (or fonts-noto-cjk)"
        )
    )


def _document(title: str, fonts: Sequence[tuple[str, int]]) -> FPDF:
    path, number = cjk_font(fonts)
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("xiaoer")
    pdf.add_font(FAMILY, "", path, collection_font_number=number)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font(FAMILY, size=18)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10)
    return pdf


def _line(pdf: FPDF, text: str) -> None:
    pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, widths: tuple[int, ...], header: list[str], rows: list[list[str]]) -> None:
    pdf.ln(2)
    heading = FontFace(emphasis="", fill_color=(230, 230, 230))  # one weight of the CJK font
    with pdf.table(
        col_widths=widths, line_height=7, text_align="LEFT", headings_style=heading
    ) as table:
        head = table.row()
        for text in header:
            head.cell(text)
        for cells in rows:
            row = table.row()
            for text in cells:
                row.cell(text)


def _bytes(pdf: FPDF) -> bytes:
    return bytes(pdf.output())


def pick_list_pdf(
    picks: PickList,
    *,
    zone: str,
    now: datetime,
    fonts: Sequence[tuple[str, int]] = FONTS,
) -> bytes:
    """A location's pick list: every SKU to take, in shelf order, with its orders."""
    location = picks.location
    pdf = _document(f"拣货单 · {location.name}（{location.code}）", fonts)
    _line(pdf, f"打印时间 {local(now, zone):%Y-%m-%d %H:%M}　包裹 {len(picks.shipments)} 个")
    rows = [
        [pick.sku_code, pick.title, str(pick.quantity), "、".join(pick.orders)]
        for pick in picks.lines
    ]
    _table(pdf, (30, 70, 16, 74), ["商家编码", "商品", "数量", "订单"], rows)
    pdf.ln(4)
    _line(pdf, "拣货人：＿＿＿＿　　复核：＿＿＿＿")
    return _bytes(pdf)


def packing_slip_pdf(
    shipment: Shipment,
    lines: list[ShipmentLine],
    orders: dict[int, Order],
    titles: dict[int, str],
    *,
    zone: str,
    now: datetime,
    fonts: Sequence[tuple[str, int]] = FONTS,
) -> bytes:
    """The slip that goes into the box: the parcel's orders and goods."""
    pdf = _document(f"装箱单 · 包裹 {shipment.id}", fonts)
    numbers = "、".join(orders[o].platform_order_id for o in sorted(orders))
    _line(pdf, f"订单 {numbers}")
    carrier = BY_CODE.get(shipment.carrier)
    if carrier is not None and shipment.waybill:
        _line(pdf, f"{carrier.name}　运单号 {shipment.waybill}")
    _line(pdf, f"打印时间 {local(now, zone):%Y-%m-%d %H:%M}")
    rows = [
        [line.sku_code, titles.get(line.id, ""), str(line.quantity),
         orders[line.order_id].platform_order_id if line.order_id in orders else ""]
        for line in lines
    ]  # fmt: skip
    _table(pdf, (34, 86, 16, 54), ["商家编码", "商品", "数量", "订单"], rows)
    pdf.ln(4)
    _line(pdf, "感谢您的惠顾！收到货有任何问题，请先联系客服，我们一定帮您处理好。")
    return _bytes(pdf)
