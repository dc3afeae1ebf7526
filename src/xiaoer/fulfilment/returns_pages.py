"""The warehouse's returns screen (F2): returns on their way, and receiving a parcel.

Routes parse, call ``fulfilment.returns``, commit and redirect (or show the form
again with the reason); who may is decided in the service.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.refund_states import STATUS_SAID, RefundKind, RefundStatus
from xiaoer.catalog.models import Sku
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.fulfilment.returns import (
    PAGE,
    WAITING,
    PendingReturn,
    ReceiveLine,
    ReturnFilter,
    destinations,
    do_receive_return,
    return_for,
    returns_of,
)
from xiaoer.fulfilment.roles import WAREHOUSE
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, language_of, render, shown_time
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/fulfilment/returns")

Warehouse = Annotated[StaffAccount, Depends(require_staff(*WAREHOUSE))]

STATES = ("waiting", *WAITING, "received", "all")
EXPORT_LIMIT = 5000


def _state_word(t: Translator, state: str) -> str:
    """A filter's state, or a refund's own status in after-sales' words."""
    if state in RefundStatus.__members__:
        return t.text(STATUS_SAID[RefundStatus(state)])
    return t(f"promise.state_{state}")


WORDS: dict[str, Any] = {
    "state_word": _state_word,
    "kind_word": lambda t, kind: t(f"promise.kind_{RefundKind(kind).value}"),
}


def _filter(request: Request) -> ReturnFilter:
    query = request.query_params
    state = query.get("state", "waiting")
    page = query.get("page", "1")
    return ReturnFilter(
        state=state if state in STATES else "waiting",
        search=query.get("q", "")[:64],
        page=int(page) if page.isdigit() and len(page) < 7 else 1,
    )


def _query(chosen: ReturnFilter, **changes: Any) -> str:
    values = {"state": chosen.state, "q": chosen.search, "page": chosen.page, **changes}
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@router.get("")
async def returns_list(request: Request, session: SessionDep, staff: Warehouse) -> Response:
    """Returns as the filter chooses them; a search that finds one opens it, so a
    scanner reading the parcel's waybill lands on its receiving form."""
    chosen = _filter(request)
    found, total = await returns_of(session, staff, chosen)
    if chosen.search and total == 1:  # a scanned waybill or order number: open its return
        return RedirectResponse(f"/fulfilment/returns/{found[0].refund.id}", status_code=303)
    pages = max(1, -(-total // PAGE))
    context = {
        **WORDS,
        "returns": found,
        "total": total,
        "chosen": chosen,
        "states": STATES,
        "pages": pages,
        "previous": _query(chosen, page=chosen.page - 1) if chosen.page > 1 else "",
        "next": _query(chosen, page=chosen.page + 1) if chosen.page < pages else "",
        "export": _query(chosen, page=""),
    }
    return render(request, "fulfilment/returns.html", context, staff=staff)


def _row(t: Translator, zone: str, item: PendingReturn) -> list[Any]:
    return [
        item.number,
        item.order.platform_order_id,
        item.order.buyer_nick,
        t(f"promise.kind_{item.refund.kind}"),
        _state_word(t, item.refund.status),
        "；".join(
            f"{line.item.title} {line.item.sku_text} ×{line.expected}" for line in item.lines
        ),
        f"{item.refund.return_carrier} {item.refund.return_waybill}".strip(),
        shown_time(item.refund.updated_at, zone, "%Y-%m-%d %H:%M"),
        t("promise.yes") if item.received else "",
    ]


@router.get("/export.xlsx")
async def returns_export(request: Request, session: SessionDep, staff: Warehouse) -> Response:
    """The filtered returns as a workbook, every page of them."""
    chosen = _filter(request)
    found, _ = await returns_of(
        session, staff, ReturnFilter(chosen.state, chosen.search, 1), limit=EXPORT_LIMIT
    )
    t = Translator(language_of(request, staff))
    zone = getattr(request.state, "zone", "Asia/Shanghai")
    columns = ("refund", "order", "buyer", "kind", "state", "items", "waybill", "updated",
               "received")  # fmt: skip
    data = write_sheet(
        t("promise.returns_title"),
        [t(f"promise.col_{key}") for key in columns],
        [_row(t, str(zone), item) for item in found],
    )
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="returns.xlsx"'},
    )


async def _page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    refund_id: int,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pending = await return_for(session, staff, refund_id)
    sku_ids = {move.sku_id for move in pending.moves}
    rows = await session.execute(select(Sku.id, Sku.code).where(Sku.id.in_(sku_ids)))
    codes = {row.id: row.code for row in rows}
    context = {
        **WORDS,
        "item": pending,
        "sku_codes": codes,
        "places": await destinations(session, staff.shop_id),
        "error": error,
        "form": form or {},
        "done": request.query_params.get("done", ""),
    }
    return render(request, "fulfilment/return.html", context, staff=staff, status_code=status_code)


@router.get("/{refund_id}")
async def return_page(
    request: Request, session: SessionDep, staff: Warehouse, refund_id: RowId
) -> Response:
    return await _page(request, session, staff, refund_id)


def _lines(form: dict[str, str]) -> list[ReceiveLine]:
    """``qty_<item>``, ``to_<item>``, ``sku_<item>`` per item of the form; a quantity
    that is not a number is refused by the service as out of range."""
    lines = []
    for key, value in form.items():
        if not key.startswith("qty_") or not key[4:].isdigit():
            continue
        item = key[4:]
        text = value.strip() or "0"
        quantity = int(text) if text.isdigit() and len(text) < 7 else -1
        lines.append(
            ReceiveLine(
                int(item),
                quantity,
                to=form.get(f"to_{item}", "stock")[:16],
                sku_code=form.get(f"sku_{item}", "")[:64],
            )
        )
    return lines


@router.post("/{refund_id}/receive")
async def receive(
    request: Request, session: SessionDep, staff: Warehouse, refund_id: RowId
) -> Response:
    raw = await request.form()
    form = {key: value for key, value in raw.items() if isinstance(value, str)}
    try:
        async with session.begin_nested():
            received = await do_receive_return(
                session,
                staff,
                refund_id,
                _lines(form),
                confirm=form.get("confirm") == "1",
                note=form.get("note", "")[:500],
            )
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        return await _page(
            request, session, staff, refund_id, error=error_text(request, exc), form=form,
            status_code=422,
        )  # fmt: skip
    await session.commit()
    done = "again" if not received.posted else ("confirmed" if received.confirmed else "posted")
    return RedirectResponse(f"/fulfilment/returns/{refund_id}?done={done}", status_code=303)
