"""The orders list (``/orders``) and its workbook: every order of the shop, filtered by
the query string, newest first, a page at a time."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import local
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.render import language_of, render
from xiaoer.orders.access import contact_for
from xiaoer.orders.errors import OrderError
from xiaoer.orders.listing import (
    CHANNELS,
    NOTE_STATES,
    REMINDER_STATES,
    OrderFilter,
    orders_page,
    orders_to_export,
    orders_total,
    parse_filter,
    refund_states,
)
from xiaoer.orders.models import Flag, Order, TradeStatus
from xiaoer.orders.pages import WORDS, flag_word, status_word
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/orders")

Reader = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]

EXPORT_COLUMNS = (
    "number", "created", "paid", "status", "buyer", "receiver", "phone", "total", "paid_fen",
    "refunded", "flag", "owner", "courier", "waybill", "link",
)  # fmt: skip


def _query(chosen: OrderFilter, **changed: str) -> str:
    """The filter's query string with ``changed`` values (empty ones left out)."""
    values = {**chosen.typed, **changed}
    return urlencode([(k, v) for k, v in values.items() if v])


async def _choices(session: AsyncSession, staff: StaffAccount) -> dict[str, Any]:
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    zone = await shop_zone(session, staff.shop_id)
    return {
        "zone": zone,
        "shop_time": lambda at: local(at, zone.key).strftime("%Y-%m-%d %H:%M"),
        "team": team,
        "agents": [s for s in team.values() if s.has_role("agent")],
        "statuses": [s.value for s in TradeStatus],
        "flags": [f.value for f in Flag],
        "channels": CHANNELS,
        "note_states": NOTE_STATES,
        "reminder_states": REMINDER_STATES,
        "refund_states": refund_states(),
    }


def _refused(
    request: Request, staff: StaffAccount, context: dict[str, Any], chosen: OrderFilter
) -> Response:
    """The form again with what was typed and, beside each field, what is wrong."""
    t = Translator(language_of(request, staff))
    context.update(
        chosen=chosen,
        errors={name: t.error(message) for name, message in chosen.errors.items()},
        rows=[],
        counting=False,
        next_query="",
        export_query="",
    )
    return render(request, "orders/list.html", context, staff=staff, status_code=422)


@router.get("", response_class=HTMLResponse)
async def orders_list(request: Request, session: SessionDep, staff: Reader) -> Response:
    """Every order the reader may see, newest first; the query string is the filter."""
    chosen = await parse_filter(session, staff, request.query_params)
    context: dict[str, Any] = {**WORDS, **await _choices(session, staff)}
    if chosen.errors:
        return _refused(request, staff, context, chosen)
    rows, after = await orders_page(session, staff, chosen)
    context.update(
        chosen=chosen,
        errors={},
        rows=[(order, contact_for(staff, order)) for order in rows],
        counting=True,
        next_query=_query(chosen, after=after) if after else "",
        first_query=_query(chosen, after="") if chosen.after else "",
        export_query=_query(chosen, after=""),
    )
    return render(request, "orders/list.html", context, staff=staff)


@router.get("/sum")
async def orders_sum(request: Request, session: SessionDep, staff: Reader) -> Response:
    """The filtered set's count and total, which the list's page asks for once shown:
    over a large set they take longer than the page's rows."""
    chosen = await parse_filter(session, staff, request.query_params)
    t = Translator(language_of(request, staff))
    if chosen.errors:
        errors = {name: t.error(message) for name, message in chosen.errors.items()}
        return JSONResponse({"errors": errors}, status_code=422)
    count, total = await orders_total(session, staff, chosen)
    text = t("orders.list.sum", count=count, total=fen_to_yuan(total))
    return JSONResponse({"count": count, "total_fen": total, "text": text})


def _money(fen: int) -> Decimal:
    return Decimal(fen) / 100


def _export_row(
    t: Translator, base: str, zone: str, order: Order, staff: StaffAccount,
    team: dict[int, StaffAccount],
) -> list[Any]:  # fmt: skip
    owner = team.get(order.owner_id or 0)
    created = local(order.created_at, zone).replace(tzinfo=None)
    paid = local(order.paid_at, zone).replace(tzinfo=None) if order.paid_at else None
    return [
        order.platform_order_id,
        created,
        paid,
        status_word(t, order.status),
        order.buyer_nick,
        order.receiver_name,
        contact_for(staff, order).phone,
        _money(order.total_fen),
        _money(order.paid_fen),
        _money(order.refunded_fen),
        flag_word(t, order.flag),
        f"{owner.name} · {owner.number}" if owner else "",
        order.courier,
        order.tracking_number,
        f"{base}/orders/{order.id}",
    ]


@router.get("/export.xlsx", response_class=HTMLResponse)
async def orders_export(request: Request, session: SessionDep, staff: Reader) -> Response:
    """The filtered set as a workbook: amounts and times as numbers, links absolute."""
    chosen = await parse_filter(session, staff, request.query_params)
    context: dict[str, Any] = {**WORDS, **await _choices(session, staff)}
    if not chosen.errors:
        try:
            orders = await orders_to_export(session, staff, chosen)
        except OrderError as exc:
            chosen.errors["export"] = exc.args[0]
    if chosen.errors:
        return _refused(request, staff, context, chosen)
    t = Translator(language_of(request, staff))
    team = context["team"]
    base = str(request.base_url).rstrip("/")
    data = write_sheet(
        t("orders.list.title"),
        [t(f"orders.list.col_{key}") for key in EXPORT_COLUMNS],
        [_export_row(t, base, context["zone"].key, order, staff, team) for order in orders],
    )
    shop = await session.get(Shop, staff.shop_id)
    name = f"orders-{shop.code if shop else staff.shop_id}.xlsx"
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
