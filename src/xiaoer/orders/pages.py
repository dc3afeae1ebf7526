"""The order pages (O2–O9): my tasks, one order with its note, flag and tasks,
the production slip (制作单) and the platform memo export."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.models import AuditEntry
from xiaoer.core.money import MoneyError, typed_fen
from xiaoer.core.sheets import csv_writer
from xiaoer.core.texts import message_of
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, language_of, render, shown_time
from xiaoer.orders.access import contact_for, may_act
from xiaoer.orders.changes import (
    ChangeRequest,
    change_for,
    change_reasons,
    changeable_parts,
    changes_of,
    changes_to_decide,
    do_change_order,
    do_decide_change,
)
from xiaoer.orders.errors import OrderError
from xiaoer.orders.marks import (
    current_note,
    do_flag,
    do_write_note,
    memo_for,
    note_deadline,
    note_versions,
)
from xiaoer.orders.models import (
    STATUS_TEXTS,
    Order,
    OrderChange,
    OrderTask,
    SellerNote,
    TaskKind,
    TaskStatus,
)
from xiaoer.orders.notes import FLAG_COLOURS, memo_cell, stored_message
from xiaoer.orders.service import order_by_platform_id, order_for
from xiaoer.orders.tasks import (
    TASK_OUTCOMES,
    do_finish_task,
    do_send_task_message,
    task_for,
    task_message_for,
    tasks_for,
    unconfirmed_for,
)
from xiaoer.reception.errors import NeedsApproval, ReceptionError
from xiaoer.shops.models import Shop
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/orders")

Worker = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]
SlipReader = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS, "warehouse"))]
Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]

# The seller centre's words for each state: the first export text of each (DOMAIN.md).
STATUS_WORDS: dict[str, str] = {}
for _text, _status in STATUS_TEXTS.items():
    STATUS_WORDS.setdefault(_status.value, _text)

SENDS_MESSAGE = (TaskKind.confirm.value, TaskKind.remind.value)
ADDRESS_SHOWN = 6  # characters of the address a non-owner sees
Errors = (OrderError, ReceptionError)


# --- words -------------------------------------------------------------------------


def word(t: Translator, group: str, key: object) -> str:
    """``orders.<group>.<key>`` in the reader's language; the key itself when unknown."""
    name = f"orders.{group}.{str(key).replace(' ', '_')}"
    return t(name) if name in t.messages else str(key)


def status_word(t: Translator, status: str) -> str:
    if t.language == "zh":
        return STATUS_WORDS.get(status, status)
    return t(f"status.{status}") if f"status.{status}" in t.messages else status


def flag_word(t: Translator, flag: object) -> str:
    if isinstance(flag, int) and 0 <= flag < len(FLAG_COLOURS):
        return t(f"orders.flag.{FLAG_COLOURS[flag]}")
    return str(flag)


@pass_context
def iso_time(context: Context, value: object) -> str:
    """A time (or one kept as ISO text in a task's evidence) on the page's shop clock."""
    moment = value if isinstance(value, datetime) else str(value or "")
    return shown_time(moment, context.get("zone") or DEFAULT_ZONE, "%Y-%m-%d %H:%M")


# The helpers templates call (with their ``t``).
def note_error_text(t: Translator, error: dict[str, Any]) -> str:
    """A kept note error's message in the reader's language (English for an older note)."""
    return t.text(stored_message(error))


def change_reason_texts(t: Translator, change: OrderChange) -> list[str]:
    """Why a change waits for the supervisor, in the reader's language."""
    return [t.text(why) for why in change_reasons(change)]


WORDS: dict[str, Any] = {
    "word": word,
    "status_word": status_word,
    "flag_word": flag_word,
    "iso_time": iso_time,
    "note_error_text": note_error_text,
    "change_reason_texts": change_reason_texts,
}


# --- loading -------------------------------------------------------------------------


async def _staff_by_id(session: AsyncSession, shop_id: int) -> dict[int, StaffAccount]:
    return {s.id: s for s in await list_staff(session, shop_id)}


async def _timeline(
    session: AsyncSession, t: Translator, order: Order, staff: dict[int, StaffAccount]
) -> list[dict[str, Any]]:
    """The order's stamps and every audited change to it, oldest first."""
    rows: list[dict[str, Any]] = [
        {"at": at, "what": t(f"orders.stamp_{name}"), "who": "", "detail": ""}
        for name, at in (
            ("created", order.created_at),
            ("paid", order.paid_at),
            ("shipped", order.shipped_at),
            ("finished", order.finished_at),
            ("closed", order.closed_at),
        )
        if at is not None
    ]
    if order.closed_at is not None and order.close_reason:
        rows[-1]["detail"] = order.close_reason
    audits = await session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.shop_id == order.shop_id,
            AuditEntry.entity == "order",
            AuditEntry.entity_id == order.platform_order_id,
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    for entry in audits:
        if entry.action.startswith("task "):
            what = f"{t('orders.audit.task')} · {word(t, 'kind', entry.action[5:])}"
        else:
            what = word(t, "audit", entry.action)
        rows.append(
            {
                "at": entry.at,
                "what": what,
                "who": entry.actor,
                "detail": _audit_detail(t, entry, staff),
            }
        )
    return sorted(rows, key=lambda row: row["at"])


def _audit_detail(t: Translator, entry: AuditEntry, staff: dict[int, StaffAccount]) -> str:
    before, after = entry.before or {}, entry.after or {}
    if entry.action == "status":
        was, now = str(before.get("status")), str(after.get("status"))
        text = f"{status_word(t, was)} → {status_word(t, now)}"
    elif entry.action == "flag":
        owner = staff.get(after.get("owner_id") or 0)
        text = f"{flag_word(t, before.get('flag'))} → {flag_word(t, after.get('flag'))}"
        text += f" · {owner.name}" if owner else ""
    elif entry.action.startswith("note"):
        text = str(after.get("note", ""))
    elif entry.action.startswith("task "):
        text = word(t, "outcome", after.get("outcome", ""))
    else:
        text = ""
    if entry.reason and entry.action != "flag":
        text += f"（{entry.reason}）" if text else entry.reason
    return text


async def _prefills(
    session: AsyncSession, staff: StaffAccount, tasks: list[OrderTask]
) -> dict[int, str]:
    """The text each open confirmation or reminder the reader may send would send."""
    texts: dict[int, str] = {}
    for task in tasks:
        if task.status == TaskStatus.open.value and task.kind in SENDS_MESSAGE:
            try:
                texts[task.id] = await task_message_for(session, staff, task)
            except OrderError:
                continue
    return texts


async def _order_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    order: Order,
    *,
    status_code: int = 200,
    **forms: Any,
) -> Response:
    """The order page; ``forms`` carries an action's error and what was typed."""
    t = Translator(language_of(request, staff))
    team = await _staff_by_id(session, staff.shop_id)
    versions = await note_versions(session, order.id)
    note = versions[-1] if versions else None
    tasks = list(
        await session.scalars(
            select(OrderTask).where(OrderTask.order_id == order.id).order_by(OrderTask.id)
        )
    )
    acting = [task for task in tasks if may_act(staff, order, task)]
    prefills = await _prefills(session, staff, acting)
    prefills.update(forms.pop("task_texts", {}))
    contact = contact_for(staff, order)
    context: dict[str, Any] = {
        **WORDS,
        "order": order,
        "phone": contact.phone,
        "address": contact.address,
        "owner": team.get(order.owner_id or 0),
        "team": team,
        "versions": versions,
        "note": note,
        "note_due": await note_deadline(session, order, versions),
        "tasks": tasks,
        "acting": {task.id for task in acting},
        "prefills": prefills,
        "outcomes": TASK_OUTCOMES,
        "sends_message": SENDS_MESSAGE,
        "memo": memo_for(order, note, versions),
        "timeline": await _timeline(session, t, order, team),
        "flags": range(len(FLAG_COLOURS)),
        "note_error": None,
        "note_text": "",
        "note_reason": "",
        "flag_error": None,
        "task_error": None,
        "task_error_id": None,
        "changes": await changes_of(session, order.id),
        "may_change": may_act(staff, order) and bool(changeable_parts(order)),
        "changeable": changeable_parts(order),
        "change_error": None,
    }
    context.update(forms)
    return render(request, "orders/detail.html", context, staff=staff, status_code=status_code)


def _back(order_id: int) -> Response:
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


def _error_text(request: Request, t: Translator, exc: Exception) -> str:
    """The error in the reader's language; a message waiting for approval says so first."""
    if isinstance(exc, NeedsApproval):
        return f"{t('orders.needs_approval')}: {error_text(request, exc)}"
    return error_text(request, exc)


# --- the list of my tasks (before /{order_id}, which would take its path) --------------


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(
    request: Request, session: SessionDep, staff: Worker, q: str = "", agent: str = ""
) -> Response:
    """My open tasks and the paid orders still unconfirmed; the search box opens an order."""
    number = q.strip()
    if number:
        found = await order_by_platform_id(session, staff.shop_id, number)
        if found is None:
            t = Translator(language_of(request, staff))
            message = t("orders.no_such_order", number=number)
            return render(request, "error.html", {"message": message}, staff=staff, status_code=404)
        return _back(found.id)
    leader = is_leader(staff)
    chosen = int(agent) if leader and agent.isdigit() else None
    team = await _staff_by_id(session, staff.shop_id)
    context = {
        **WORDS,
        "tasks": await tasks_for(session, staff, chosen),
        "pending_changes": await changes_to_decide(session, staff),
        "unconfirmed": await unconfirmed_for(session, staff),
        "team": team,
        "agents": [s for s in team.values() if s.has_role("agent")],
        "leader": leader,
        "chosen": chosen,
    }
    return render(request, "orders/tasks.html", context, staff=staff)


# --- the memo export (before /{order_id}, which would take its path) ------------------


def _day_start(text: str, zone: str) -> datetime | None:
    """Shop-local midnight of ``YYYY-MM-DD`` (today when blank); None when not a date."""
    try:
        day = date.fromisoformat(text) if text else utcnow().astimezone(ZoneInfo(zone)).date()
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


async def _memo_rows(session: AsyncSession, shop_id: int, since: datetime) -> list[list[str]]:
    """tid, flag, memo of every order whose note or flag changed since ``since``."""
    noted = select(SellerNote.order_id).where(
        SellerNote.shop_id == shop_id, SellerNote.created_at >= since
    )
    flagged = select(AuditEntry.entity_id).where(
        AuditEntry.shop_id == shop_id,
        AuditEntry.entity == "order",
        AuditEntry.action == "flag",
        AuditEntry.at >= since,
    )
    orders = list(
        await session.scalars(
            select(Order)
            .where(
                Order.shop_id == shop_id,
                or_(Order.id.in_(noted), Order.platform_order_id.in_(flagged)),
            )
            .order_by(Order.id)
        )
    )
    notes: dict[int, list[SellerNote]] = {o.id: [] for o in orders}
    for note in await session.scalars(
        select(SellerNote)
        .where(SellerNote.order_id.in_(list(notes)))
        .order_by(SellerNote.order_id, SellerNote.version)
    ):
        notes[note.order_id].append(note)
    rows = []
    for order in orders:
        history = notes[order.id]
        memo = memo_for(order, history[-1] if history else None, history)
        rows.append([str(memo["tid"]), str(memo["flag"]), memo_cell(str(memo["memo"]))])
    return rows


@router.get("/memos.csv")
async def memos_csv(
    request: Request, session: SessionDep, staff: Leader, since: str = ""
) -> Response:
    """Notes and flags in the platform's memo form, for its batch memo import."""
    shop = await session.get(Shop, staff.shop_id)
    start = _day_start(since.strip(), shop.timezone if shop else DEFAULT_ZONE)
    if start is None:
        t = Translator(language_of(request, staff))
        message = t("orders.bad_date", value=since)
        return render(request, "error.html", {"message": message}, staff=staff, status_code=422)
    out = io.StringIO()
    writer = csv_writer(out)  # tid and flag are digits, left as they are
    writer.writerow(["tid", "flag", "memo"])
    writer.writerows(await _memo_rows(session, staff.shop_id, start))
    name = f"memos-{start.date().isoformat()}.csv"
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- one order ---------------------------------------------------------------------


@router.get("/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request, session: SessionDep, staff: Worker, order_id: RowId
) -> Response:
    order = await order_for(session, staff, order_id)
    return await _order_page(request, session, staff, order)


@router.post("/{order_id}/note", response_class=HTMLResponse)
async def write_note(
    request: Request,
    session: SessionDep,
    staff: Worker,
    order_id: RowId,
    text: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The note, or a new version of it; any agent of the shop may write it (O3)."""
    order = await order_for(session, staff, order_id)
    try:
        await do_write_note(session, order=order, author=staff, text=text, reason=reason)
    except OrderError as exc:
        return await _order_page(
            request, session, staff, order, status_code=422,
            note_error=error_text(request, exc), note_text=text, note_reason=reason,
        )  # fmt: skip
    await session.commit()
    return _back(order.id)


@router.post("/{order_id}/flag", response_class=HTMLResponse)
async def flag_order(
    request: Request,
    session: SessionDep,
    staff: Worker,
    order_id: RowId,
    flag: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Flag the order as this agent's sale; the service says who may (O4, O5)."""
    order = await order_for(session, staff, order_id)
    try:
        number = int(flag) if flag.strip().isdigit() else -1
        await do_flag(session, order=order, agent=staff, flag=number)
    except ValueError as exc:  # OrderError, or a flag that is not 0–5
        return await _order_page(
            request, session, staff, order, status_code=422, flag_error=error_text(request, exc)
        )
    await session.commit()
    return _back(order.id)


def _fen(text: str) -> int | None:
    """A yuan amount typed in a form (``128``, ``128.5``) in fen; empty means unchanged."""
    try:
        return typed_fen(text)
    except MoneyError as exc:
        raise OrderError(message_of(exc)) from exc


@router.post("/{order_id}/change", response_class=HTMLResponse)
async def change_order(
    request: Request,
    session: SessionDep,
    staff: Worker,
    order_id: RowId,
    reason: Annotated[str, Form(max_length=500)] = "",
    goods: Annotated[str, Form(max_length=16)] = "",
    postage: Annotated[str, Form(max_length=16)] = "",
    receiver_name: Annotated[str, Form(max_length=64)] = "",
    receiver_phone: Annotated[str, Form(max_length=32)] = "",
    receiver_address: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Price, shipping fee or address: made at once within authority, else asked of the
    supervisor (O8)."""
    order = await order_for(session, staff, order_id)
    try:
        request_ = ChangeRequest(
            goods_fen=_fen(goods),
            postage_fen=_fen(postage),
            receiver_name=receiver_name.strip() or None,
            receiver_phone=receiver_phone.strip() or None,
            receiver_address=receiver_address.strip() or None,
            reason=reason,
        )
        await do_change_order(session, order=order, agent=staff, request=request_)
    except OrderError as exc:
        return await _order_page(
            request, session, staff, order, status_code=422,
            change_error=error_text(request, exc),
        )  # fmt: skip
    await session.commit()
    return _back(order.id)


@router.post("/changes/{change_id}/decide", response_class=HTMLResponse)
async def decide_change(
    request: Request,
    session: SessionDep,
    staff: Leader,
    change_id: RowId,
    decision: Annotated[str, Form(pattern="^(approve|refuse)$")],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    change = await change_for(session, staff, change_id)
    order = await order_for(session, staff, change.order_id)
    try:
        await do_decide_change(
            session, change=change, supervisor=staff, approve=decision == "approve", note=note
        )
    except OrderError as exc:
        return await _order_page(
            request, session, staff, order, status_code=409,
            change_error=error_text(request, exc),
        )  # fmt: skip
    await session.commit()
    return _back(order.id)


@router.post("/tasks/{task_id}/send", response_class=HTMLResponse)
async def send_task_message(
    request: Request,
    session: SessionDep,
    staff: Worker,
    task_id: RowId,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Send the confirmation or the reminder into the buyer's open conversation (O2, O6)."""
    task, order = await task_for(session, staff, task_id)
    try:
        await do_send_task_message(session, task=task, agent=staff, text=text)
    except Errors as exc:
        t = Translator(language_of(request, staff))
        return await _order_page(
            request, session, staff, order, status_code=422,
            task_error=_error_text(request, t, exc), task_error_id=task.id,
            task_texts={task.id: text},
        )  # fmt: skip
    await session.commit()
    return _back(order.id)


@router.post("/tasks/{task_id}/finish", response_class=HTMLResponse)
async def finish_task(
    request: Request,
    session: SessionDep,
    staff: Worker,
    task_id: RowId,
    outcome: Annotated[str, Form(max_length=32)] = "",
    remark: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Record how the task ended, with what it rests on."""
    task, order = await task_for(session, staff, task_id)
    try:
        await do_finish_task(session, task=task, agent=staff, outcome=outcome, remark=remark)
    except Errors as exc:
        t = Translator(language_of(request, staff))
        return await _order_page(
            request, session, staff, order, status_code=422,
            task_error=_error_text(request, t, exc), task_error_id=task.id,
        )  # fmt: skip
    await session.commit()
    return _back(order.id)


# --- the production slip (O9) ----------------------------------------------------------


@router.get("/{order_id}/slip", response_class=HTMLResponse)
async def production_slip(
    request: Request, session: SessionDep, staff: SlipReader, order_id: RowId
) -> Response:
    """The slip the production team works from; only a note that parses is issued."""
    order = await order_for(session, staff, order_id)
    note = await current_note(session, order.id)
    t = Translator(language_of(request, staff))
    context: dict[str, Any] = {**WORDS, "order": order, "note": note}
    if note is None or note.errors or not note.fields:
        return render(request, "orders/slip_blocked.html", context, staff=staff, status_code=409)
    author = await session.get(StaffAccount, note.author_id) if note.author_id else None
    month, day = (int(part) for part in str(note.fields["ship_date"]).split("-"))
    context.update(
        fields=note.fields,
        ship_date=t("orders.slip_date", month=month, day=day),
        author=author,
        printed_at=utcnow(),
    )
    return render(request, "orders/slip.html", context, staff=staff)
