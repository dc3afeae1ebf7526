"""The stock pages (F2, F3): stock by SKU and location, a SKU's ledger, locations,
receipts, adjustments, safety stock, the channels' listing files and stock-takes.

Routes parse, call a service, commit and redirect (or show the form again with the
reason); who may do what is decided in ``stock``, ``stock_views`` and ``stocktake``.
"""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.sheets import XLSX_TYPE, csv_writer, write_sheet
from xiaoer.core.texts import say
from xiaoer.fulfilment.ledger import StockError
from xiaoer.fulfilment.models import LocationKind, StockLocation, TakeStatus
from xiaoer.fulfilment.roles import STOCK_READERS, WAREHOUSE
from xiaoer.fulfilment.stock import (
    LISTING_HEADERS,
    check_read_stock,
    do_add_location,
    do_adjust,
    do_receive,
    do_set_safety,
    list_locations,
    listing_rows,
    location_of,
    parse_lines,
    safety_rows,
    sku_for_code,
)
from xiaoer.fulfilment.stock_views import StockFilter, ledger_page, receipts_of, stock_page
from xiaoer.fulfilment.stocktake import (
    CountReport,
    count_sheet,
    do_enter_counts,
    do_import_counts,
    do_post_take,
    do_start_take,
    lines_of,
    take_of,
    takes_of,
)
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, language_of, refused, render
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/fulfilment/stock")

Reader = Annotated[StaffAccount, Depends(require_staff(*STOCK_READERS))]
Keeper = Annotated[StaffAccount, Depends(require_staff(*WAREHOUSE))]
Short = Annotated[str, Form(max_length=64)]
Long = Annotated[str, Form(max_length=2000)]

MAX_SHEET = 4 * 1024 * 1024
EXPORT_ROWS = 100_000


def _file(data: bytes, name: str, media_type: str) -> Response:
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


def _csv(headers: list[str] | tuple[str, ...], rows: list[Any], name: str) -> Response:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return _file(("\ufeff" + out.getvalue()).encode("utf-8"), name, "text/csv; charset=utf-8")


def _page_error(request: Request, staff: StaffAccount, exc: ValueError) -> Response:
    message = error_text(request, exc)
    return render(request, "error.html", {"message": message}, staff=staff, status_code=422)


# --- stock ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def stock_list(
    request: Request,
    session: SessionDep,
    staff: Reader,
    location: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    low: str = "",
    q: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    export: str = "",
) -> Response:
    chosen = StockFilter(location_id=location, low=low == "1", q=q.strip(), page=page)
    if export in ("csv", "xlsx"):
        found = await stock_page(session, staff, StockFilter(location, low == "1", q.strip()),
                                 per_page=EXPORT_ROWS)  # fmt: skip
        t = Translator(language_of(request, staff))
        headers = ["商家编码", "标题", "属性", t("fulfilment.stock.location"),
                   t("fulfilment.stock.on_hand"), t("fulfilment.stock.reserved"),
                   t("fulfilment.stock.sellable"), *found.channels]  # fmt: skip
        rows = [[r.code, r.title, r.attributes, r.location, r.on_hand, r.reserved, r.sellable,
                 *(r.listed[ch] for ch in found.channels)] for r in found.rows]  # fmt: skip
        if export == "csv":
            return _csv(headers, rows, "stock.csv")
        return _file(write_sheet("库存", headers, rows), "stock.xlsx", XLSX_TYPE)
    found = await stock_page(session, staff, chosen)
    locations = await list_locations(session, staff.shop_id)
    query = {k: v for k, v in (("location", location or ""), ("low", low), ("q", q)) if v}
    context = {
        "found": found, "locations": locations, "chosen": chosen,
        "query": urlencode(query), "keeps": staff.has_role(*WAREHOUSE),
    }  # fmt: skip
    return render(request, "fulfilment/stock.html", context, staff=staff)


@router.get("/listing")
async def channel_listing(
    request: Request,
    session: SessionDep,
    staff: Reader,
    channel: Annotated[str, Query(max_length=16)] = "",
    format: Annotated[str, Query(max_length=8)] = "xlsx",
) -> Response:
    """A channel's listing file: 商家编码, 标题, 属性, 可售库存 for every SKU."""
    try:
        rows = await listing_rows(session, staff, channel)
    except StockError as exc:
        return _page_error(request, staff, exc)
    if format == "csv":
        return _csv(LISTING_HEADERS, rows, f"listing-{channel}.csv")
    data = write_sheet(f"{channel} 库存", LISTING_HEADERS, [list(row) for row in rows])
    return _file(data, f"listing-{channel}.xlsx", XLSX_TYPE)


# --- locations ----------------------------------------------------------------------------


async def _locations_page(
    request: Request, session: AsyncSession, staff: StaffAccount, error: str | None = None
) -> Response:
    check_read_stock(staff)
    context = {
        "locations": await list_locations(session, staff.shop_id), "error": error,
        "kinds": [k.value for k in LocationKind], "keeps": staff.has_role(*WAREHOUSE),
    }  # fmt: skip
    return render(request, "fulfilment/stock_locations.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/locations", response_class=HTMLResponse)
async def locations_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _locations_page(request, session, staff)


@router.post("/locations")
async def add_location(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    code: Short,
    name: Short,
    kind: Annotated[str, Form(max_length=16)] = LocationKind.stock.value,
    position: Annotated[int, Form(ge=0, le=100_000)] = 0,
) -> Response:
    action = do_add_location(session, staff, code=code, name=name, kind=kind, position=position)
    message = await refused(request, session, action)
    if message is not None:
        return await _locations_page(request, session, staff, message)
    await session.commit()
    return RedirectResponse("/fulfilment/stock/locations", status_code=303)


# --- receipts and adjustments ------------------------------------------------------------------


async def _receipts_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    context = {
        "receipts": await receipts_of(session, staff),
        "locations": await list_locations(session, staff.shop_id, active_only=True),
        "error": error, "typed": typed or {}, "keeps": staff.has_role(*WAREHOUSE),
    }  # fmt: skip
    return render(request, "fulfilment/stock_receipts.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/receipts", response_class=HTMLResponse)
async def receipts_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _receipts_page(request, session, staff)


@router.post("/receipts")
async def new_receipt(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    location_id: Annotated[int, Form(ge=1, le=2**62)],
    lines: Annotated[str, Form(max_length=50_000)],
    number: Short = "",
    supplier: Short = "",
    note: Long = "",
) -> Response:
    """A receipt from the form: lines as ``SKU-CODE quantity`` (typed or scanned)."""

    await location_of(session, staff, location_id)

    async def receive() -> None:
        parsed = await parse_lines(session, staff.shop_id, lines)
        await do_receive(session, staff, location_id=location_id, lines=parsed, number=number,
                         supplier=supplier, note=note)  # fmt: skip

    message = await refused(request, session, receive())
    if message is not None:
        typed = {"location_id": location_id, "lines": lines, "number": number,
                 "supplier": supplier, "note": note}  # fmt: skip
        return await _receipts_page(request, session, staff, message, typed)
    await session.commit()
    return RedirectResponse("/fulfilment/stock/receipts", status_code=303)


async def _adjust_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    check_read_stock(staff)
    context = {"locations": await list_locations(session, staff.shop_id, active_only=True),
               "error": error, "typed": typed or {}}  # fmt: skip
    return render(request, "fulfilment/stock_adjust.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/adjust", response_class=HTMLResponse)
async def adjust_page(request: Request, session: SessionDep, staff: Keeper) -> Response:
    return await _adjust_page(request, session, staff)


@router.post("/adjust")
async def adjust(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    sku: Short,
    location_id: Annotated[int, Form(ge=1, le=2**62)],
    delta: Annotated[int, Form(ge=-1_000_000, le=1_000_000)],
    reason: Long,
) -> Response:
    await location_of(session, staff, location_id)

    async def run() -> None:
        found = await sku_for_code(session, staff, sku)
        await do_adjust(session, staff, sku_id=found.id, location_id=location_id, delta=delta,
                        reason=reason)  # fmt: skip

    message = await refused(request, session, run())
    if message is not None:
        typed = {"sku": sku, "location_id": location_id, "delta": delta, "reason": reason}
        return await _adjust_page(request, session, staff, message, typed)
    await session.commit()
    found = await sku_for_code(session, staff, sku)
    return RedirectResponse(f"/fulfilment/stock/{found.id}", status_code=303)


# --- safety stock -------------------------------------------------------------------------


async def _safety_page(
    request: Request, session: AsyncSession, staff: StaffAccount, error: str | None = None
) -> Response:
    from xiaoer.catalog.models import Sku
    from xiaoer.core.policy_store import policy_on

    check_read_stock(staff)
    policy = (await policy_on(session, staff.shop_id)).fulfilment
    rows = await safety_rows(session, staff.shop_id)
    codes = {row.sku_id: "" for row in rows if row.sku_id is not None}
    for sku_id in codes:
        found = await session.get(Sku, sku_id)
        codes[sku_id] = found.code if found is not None else ""
    context = {"rows": rows, "codes": codes, "channels": policy.channels,
               "default": policy.safety_stock, "error": error,
               "keeps": staff.has_role(*WAREHOUSE)}  # fmt: skip
    return render(request, "fulfilment/stock_safety.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/safety", response_class=HTMLResponse)
async def safety_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _safety_page(request, session, staff)


@router.post("/safety")
async def set_safety(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    channel: Annotated[str, Form(max_length=16)] = "",
    sku: Short = "",
    quantity: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Set a channel's (or a SKU's) safety stock; an empty quantity goes back to the default."""

    async def run() -> None:
        sku_id = (await sku_for_code(session, staff, sku)).id if sku.strip() else None
        text = quantity.strip()
        if text and not text.isdigit():
            raise StockError(say("a safety stock is 0 units or more"))
        await do_set_safety(session, staff, channel=channel, sku_id=sku_id,
                            quantity=int(text) if text else None)  # fmt: skip

    message = await refused(request, session, run())
    if message is not None:
        return await _safety_page(request, session, staff, message)
    await session.commit()
    return RedirectResponse("/fulfilment/stock/safety", status_code=303)


# --- stock-takes ------------------------------------------------------------------------------


async def _takes_page(
    request: Request, session: AsyncSession, staff: StaffAccount, error: str | None = None
) -> Response:
    locations = await list_locations(session, staff.shop_id)
    context = {"takes": await takes_of(session, staff), "locations": locations,
               "places": {p.id: p for p in locations}, "error": error,
               "keeps": staff.has_role(*WAREHOUSE)}  # fmt: skip
    return render(request, "fulfilment/stock_takes.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/takes", response_class=HTMLResponse)
async def takes_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    return await _takes_page(request, session, staff)


@router.post("/takes")
async def start_take(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    location_id: Annotated[int, Form(ge=1, le=2**62)],
    note: Long = "",
) -> Response:
    started: list[int] = []

    async def run() -> None:
        started.append((await do_start_take(session, staff, location_id=location_id, note=note)).id)

    message = await refused(request, session, run())
    if message is not None:
        return await _takes_page(request, session, staff, message)
    await session.commit()
    return RedirectResponse(f"/fulfilment/stock/takes/{started[0]}", status_code=303)


async def _take_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    take_id: int,
    *,
    error: str | None = None,
    report: CountReport | None = None,
) -> Response:
    take = await take_of(session, staff, take_id)
    location = await session.get(StockLocation, take.location_id)
    t = Translator(language_of(request, staff))
    rejected = [(line, t.text(reason)) for line, reason in (report.rejected if report else [])]
    context = {
        "take": take, "location": location, "lines": await lines_of(session, take),
        "error": error, "report": report, "rejected": rejected[:200],
        "keeps": staff.has_role(*WAREHOUSE), "open": take.status in ("counting", "recount"),
        "recounting": take.status == TakeStatus.recount.value,
    }  # fmt: skip
    return render(request, "fulfilment/stock_take.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/takes/{take_id}", response_class=HTMLResponse)
async def take_page(
    request: Request, session: SessionDep, staff: Reader, take_id: RowId
) -> Response:
    return await _take_page(request, session, staff, take_id)


@router.get("/takes/{take_id}/sheet.xlsx")
async def take_sheet(
    session: SessionDep, staff: Keeper, take_id: RowId, booked: str = ""
) -> Response:
    name, data = await count_sheet(session, staff, take_id, show_expected=booked == "1")
    return _file(data, name, XLSX_TYPE)


@router.post("/takes/{take_id}/upload", response_class=HTMLResponse)
async def upload_sheet(
    request: Request,
    session: SessionDep,
    staff: Keeper,
    take_id: RowId,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    await take_of(session, staff, take_id)
    if file is None:
        problem = error_text(request, say("choose the filled count sheet"))
        return await _take_page(request, session, staff, take_id, error=problem)
    data = await file.read(MAX_SHEET + 1)
    if len(data) > MAX_SHEET:
        too_large = say("file larger than {size} MB", size=MAX_SHEET // (1024 * 1024))
        return await _take_page(request, session, staff, take_id,
                                error=error_text(request, too_large))  # fmt: skip
    name = file.filename or ""
    done: list[CountReport] = []

    async def run() -> None:
        done.append(await do_import_counts(session, staff, data, take_id=take_id, filename=name))

    message = await refused(request, session, run())
    if message is not None:
        return await _take_page(request, session, staff, take_id, error=message)
    await session.commit()
    return await _take_page(request, session, staff, take_id, report=done[0])


@router.post("/takes/{take_id}/counts", response_class=HTMLResponse)
async def enter_counts(
    request: Request, session: SessionDep, staff: Keeper, take_id: RowId
) -> Response:
    """Counts typed on the page: fields ``count_<SKU id>``; empty ones are left out."""
    form = await request.form()
    counts: dict[int, int] = {}
    for key, value in form.multi_items():
        if not key.startswith("count_") or not isinstance(value, str) or not value.strip():
            continue
        sku, text = key.removeprefix("count_"), value.strip()
        if not sku.isdigit() or not text.isdigit() or len(text) > 7 or len(sku) > 18:
            problem = error_text(request, say("the count must be a whole number of 0 or more"))
            await take_of(session, staff, take_id)
            return await _take_page(request, session, staff, take_id, error=problem)
        counts[int(sku)] = int(text)
    done: list[CountReport] = []

    async def run() -> None:
        done.append(await do_enter_counts(session, staff, take_id, counts))

    message = await refused(request, session, run())
    if message is not None:
        return await _take_page(request, session, staff, take_id, error=message)
    await session.commit()
    return RedirectResponse(f"/fulfilment/stock/takes/{take_id}", status_code=303)


@router.post("/takes/{take_id}/post")
async def post_take(
    request: Request, session: SessionDep, staff: Keeper, take_id: RowId
) -> Response:
    message = await refused(request, session, do_post_take(session, staff, take_id))
    if message is not None:
        return await _take_page(request, session, staff, take_id, error=message)
    await session.commit()
    return RedirectResponse(f"/fulfilment/stock/takes/{take_id}", status_code=303)


# --- one SKU (last: its path takes any number) ------------------------------------------------


@router.get("/{sku_id}", response_class=HTMLResponse)
async def sku_ledger(
    request: Request,
    session: SessionDep,
    staff: Reader,
    sku_id: RowId,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    found = await ledger_page(session, staff, sku_id, page)
    return render(request, "fulfilment/stock_sku.html", {"found": found}, staff=staff)
