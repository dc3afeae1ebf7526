"""The auditor's pages (F1, O9): the queue, the check page with its actions, and the
production slips.

Routes parse, call a service of :mod:`xiaoer.fulfilment.audit` or
:mod:`~xiaoer.fulfilment.audit_actions`, commit and redirect (or show the page again
with the refusal); who may do what is decided in the services.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.core.texts import from_data
from xiaoer.fulfilment import ledger
from xiaoer.fulfilment.audit import (
    OPEN,
    QueueFilter,
    audit_for,
    parcels_of,
    queue_counts,
    queue_rows,
    refresh,
    refresh_unjudged,
    sync_queue,
)
from xiaoer.fulfilment.audit_actions import (
    do_hold,
    do_merge,
    do_pass,
    do_pass_clean,
    do_release_hold,
    do_split,
    locations_of,
    merge_candidates,
)
from xiaoer.fulfilment.audit_rules import RULE_SAID, RULES, WARNINGS
from xiaoer.fulfilment.models import AuditStatus, OrderAudit, SlipStatus
from xiaoer.fulfilment.production import SLIP_READERS, do_mark_made, slip_for, slips_of
from xiaoer.fulfilment.roles import AUDITORS, WAREHOUSE
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import language_of, refused, render, shown_time
from xiaoer.orders.access import contact_for
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/fulfilment/audit")

# Auditors and leaders work the queue; an agent reads the holds given to them.
Reader = Annotated[StaffAccount, Depends(require_staff(*AUDITORS, "agent"))]
Auditor = Annotated[StaffAccount, Depends(require_staff(*AUDITORS))]
SlipReader = Annotated[StaffAccount, Depends(require_staff(*SLIP_READERS))]
Maker = Annotated[StaffAccount, Depends(require_staff(*WAREHOUSE))]
Reason = Annotated[str, Form(max_length=500)]

PAGE = 50
TABS = (AuditStatus.waiting.value, AuditStatus.held.value, AuditStatus.passed.value)
EXPORT_COLUMNS = ("order", "buyer", "paid", "total", "status", "flags", "ship_by", "owner",
                  "reason")  # fmt: skip


def _rule_said(t: Translator, rule: str) -> str:
    said = RULE_SAID.get(rule)
    return t.text(said) if said is not None else rule


def _flag_detail(t: Translator, flag: dict[str, Any]) -> str:
    return t.text(from_data(flag.get("detail", "")))


def _left(t: Translator, due: datetime | None, now: datetime) -> str:
    """The ship-by countdown: hours left, or how late."""
    if due is None:
        return ""
    hours = int((due - now).total_seconds() // 3600)
    if due < now:
        return t("audit.late_by", hours=max(1, -hours))
    return t("audit.hours_left", hours=hours)


WORDS: dict[str, Any] = {
    "rule_said": _rule_said,
    "flag_detail": _flag_detail,
    "left": _left,
    "warnings": WARNINGS,
}


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) < 12 else None


def _page_number(text: str) -> int:
    number = _number(text)
    return min(number, 10_000) if number else 1


async def _team(session: AsyncSession, shop_id: int) -> dict[int, StaffAccount]:
    return {s.id: s for s in await list_staff(session, shop_id)}


def _filter(
    staff: StaffAccount, status: str, rule: str, owner: str, q: str, page: str
) -> QueueFilter:
    owner_id = staff.id if owner == "me" else _number(owner)
    return QueueFilter(
        status=status if status in {s.value for s in AuditStatus} else "",
        rule=rule if rule in RULES else "",
        owner_id=owner_id,
        q=q.strip()[:64],
        page=_page_number(page),
    )


def _query(chosen: QueueFilter, owner: str, **changed: str) -> str:
    values = {"status": chosen.status, "rule": chosen.rule, "owner": owner, "q": chosen.q,
              "page": str(chosen.page), **changed}  # fmt: skip
    return urlencode([(k, v) for k, v in values.items() if v and not (k == "page" and v == "1")])


@router.get("", response_class=HTMLResponse)
async def queue(
    request: Request,
    session: SessionDep,
    staff: Reader,
    status: str = "",
    rule: str = "",
    owner: str = "",
    q: str = "",
    page: str = "",
    done: str = "",
) -> Response:
    """The queue by tab, filtered and searched, the most urgent first."""
    if not status and "status" not in request.query_params:
        status = AuditStatus.waiting.value if staff.has_role(*AUDITORS) else ""
    owner = owner[:12]
    chosen = _filter(staff, status[:16], rule[:32], owner, q, page)
    if staff.has_role(*AUDITORS):
        await sync_queue(session, staff.shop_id)
        await refresh_unjudged(session, staff.shop_id)
    rows = await queue_rows(session, staff, chosen, limit=PAGE + 1, offset=(chosen.page - 1) * PAGE)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    await refresh(session, staff.shop_id, [r for r in rows if r[0].checks == {}])
    counts = await queue_counts(session, staff)
    team = await _team(session, staff.shop_id)
    context = {
        **WORDS,
        "rows": rows,
        "chosen": chosen,
        "owner": owner,
        "tabs": TABS,
        "counts": counts,
        "rules": RULES,
        "team": team,
        "owners": [s for s in team.values() if s.has_role("agent") and s.active],
        "auditing": staff.has_role(*AUDITORS),
        "clean": [o.id for a, o in rows if a.status == AuditStatus.waiting.value and not a.flags],
        "tab_query": lambda tab: _query(chosen, owner, status=tab, page="1"),
        "next_query": _query(chosen, owner, page=str(chosen.page + 1)) if more else "",
        "prev_query": _query(chosen, owner, page=str(chosen.page - 1)) if chosen.page > 1 else "",
        "export_query": _query(chosen, owner, page="1"),
        "done": _number(done),
        "now": utcnow(),
    }
    response = render(request, "fulfilment/audit_queue.html", context, staff=staff)
    await session.commit()  # the rows the queue found missing, and their flags, as shown
    return response


@router.get("/export.xlsx")
async def queue_export(
    request: Request,
    session: SessionDep,
    staff: Reader,
    status: str = "",
    rule: str = "",
    owner: str = "",
    q: str = "",
) -> Response:
    """The filtered queue as a workbook (up to 10,000 rows)."""
    chosen = _filter(staff, status, rule[:32], owner[:12], q, "1")
    rows = await queue_rows(session, staff, chosen, limit=10_000)
    t = Translator(language_of(request, staff))
    team = await _team(session, staff.shop_id)
    zone = (await shop_zone(session, staff.shop_id)).key
    data = write_sheet(
        t("audit.title"),
        [t(f"audit.col.{key}") for key in EXPORT_COLUMNS],
        [_export_row(t, audit, order, team, zone) for audit, order in rows],
    )
    disposition = {"Content-Disposition": 'attachment; filename="audit.xlsx"'}
    return Response(data, media_type=XLSX_TYPE, headers=disposition)


def _export_row(
    t: Translator, audit: OrderAudit, order: Order, team: dict[int, StaffAccount], zone: str
) -> list[Any]:
    owner = team.get(audit.owner_id or 0)
    return [
        order.platform_order_id,
        order.buyer_nick,
        shown_time(order.paid_at, zone, "%Y-%m-%d %H:%M"),
        order.total_fen / 100,
        t(f"audit.status.{audit.status}"),
        "; ".join(_rule_said(t, f["rule"]) for f in audit.flags),
        shown_time(audit.ship_by, zone, "%Y-%m-%d %H:%M"),
        f"{owner.name} · {owner.number}" if owner else "",
        audit.reason,
    ]


@router.post("/pass-clean")
async def pass_clean(request: Request, session: SessionDep, staff: Auditor) -> Response:
    """Pass every order of the shown page that waits with no flag."""
    form = await request.form()
    ids = [n for n in (_number(str(v)) for v in form.getlist("order")[:PAGE]) if n is not None]
    passed = await do_pass_clean(session, staff, ids)
    await session.commit()
    return RedirectResponse(f"/fulfilment/audit?done={passed}", status_code=303)


# --- production slips --------------------------------------------------------------------


@router.get("/slips", response_class=HTMLResponse)
async def slips(
    request: Request, session: SessionDep, staff: SlipReader, status: str = "", page: str = ""
) -> Response:
    """The production list: slips sent, made or withdrawn, newest first."""
    chosen = status if status in {s.value for s in SlipStatus} else ""
    number = _page_number(page)
    rows = await slips_of(session, staff, chosen, limit=PAGE + 1, offset=(number - 1) * PAGE)
    context = {
        "rows": rows[:PAGE],
        "status": chosen,
        "statuses": [s.value for s in SlipStatus],
        "page": number,
        "more": len(rows) > PAGE,
        "making": staff.has_role(*WAREHOUSE),
    }
    return render(request, "fulfilment/audit_slips.html", context, staff=staff)


@router.get("/slips/{slip_id}", response_class=HTMLResponse)
async def slip_page(
    request: Request, session: SessionDep, staff: SlipReader, slip_id: RowId
) -> Response:
    """One slip, to print for production."""
    slip, order = await slip_for(session, staff, slip_id)
    context = {"slip": slip, "order": order, "making": staff.has_role(*WAREHOUSE)}
    return render(request, "fulfilment/audit_slip.html", context, staff=staff)


@router.post("/slips/{slip_id}/made")
async def slip_made(
    request: Request, session: SessionDep, staff: Maker, slip_id: RowId
) -> Response:
    await do_mark_made(session, staff, slip_id)
    await session.commit()
    return RedirectResponse(f"/fulfilment/audit/slips/{slip_id}", status_code=303)


# --- the check page ----------------------------------------------------------------------


async def _check_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    audit, order = await audit_for(session, staff, order_id)
    items = list(
        await session.scalars(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        )
    )
    sku_ids = [i.sku_id for i in items if i.sku_id is not None]
    available = await ledger.available(session, staff.shop_id, sku_ids) if sku_ids else {}
    locations = await locations_of(session, staff.shop_id)
    skus = (
        {s.id: s for s in await session.scalars(select(Sku).where(Sku.id.in_(sku_ids)))}
        if sku_ids
        else {}
    )
    team = await _team(session, staff.shop_id)
    merged_into = await session.get(Order, audit.merged_into) if audit.merged_into else None
    auditing = staff.has_role(*AUDITORS)
    context = {
        **WORDS,
        "audit": audit,
        "order": order,
        "contact": contact_for(staff, order),
        "items": items,
        "checks": {c["item_id"]: c for c in audit.checks.get("items", [])},
        "note": audit.checks.get("note"),
        "note_text": audit.checks.get("note_text", ""),
        "available": available,
        "skus": skus,
        "locations": locations,
        "parcels": await parcels_of(session, order.id),
        "candidates": await merge_candidates(session, staff, audit, order) if auditing else [],
        "merged_into": merged_into,
        "team": team,
        "owners": [s for s in team.values() if s.has_role("agent") and s.active],
        "blocking": [f for f in audit.flags if f["rule"] not in WARNINGS],
        "auditing": auditing,
        "open": audit.status in OPEN,
        "releasable": audit.status == AuditStatus.held.value
        and (auditing or audit.owner_id == staff.id),
        "error": error,
        "now": utcnow(),
    }
    response = render(
        request, "fulfilment/audit_check.html", context, staff=staff, status_code=status_code
    )
    await session.commit()  # the flags as judged on opening
    return response


@router.get("/{order_id}", response_class=HTMLResponse)
async def check_page(
    request: Request, session: SessionDep, staff: Reader, order_id: RowId
) -> Response:
    return await _check_page(request, session, staff, order_id)


async def _acted(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    action: Awaitable[Any],
) -> Response:
    """Run the action in a savepoint; when a rule refuses it, nothing of it stays and
    the check page shows why. Who-may refusals go to their own handlers."""
    message = await refused(request, session, action)
    if message is not None:
        return await _check_page(request, session, staff, order_id, error=message,
                                 status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/fulfilment/audit/{order_id}", status_code=303)


@router.post("/{order_id}/pass")
async def pass_order(
    request: Request, session: SessionDep, staff: Auditor, order_id: RowId, override: Reason = ""
) -> Response:
    return await _acted(request, session, staff, order_id,
                        do_pass(session, staff, order_id, override=override))  # fmt: skip


@router.post("/{order_id}/hold")
async def hold(
    request: Request,
    session: SessionDep,
    staff: Auditor,
    order_id: RowId,
    reason: Reason = "",
    owner: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    action = do_hold(session, staff, order_id, reason=reason, owner_id=_number(owner))
    return await _acted(request, session, staff, order_id, action)


@router.post("/{order_id}/release")
async def release(
    request: Request, session: SessionDep, staff: Reader, order_id: RowId
) -> Response:
    return await _acted(request, session, staff, order_id,
                        do_release_hold(session, staff, order_id))  # fmt: skip


@router.post("/{order_id}/merge")
async def merge(request: Request, session: SessionDep, staff: Auditor, order_id: RowId) -> Response:
    form = await request.form()
    others = [n for n in (_number(str(v)) for v in form.getlist("other")[:50]) if n is not None]
    return await _acted(request, session, staff, order_id,
                        do_merge(session, staff, order_id, others))  # fmt: skip


@router.post("/{order_id}/split")
async def split(request: Request, session: SessionDep, staff: Auditor, order_id: RowId) -> Response:
    """Each line's location, from fields ``line-<item id>`` = location id."""
    form = await request.form()
    plan: dict[int, int] = {}
    for name, value in list(form.items())[:200]:
        if name.startswith("line-") and isinstance(value, str):
            item, location = _number(name[5:]), _number(value)
            if item is not None and location is not None:
                plan[item] = location
    override = str(form.get("override") or "")[:500]
    action = do_split(session, staff, order_id, plan, override=override)
    return await _acted(request, session, staff, order_id, action)
