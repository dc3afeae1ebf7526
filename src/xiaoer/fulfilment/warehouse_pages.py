"""The warehouse's screens (F4): the queue, a location's pick list, the pack-and-ship
screen of a parcel (a barcode scanner types into it), and waybills in bulk.

Routes parse, call the services of ``picking``, ``shipping`` or ``waybills``, commit and
render; who may is decided there. Every form works without script;
``static/warehouse.js`` lets the pack screen take a scanner's code, then a quantity or
the next code, without reloading.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.core.texts import message_of, say
from xiaoer.fulfilment.carriers import BY_CODE, CARRIERS, find_carrier
from xiaoer.fulfilment.models import Shipment, ShipmentStatus
from xiaoer.fulfilment.pdf import PdfFontError, packing_slip_pdf, pick_list_pdf
from xiaoer.fulfilment.picking import find_parcels, pick_list, warehouse_queue
from xiaoer.fulfilment.roles import WAREHOUSE
from xiaoer.fulfilment.shipping import (
    MAX_SCAN,
    do_pack,
    do_ship,
    lines_of,
    orders_of,
    shipment_for,
    titles_of,
)
from xiaoer.fulfilment.waybills import import_waybills
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render, shown_time
from xiaoer.sellercentre.exports import ExportError
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/fulfilment/warehouse")

Warehouse = Annotated[StaffAccount, Depends(require_staff(*WAREHOUSE))]

PDF_TYPE = "application/pdf"
MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # a sheet of waybills: tens of thousands of rows


def _zone(request: Request) -> str:
    return str(getattr(request.state, "zone", "Asia/Shanghai"))


def _pdf(data: bytes, name: str) -> Response:
    return Response(
        data, media_type=PDF_TYPE, headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


def _no_font(request: Request, staff: StaffAccount, exc: PdfFontError) -> Response:
    return render(request, "fulfilment/ship_error.html",
                  {"error": error_text(request, exc)}, staff=staff, status_code=503)  # fmt: skip


# --- the queue and pick lists ----------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    session: SessionDep,
    staff: Warehouse,
    q: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    now = utcnow()
    queue = await warehouse_queue(session, staff, now=now, page=page)
    found = await find_parcels(session, staff, q) if q.strip() else None
    if found is not None and len(found) == 1:
        return RedirectResponse(f"/fulfilment/warehouse/shipments/{found[0].id}", 303)
    if found:
        queue.orders |= await orders_of(session, [], *(s.order_id for s in found))
    context = {"queue": queue, "now": now, "q": q, "found": found}
    return render(request, "fulfilment/warehouse.html", context, staff=staff)


@router.get("/export.xlsx")
async def queue_export(request: Request, session: SessionDep, staff: Warehouse) -> Response:
    """The queue as a workbook: every parcel to pick, packed, and shipped today."""
    queue = await warehouse_queue(session, staff, now=utcnow(), per_page=None)
    zone = _zone(request)
    rows = [
        [s.id, queue.orders[s.order_id].platform_order_id if s.order_id in queue.orders else "",
         queue.locations[s.location_id].code if s.location_id in queue.locations else "",
         s.status, shown_time(s.ship_by, zone, "%Y-%m-%d %H:%M"), s.carrier, s.waybill,
         shown_time(s.shipped_at, zone, "%Y-%m-%d %H:%M")]
        for s in (*queue.to_pick, *queue.packed, *queue.shipped_today)
    ]  # fmt: skip
    header = ["包裹", "订单编号", "库位", "状态", "最晚发货", "快递公司", "运单号", "发货时间"]
    return Response(
        write_sheet("拣货发货", header, rows),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="warehouse.xlsx"'},
    )


@router.get("/locations/{location_id}", response_class=HTMLResponse)
async def pick_page(
    request: Request, session: SessionDep, staff: Warehouse, location_id: RowId
) -> Response:
    picks = await pick_list(session, staff, location_id)
    return render(request, "fulfilment/pick.html", {"picks": picks, "now": utcnow()}, staff=staff)


@router.get("/locations/{location_id}/pick.pdf")
async def pick_pdf(
    request: Request, session: SessionDep, staff: Warehouse, location_id: RowId
) -> Response:
    picks = await pick_list(session, staff, location_id)
    try:
        data = pick_list_pdf(picks, zone=_zone(request), now=utcnow())
    except PdfFontError as exc:
        return _no_font(request, staff, exc)
    return _pdf(data, f"pick-{picks.location.code}.pdf")


# --- the pack-and-ship screen -------------------------------------------------------------


async def _parcel_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    shipment: Shipment,
    *,
    error: str = "",
    notice: str = "",
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lines = (await lines_of(session, [shipment.id]))[shipment.id]
    orders = await orders_of(session, lines, shipment.order_id)
    shop = await session.get(Shop, shipment.shop_id)
    default = find_carrier(shop.default_courier) if shop is not None else None
    carrier = shipment.carrier or (default.code if default is not None else "")
    context: dict[str, Any] = {
        "shipment": shipment,
        "lines": lines,
        "orders": orders,
        "titles": await titles_of(session, lines),
        "carriers": CARRIERS,
        "carrier": BY_CODE.get(shipment.carrier),
        "chosen": (typed or {}).get("carrier", carrier),
        "waybill": (typed or {}).get("waybill", ""),
        "error": error,
        "notice": notice,
        "max_scan": MAX_SCAN,
        "now": utcnow(),
        "picking": shipment.status == ShipmentStatus.picking.value,
        "packed": shipment.status == ShipmentStatus.packed.value,
    }
    return render(
        request, "fulfilment/warehouse_parcel.html", context, staff=staff, status_code=status_code
    )


@router.get("/shipments/{shipment_id}", response_class=HTMLResponse)
async def parcel_page(
    request: Request, session: SessionDep, staff: Warehouse, shipment_id: RowId
) -> Response:
    shipment = await shipment_for(session, staff, shipment_id)
    notice = ""
    scanned = request.query_params.get("scanned", "")[:64]
    if scanned:
        count = request.query_params.get("n", "1")[:4]
        notice = say("{code} × {count} packed", code=scanned, count=count)
    if request.query_params.get("shipped"):
        notice = say("the parcel has shipped")
    return await _parcel_page(request, session, staff, shipment, notice=error_text(request, notice))


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/shipments/{shipment_id}/scan")
async def scan(
    request: Request,
    session: SessionDep,
    staff: Warehouse,
    shipment_id: RowId,
    code: Annotated[str, Form(max_length=64)] = "",
    quantity: Annotated[str, Form(max_length=8)] = "1",
) -> Response:
    shipment = await shipment_for(session, staff, shipment_id)
    count = int(quantity) if quantity.strip().isdigit() else 0
    try:
        async with session.begin_nested():
            done = await do_pack(session, staff, shipment, code, count)
    except ValueError as exc:
        message = error_text(request, exc)
        if _wants_json(request):
            return JSONResponse({"ok": False, "message": message}, status_code=422)
        return await _parcel_page(request, session, staff, shipment, error=message,
                                  status_code=422)  # fmt: skip
    await session.commit()
    if _wants_json(request):
        said = say("{code} × {count} packed", code=done.line.sku_code, count=done.quantity)
        return JSONResponse({
            "ok": True, "message": error_text(request, said), "line_id": done.line.id,
            "packed": done.line.packed, "quantity": done.line.quantity,
            "status": shipment.status, "full": done.packed,
        })  # fmt: skip
    query = f"scanned={done.line.sku_code}&n={done.quantity}"
    return RedirectResponse(f"/fulfilment/warehouse/shipments/{shipment.id}?{query}", 303)


@router.post("/shipments/{shipment_id}/ship")
async def ship(
    request: Request,
    session: SessionDep,
    staff: Warehouse,
    shipment_id: RowId,
    carrier: Annotated[str, Form(max_length=32)] = "",
    waybill: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    shipment = await shipment_for(session, staff, shipment_id)
    try:
        async with session.begin_nested():
            await do_ship(session, staff, shipment, carrier, waybill)
    except ValueError as exc:
        await session.refresh(shipment)
        return await _parcel_page(
            request, session, staff, shipment, error=error_text(request, exc),
            typed={"carrier": carrier, "waybill": waybill}, status_code=422,
        )  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/fulfilment/warehouse/shipments/{shipment.id}?shipped=1", 303)


@router.get("/shipments/{shipment_id}/slip.pdf")
async def slip_pdf(
    request: Request, session: SessionDep, staff: Warehouse, shipment_id: RowId
) -> Response:
    shipment = await shipment_for(session, staff, shipment_id)
    lines = (await lines_of(session, [shipment.id]))[shipment.id]
    orders = await orders_of(session, lines, shipment.order_id)
    titles = await titles_of(session, lines)
    try:
        data = packing_slip_pdf(shipment, lines, orders, titles, zone=_zone(request), now=utcnow())
    except PdfFontError as exc:
        return _no_font(request, staff, exc)
    return _pdf(data, f"slip-{shipment.id}.pdf")


# --- waybills in bulk --------------------------------------------------------------------


@router.get("/waybills", response_class=HTMLResponse)
async def waybills_page(request: Request, staff: Warehouse) -> Response:
    return render(request, "fulfilment/waybills.html", {}, staff=staff)


@router.post("/waybills", response_class=HTMLResponse)
async def upload_waybills(
    request: Request, session: SessionDep, staff: Warehouse, file: Annotated[UploadFile, File()]
) -> Response:
    await session.commit()  # the import writes in sessions of its own
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    name = Path(file.filename or "waybills.csv").name or "waybills.csv"
    error = ""
    result = None
    if len(data) > MAX_UPLOAD_BYTES:
        error = error_text(
            request, say("file larger than {size} MB", size=MAX_UPLOAD_BYTES // (1024 * 1024))
        )
    else:
        with tempfile.TemporaryDirectory(prefix="xiaoer-waybills-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                result = await import_waybills(request.app.state.db, staff.shop_id, path, by=staff)
            except ExportError as exc:
                problem = say("{filename}: {problem}", filename=name, problem=message_of(exc))
                error = error_text(request, problem)
    context: dict[str, Any] = {"error": error, "file": name}
    if result is not None:
        context["summary"] = result.summary()
        context["rows"] = [(line, error_text(request, why)) for line, why in result.rejected_rows]
    return render(request, "fulfilment/waybills.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip
