"""Waybills in bulk: the platform's bulk-shipping sheet (批量发货) read into parcels.

The sheet has the columns ``订单编号, 物流公司, 运单号`` (matched by name, spaces
ignored; order numbers may be written ``="…"``), as CSV in UTF-8 (with or without a
byte-order mark) or GBK, or as a workbook. Each row ships its order's open parcel
(:func:`xiaoer.fulfilment.shipping.do_ship`) and is counted ``shipped``; a row for an
order shipped before with the same carrier and waybill is ``unchanged``, so the same
sheet twice changes nothing the second time. A row is rejected, with its line and
reason, when its order is unknown, is not waiting to be shipped (or shipped with
another waybill), has not been through the audit (no parcel), its carrier is unknown
or its number does not fit the carrier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.texts import message_of, say
from xiaoer.fulfilment.carriers import carrier_named, check_waybill
from xiaoer.fulfilment.models import ShipmentStatus
from xiaoer.fulfilment.shipping import (
    OPEN,
    ShippingError,
    check_warehouse,
    do_ship,
    shipments_of_order,
)
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.sellercentre.exports import ExportReader, Rejected, ReportShape, clean_cell, read_id
from xiaoer.sellercentre.ingest import Progress, among
from xiaoer.sellercentre.reports import (
    Later,
    RawRow,
    ReportKind,
    ReportResult,
    ReportRun,
    import_report_file,
)
from xiaoer.staff.models import StaffAccount

REQUIRED = ("订单编号", "物流公司", "运单号")
SHIPPED = {
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value,
    TradeStatus.TRADE_BUYER_SIGNED.value,
    TradeStatus.TRADE_FINISHED.value,
}


@dataclass(slots=True)
class WaybillRow:
    line: int
    platform_order_id: str
    carrier: str
    waybill: str


def _row_parser(reader: ExportReader) -> Callable[[int, list[str]], WaybillRow | Rejected]:
    _width, _check, index = reader.layout(REQUIRED)
    fetch = itemgetter(*(index(name) for name in REQUIRED))

    def read(line: int, cells: list[str]) -> WaybillRow:
        raw_order, raw_carrier, raw_waybill = fetch(cells)
        return WaybillRow(
            line, read_id(raw_order, "订单编号"), clean_cell(raw_carrier), clean_cell(raw_waybill)
        )

    return reader.row_parser(REQUIRED, read)


WAYBILL_SHEET = ReportShape(say("bulk-shipping sheet (批量发货)"), REQUIRED, _row_parser)


@dataclass
class WaybillImportResult(ReportResult):
    """Rows read, parcels shipped, rows shipped before alike, rows rejected."""

    shipped: int = 0
    shipment_ids: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {"read": counts.read, "shipped": self.shipped, "unchanged": counts.unchanged,
                "rejected": counts.rejected}  # fmt: skip


@dataclass
class _WaybillRun(ReportRun):
    now: datetime = field(default_factory=utcnow)
    by: StaffAccount | None = None


def _key(reader: ExportReader, cells: list[str]) -> str:
    return reader.order_id(cells)


async def _ship_row(session: AsyncSession, run: _WaybillRun, row: WaybillRow, order: Order) -> str:
    """``shipped`` or ``unchanged``; raises :class:`ShippingError` (or another
    ``ValueError``) with the row's reason."""
    carrier = carrier_named(row.carrier)
    waybill = check_waybill(carrier, row.waybill)
    parcels = await shipments_of_order(session, run.shop_id, order.id)
    if order.status in SHIPPED:
        alike = any(
            (p.carrier, p.waybill) == (carrier.code, waybill)
            for p in parcels
            if p.status != ShipmentStatus.cancelled.value
        )
        if alike or (not parcels and order.tracking_number == waybill):
            return "unchanged"
        shown = order.tracking_number or next((p.waybill for p in parcels if p.waybill), "")
        raise ShippingError(
            say("order {number} shipped already with waybill {waybill}",
                number=order.platform_order_id, waybill=shown)
        )  # fmt: skip
    if order.status != TradeStatus.WAIT_SELLER_SEND_GOODS.value:
        raise ShippingError(
            say("order {number} is not waiting to be shipped", number=order.platform_order_id)
        )
    open_parcels = [p for p in parcels if p.status in OPEN]
    if not open_parcels:
        raise ShippingError(
            say("order {number} has not been audited: it has no parcel to ship",
                number=order.platform_order_id)
        )  # fmt: skip
    if len(open_parcels) > 1:
        raise ShippingError(
            say("order {number} ships in {count} parcels: enter each waybill on its parcel",
                number=order.platform_order_id, count=len(open_parcels))
        )  # fmt: skip
    shipped = await do_ship(
        session, run.by, open_parcels[0], carrier.code, waybill, require_packed=False, now=run.now
    )
    return "shipped" if shipped.changed else "unchanged"


async def _store(
    session: AsyncSession, run: ReportRun, raws: list[RawRow]
) -> Later | None:
    assert isinstance(run, _WaybillRun)
    result = cast(WaybillImportResult, run.result)
    parsed: list[tuple[RawRow, WaybillRow]] = []
    for raw in raws:
        row = run.parse(raw)
        if isinstance(row, WaybillRow):
            parsed.append((raw, row))
        else:
            run.reject(cast(Rejected, row))
    numbers = {row.platform_order_id for _, row in parsed}
    orders = {
        o.platform_order_id: o
        for o in await session.scalars(
            select(Order).where(
                Order.shop_id == run.shop_id,
                among(run.postgres, Order.platform_order_id, numbers),
            )
        )
    }
    for raw, row in parsed:
        order = orders.get(row.platform_order_id)
        if order is None:
            run.refuse(raw, say("unknown order {number}", number=row.platform_order_id))
            continue
        try:
            async with session.begin_nested():
                outcome = await _ship_row(session, run, row, order)
        except ValueError as exc:
            await session.refresh(order)
            run.refuse(raw, message_of(exc))
            continue
        if outcome == "shipped":
            result.shipped += 1
        else:
            result.counts.unchanged += 1
    return None


_IMPORT = ReportKind(WAYBILL_SHEET, _key, _store, "waybills", "shipment")


async def import_waybills(
    db: Database,
    shop_id: int,
    path: Path,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    by: StaffAccount | None = None,
) -> WaybillImportResult:
    """Ship the parcels a bulk-shipping sheet gives waybills for; see the module's text.
    ``by``: the staff account uploading it (checked: the warehouse and leaders of the
    shop), None from the command line.

    Raises :class:`xiaoer.sellercentre.exports.ExportError` when the file cannot be
    read as such a sheet at all; nothing is written then.
    """
    if by is not None:
        check_warehouse(by)
        if by.shop_id != shop_id:
            raise NotFound(say("this account works for another shop"))
    now = now or utcnow()
    result = WaybillImportResult()
    run = _WaybillRun(shop_id, path.name, result, db.dialect == "postgresql", now=now, by=by)
    await import_report_file(db, run, path, _IMPORT, now=now, progress=progress)
    async with db.session() as session:
        await record_event(session, shop_id, "waybill.imported",
                           {"file": path.name, **result.summary()}, at=now)  # fmt: skip
        await session.commit()
    return result
