"""The parcels' pages (F5, O10): the supervisor's late and problem parcels with their
export, one parcel's timeline, and an agent's own orders' health with the chase.

Routes parse, call a service of :mod:`xiaoer.fulfilment.parcels`, commit and redirect
(or show the page again with the reason); who may do what is decided there.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import local, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.sheets import XLSX_TYPE, csv_writer, write_sheet
from xiaoer.fulfilment.carriers import BY_CODE, carrier_name
from xiaoer.fulfilment.parcels import (
    MAX_EXPORT,
    PAGE,
    Health,
    ParcelError,
    ParcelFilter,
    Trouble,
    do_chase,
    do_mark_not_received,
    orders_health,
    parcel_view,
    trouble_counts,
    troubled_parcels,
    troubles_of,
)
from xiaoer.fulfilment.roles import PARCEL_READERS, STOCK_READERS
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, language_of, render
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/fulfilment")

Supervisor = Annotated[StaffAccount, Depends(require_staff(*STOCK_READERS))]
Reader = Annotated[StaffAccount, Depends(require_staff(*PARCEL_READERS))]
Agent = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]

EXPORT_COLUMNS = (
    "order", "carrier", "waybill", "status", "trouble", "problem", "ship_by", "shipped_at",
    "deliver_by", "last_scan", "agent", "chased_at",
)  # fmt: skip


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 12 else None


def _filter(request: Request) -> ParcelFilter:
    """The list's filter from the query; what does not parse filters nothing."""
    query = request.query_params
    kind = query.get("kind", "")
    carrier = query.get("carrier", "").strip().upper()
    return ParcelFilter(
        kind=Trouble(kind) if kind in {k.value for k in Trouble} else None,
        carrier=carrier if carrier in BY_CODE else "",
        agent_id=_number(query.get("agent", "")),
        q=query.get("q", "").strip()[:64],
        after=_number(query.get("after", "")),
    )


def _query(chosen: ParcelFilter, **changed: str) -> str:
    values = {**chosen.typed, **changed}
    return urlencode([(k, v) for k, v in values.items() if v])


async def _team(session: AsyncSession, shop_id: int) -> dict[int, StaffAccount]:
    return {s.id: s for s in await list_staff(session, shop_id)}


def _word(t: Translator, group: str, key: object) -> str:
    name = f"track.{group}.{key}"
    return t(name) if name in t.messages else str(key)


WORDS: dict[str, Any] = {"word": _word, "carrier_name": carrier_name}


# --- the supervisor's view --------------------------------------------------------------


@router.get("/parcels", response_class=HTMLResponse)
async def parcels(request: Request, session: SessionDep, staff: Supervisor) -> Response:
    """Late shipments, late deliveries and problem parcels, filtered and a page at a time."""
    chosen = _filter(request)
    now = utcnow()
    rows = await troubled_parcels(session, staff, chosen, now=now, limit=PAGE + 1)
    team = await _team(session, staff.shop_id)
    context = {
        **WORDS,
        "chosen": chosen,
        "rows": [(s, o, troubles_of(s, now)) for s, o in rows[:PAGE]],
        "counts": await trouble_counts(session, staff, chosen, now),
        "kinds": [k.value for k in Trouble],
        "carriers": sorted(BY_CODE),
        "agents": [s for s in team.values() if s.has_role("agent")],
        "team": team,
        "next_query": _query(chosen, after=str(rows[PAGE - 1][0].id)) if len(rows) > PAGE else "",
        "export_query": _query(chosen),
    }
    return render(request, "fulfilment/parcels.html", context, staff=staff)


def _at(value: datetime | None, zone: str) -> datetime | None:
    return local(value, zone).replace(tzinfo=None) if value is not None else None


async def _export_rows(
    session: AsyncSession, staff: StaffAccount, request: Request
) -> tuple[list[str], list[list[Any]], str]:
    t = Translator(language_of(request, staff))
    chosen = _filter(request)
    chosen.after = None
    now = utcnow()
    found = await troubled_parcels(session, staff, chosen, now=now, limit=MAX_EXPORT)
    team = await _team(session, staff.shop_id)
    zone = (await shop_zone(session, staff.shop_id)).key
    rows = []
    for shipment, order in found:
        owner = team.get(order.owner_id or 0)
        rows.append([
            order.platform_order_id, carrier_name(shipment.carrier), shipment.waybill,
            _word(t, "status", shipment.status),
            " ".join(_word(t, "trouble", k) for k in troubles_of(shipment, now)),
            _word(t, "problem", shipment.problem) if shipment.problem else "",
            _at(shipment.ship_by, zone), _at(shipment.shipped_at, zone),
            _at(shipment.deliver_by, zone), _at(shipment.last_scan_at, zone),
            f"{owner.name} · {owner.number}" if owner else "", _at(shipment.chased_at, zone),
        ])  # fmt: skip
    shop = await session.get(Shop, staff.shop_id)
    name = f"parcels-{shop.code if shop else staff.shop_id}"
    return [t(f"track.col.{c}") for c in EXPORT_COLUMNS], rows, name


@router.get("/parcels/export.xlsx")
async def parcels_xlsx(request: Request, session: SessionDep, staff: Supervisor) -> Response:
    headers, rows, name = await _export_rows(session, staff, request)
    t = Translator(language_of(request, staff))
    data = write_sheet(t("track.parcels_title"), headers, rows)
    disposition = f'attachment; filename="{name}.xlsx"'
    return Response(data, media_type=XLSX_TYPE, headers={"Content-Disposition": disposition})


@router.get("/parcels/export.csv")
async def parcels_csv(request: Request, session: SessionDep, staff: Supervisor) -> Response:
    headers, rows, name = await _export_rows(session, staff, request)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    disposition = f'attachment; filename="{name}.csv"'
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


# --- one parcel -------------------------------------------------------------------------


async def _parcel_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    shipment_id: int,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    view = await parcel_view(session, staff, shipment_id)
    team = await _team(session, staff.shop_id)
    context = {
        **WORDS,
        "view": view,
        "troubles": troubles_of(view.shipment, utcnow()),
        "owner": team.get(view.order.owner_id or 0),
        "error": error,
        "leader": is_leader(staff),
    }
    return render(request, "fulfilment/parcel.html", context, staff=staff, status_code=status_code)


@router.get("/parcels/{shipment_id}", response_class=HTMLResponse)
async def parcel(
    request: Request, session: SessionDep, staff: Reader, shipment_id: RowId
) -> Response:
    """A parcel's timeline: scans newest first, its orders, dates, problem and case."""
    return await _parcel_page(request, session, staff, shipment_id)


async def _acted(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    shipment_id: int,
    action: Any,
    back: str,
) -> Response:
    """Run an action in a savepoint; a rule's refusal leaves nothing of it and shows the
    parcel again with the reason. Who-may refusals go to their own handlers."""
    try:
        async with session.begin_nested():
            await action
    except (NotPermitted, NotFound):
        raise
    except ParcelError as exc:
        message = error_text(request, exc)
        return await _parcel_page(request, session, staff, shipment_id, error=message,
                                  status_code=409)  # fmt: skip
    await session.commit()
    target = "/fulfilment/health" if back == "health" else f"/fulfilment/parcels/{shipment_id}"
    return RedirectResponse(target, status_code=303)


Back = Annotated[str, Form(max_length=16)]


@router.post("/parcels/{shipment_id}/chase")
async def chase(
    request: Request, session: SessionDep, staff: Agent, shipment_id: RowId, back: Back = ""
) -> Response:
    """Chase the warehouse on a late parcel of one's own order."""
    action = do_chase(session, staff, shipment_id)
    return await _acted(request, session, staff, shipment_id, action, back)


@router.post("/parcels/{shipment_id}/not-received")
async def not_received(
    request: Request,
    session: SessionDep,
    staff: Agent,
    shipment_id: RowId,
    note: Annotated[str, Form(max_length=500)] = "",
    back: Back = "",
) -> Response:
    """The buyer says the parcel signed for never came: a problem parcel with its case."""
    action = do_mark_not_received(session, staff, shipment_id, note)
    return await _acted(request, session, staff, shipment_id, action, back)


# --- an agent's own orders' health ---------------------------------------------------------


@router.get("/health", response_class=HTMLResponse)
async def health(request: Request, session: SessionDep, staff: Agent) -> Response:
    """The agent's own orders' parcels: on time or late, shipped and arrived, problems."""
    query = request.query_params
    show = query.get("show", "")
    agent_id = _number(query.get("agent", ""))
    view = await orders_health(
        session, staff, agent_id=agent_id,
        show=Health(show) if show in {h.value for h in Health} else None,
        after=_number(query.get("after", "")),
    )  # fmt: skip
    team = await _team(session, staff.shop_id)
    chosen = {"agent": str(view.agent_id or "") if is_leader(staff) else "",
              "show": view.show.value if view.show else ""}  # fmt: skip
    context = {
        **WORDS,
        "view": view,
        "healths": [h.value for h in Health],
        "chosen": chosen,
        "leader": is_leader(staff),
        "agents": [s for s in team.values() if s.has_role("agent")],
        "team": team,
        "late": {Health.late_to_ship, Health.arrived_late},
        "next_query": urlencode({**chosen, "after": view.next_after}) if view.next_after else "",
    }
    return render(request, "fulfilment/health.html", context, staff=staff)
