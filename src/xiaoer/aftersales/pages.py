"""The after-sales pages (S1–S7): the agent's desk, the ticket list, the case page with
the order, the conversation, the refund and the timeline side by side, the supervisor's
view and the shop's list of causes.

Routes parse, call a service of this package, commit and redirect (or render the
case page again with the error); who may do what is decided in the services.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.appeal import appeal_packet
from xiaoer.aftersales.cases import (
    KIND_SAID,
    do_case_ask,
    do_case_decide,
    do_case_move,
    do_open_case_refund,
)
from xiaoer.aftersales.complaints import (
    FACTS,
    REVIEW_FIELDS,
    STEP_SAID,
    STEPS_OF,
    do_promise,
    do_step,
    next_step,
)
from xiaoer.aftersales.models import Refund, Review, Ticket, TicketKind, TicketSource, TicketStatus
from xiaoer.aftersales.refund_states import (
    MOVES,
    STATUS_SAID,
    GoodsStatus,
    Move,
    RefundKind,
    RefundStatus,
)
from xiaoer.aftersales.refunds import held_refunds, refunded_fen, refunds_to_decide
from xiaoer.aftersales.report import DIMENSIONS, cost_report, do_save_proposals, month_span
from xiaoer.aftersales.seller_reviews import do_review_trades, unreviewed
from xiaoer.aftersales.tickets import (
    OUTCOME_SAID,
    OUTCOMES,
    SOURCE_SAID,
    Filter,
    Opening,
    causes_of,
    check_may_work,
    conversation_of,
    do_assign,
    do_close,
    do_escalate,
    do_merge,
    do_note,
    do_open_ticket,
    do_save_cause,
    do_take,
    do_take_next,
    escalated,
    major_complaints,
    may_act,
    mine,
    overdue,
    queue_of,
    ticket_for,
    tickets_of,
    timeline_of,
    works_aftersales,
)
from xiaoer.core.clock import month_days, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.money import MoneyError, fen_to_decimal, typed_fen
from xiaoer.core.policy_store import policy_on
from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.core.texts import from_data
from xiaoer.http.charts import line_chart
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import Cursor, RowId
from xiaoer.http.render import error_text, language_of, render, shown_time
from xiaoer.orders.access import contact_for
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/aftersales")

Worker = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]
Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]

PAGE = 50
SHOWN_MESSAGES = 200  # of the case's conversation, the newest


# --- words -----------------------------------------------------------------------------


def _word(t: Translator, group: str, key: object) -> str:
    name = f"aftersales.{group}.{key}"
    return t(name) if name in t.messages else str(key)


WORDS: dict[str, Any] = {
    "word": _word,
    "said": lambda t, text: t.text(text),
    "status_said": lambda t, status: t.text(STATUS_SAID[RefundStatus(status)]),
    "kind_said": lambda t, kind: t.text(KIND_SAID[RefundKind(kind)]),
    "outcome_said": lambda t, outcome: (
        t.text(OUTCOME_SAID[outcome]) if outcome in OUTCOME_SAID else outcome
    ),
    "source_said": lambda t, source: t.text(SOURCE_SAID[TicketSource(source)]),
    "line_text": lambda t, line: t.text(from_data(line.what)),
    "step_said": lambda t, step: t.text(STEP_SAID[step]),
}


def _workbook(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _back(ticket_id: int) -> Response:
    return RedirectResponse(f"/aftersales/tickets/{ticket_id}", status_code=303)


async def _team(session: AsyncSession, shop_id: int) -> dict[int, StaffAccount]:
    return {s.id: s for s in await list_staff(session, shop_id)}


async def _orders(session: AsyncSession, tickets: list[Ticket]) -> dict[int, Order]:
    ids = {t.order_id for t in tickets if t.order_id is not None}
    if not ids:
        return {}
    return {o.id: o for o in await session.scalars(select(Order).where(Order.id.in_(ids)))}


# --- the desk --------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def desk(request: Request, session: SessionDep, staff: Worker) -> Response:
    """The queue, first come first served, and my cases by due time."""
    check_may_work(staff)
    queued = await queue_of(session, staff, limit=PAGE)
    own = await mine(session, staff)
    context = {
        **WORDS,
        "queued": queued,
        "mine": own,
        "orders": await _orders(session, queued + own),
        "now": utcnow(),
        "leader": is_leader(staff),
    }
    return render(request, "aftersales/desk.html", context, staff=staff)


@router.post("/take-next")
async def take_next(request: Request, session: SessionDep, staff: Worker) -> Response:
    ticket = await do_take_next(session, staff)
    await session.commit()
    if ticket is None:
        return RedirectResponse("/aftersales?empty=1", status_code=303)
    return _back(ticket.id)


# --- the list --------------------------------------------------------------------------


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 12 else None


async def _filter(
    session: AsyncSession, staff: StaffAccount, request: Request, **given: str
) -> Filter:
    """The list's filter from the query; what does not parse filters nothing."""
    query = request.query_params
    closed_from = closed_to = None
    month = given["month"]
    if month_days(month) is not None:
        closed_from, closed_to = await month_span(session, staff.shop_id, month)
    return Filter(
        status=given["status"] if given["status"] in {s.value for s in TicketStatus} else "",
        kind=given["kind"] if given["kind"] in {k.value for k in TicketKind} else "",
        owner_id=_number(given["owner"]),
        q=given["q"].strip()[:64],
        overdue=given["overdue_only"] == "1",
        cause_id=_number(given["cause"]),
        closed_from=closed_from,
        closed_to=closed_to,
        courier=query["courier"][:32] if "courier" in query else None,
        product=query["product"][:200] if "product" in query else None,
    )


@router.get("/tickets", response_class=HTMLResponse)
async def ticket_list(
    request: Request,
    session: SessionDep,
    staff: Worker,
    status: str = "",
    kind: str = "",
    owner: str = "",
    q: str = "",
    overdue_only: str = "",
    cause: str = "",
    month: str = "",
    before: Cursor | None = None,
    export: str = "",
) -> Response:
    """Every ticket the reader may see, newest first, filtered and searched, a page at a
    time; ``export=xlsx`` gives the filtered set as a workbook."""
    chosen = await _filter(
        session, staff, request, status=status, kind=kind, owner=owner, q=q,
        overdue_only=overdue_only, cause=cause, month=month[:7],
    )  # fmt: skip
    team = await _team(session, staff.shop_id)
    t = Translator(language_of(request, staff))
    if export == "xlsx":
        rows = await tickets_of(session, staff, chosen, limit=10_000)
        orders = await _orders(session, rows)
        causes = {c.id: c.name for c in await causes_of(session, staff.shop_id, all_of_them=True)}
        headers = [t(f"aftersales.col.{key}") for key in EXPORT_COLUMNS]
        zone = (await shop_zone(session, staff.shop_id)).key
        data = write_sheet(
            t("aftersales.list_title"),
            headers,
            [_export_row(t, ticket, orders, team, causes, zone) for ticket in rows],
        )
        return _workbook(data, "tickets.xlsx")
    rows = await tickets_of(session, staff, chosen, limit=PAGE + 1, before=before)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    context = {
        **WORDS,
        "tickets": rows,
        "orders": await _orders(session, rows),
        "team": team,
        "chosen": chosen,
        "statuses": [s.value for s in TicketStatus],
        "kinds": [k.value for k in TicketKind],
        "workers": [s for s in team.values() if works_aftersales(s)],
        "next_before": rows[-1].id if more and rows else None,
        "next_query": _next_query(request, rows[-1].id) if more and rows else "",
        "now": utcnow(),
    }
    return render(request, "aftersales/list.html", context, staff=staff)


def _next_query(request: Request, before: int) -> str:
    """The same filter, the page after ``before``."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("before", "export")]
    return urlencode([*kept, ("before", str(before))])


EXPORT_COLUMNS = (
    "id", "kind", "status", "subject", "order", "owner", "created", "due", "closed", "cause",
    "outcome",
)  # fmt: skip


def _export_row(
    t: Translator,
    ticket: Ticket,
    orders: dict[int, Order],
    team: dict[int, StaffAccount],
    causes: dict[int, str],
    zone: str,
) -> list[Any]:
    order = orders.get(ticket.order_id or 0)
    owner = team.get(ticket.owner_id or 0)
    return [
        ticket.id,
        _word(t, "kind", ticket.kind),
        _word(t, "status", ticket.status),
        ticket.subject,
        order.platform_order_id if order else "",
        owner.name if owner else "",
        _local(ticket.created_at, zone),
        _local(ticket.due_at, zone),
        _local(ticket.closed_at, zone),
        causes.get(ticket.cause_id or 0, ""),
        WORDS["outcome_said"](t, ticket.outcome) if ticket.outcome else "",
    ]


def _local(value: datetime | None, zone: str) -> str:
    return shown_time(value, zone, "%Y-%m-%d %H:%M")


# --- opening by hand -------------------------------------------------------------------


@router.get("/tickets/new", response_class=HTMLResponse)
async def new_ticket(request: Request, session: SessionDep, staff: Worker) -> Response:
    check_may_work(staff)
    return render(request, "aftersales/new.html", _new_context(), staff=staff)


def _new_context(**values: Any) -> dict[str, Any]:
    return {
        **WORDS,
        "kinds": [k.value for k in TicketKind],
        "error": None,
        "form": {"kind": "inquiry", "source": "phone", "subject": "", "order": "", "words": ""},
        **values,
    }


@router.post("/tickets/new")
async def open_new_ticket(
    request: Request,
    session: SessionDep,
    staff: Worker,
    kind: Annotated[str, Form(max_length=16)] = "inquiry",
    source: Annotated[str, Form(max_length=16)] = "phone",
    subject: Annotated[str, Form(max_length=400)] = "",
    order: Annotated[str, Form(max_length=64)] = "",
    words: Annotated[str, Form(max_length=4000)] = "",
    priority: Annotated[int, Form(ge=0, le=2)] = 0,
) -> Response:
    form = {"kind": kind, "source": source, "subject": subject, "order": order, "words": words}
    try:
        order_id = None
        if order.strip():
            found = await session.scalar(
                select(Order.id).where(
                    Order.shop_id == staff.shop_id, Order.platform_order_id == order.strip()
                )
            )
            if found is None:
                raise ValueError(Translator(language_of(request, staff))(
                    "aftersales.no_such_order", number=order.strip()))  # fmt: skip
            order_id = found
        opening = Opening(
            TicketKind(kind) if kind in {k.value for k in TicketKind} else TicketKind.inquiry,
            TicketSource.phone if source == "phone" else TicketSource.hand,
            subject,
            order_id=order_id,
            priority=priority,
            words=words,
        )
        async with session.begin_nested():
            ticket = await do_open_ticket(session, staff, opening)
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        context = _new_context(error=error_text(request, exc), form=form)
        return render(request, "aftersales/new.html", context, staff=staff, status_code=422)
    await session.commit()
    return _back(ticket.id)


# --- the case page ---------------------------------------------------------------------


async def _case_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    ticket = await ticket_for(session, staff, ticket_id)
    team = await _team(session, staff.shop_id)
    order = await session.get(Order, ticket.order_id) if ticket.order_id else None
    refund = await session.get(Refund, ticket.refund_id) if ticket.refund_id else None
    review = await session.get(Review, ticket.review_id) if ticket.review_id else None
    conversation, messages = await conversation_of(session, staff, ticket, SHOWN_MESSAGES)
    lines = await timeline_of(session, staff, ticket)
    refund_moves: list[str] = []
    if refund is not None:
        status = RefundStatus(refund.status)
        refund_moves = [
            move.value
            for move, rule in MOVES.items()
            if status in rule.starts and move in STAFF_MOVES
        ]
    context = {
        **WORDS,
        "ticket": ticket,
        "order": order,
        "contact": contact_for(staff, order) if order is not None else None,
        "refund": refund,
        "review": review,
        "refunded": await refunded_fen(session, order) if order is not None else 0,
        "items": list(
            await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id))
        )
        if order is not None
        else [],
        "refund_moves": refund_moves,
        "conversation": conversation,
        "messages": messages,
        "lines": lines,
        "team": team,
        "acting": may_act(staff, ticket),
        "leader": is_leader(staff),
        "causes": await causes_of(session, staff.shop_id),
        "outcomes": OUTCOMES,
        "refund_kinds": [k.value for k in RefundKind],
        "goods_states": [g.value for g in GoodsStatus if g is not GoodsStatus.SELLER_RECEIVED],
        "workers": [s for s in team.values() if works_aftersales(s) and s.active],
        "steps": STEPS_OF.get(ticket.kind, ()),
        "facts": FACTS,
        "next_step": next_step(ticket),
        "error": error,
        "now": utcnow(),
    }
    response = render(
        request, "aftersales/case.html", context, staff=staff, status_code=status_code
    )
    await session.commit()  # a shop's first look stores its default causes, as shown
    return response


# Moves the shop makes on the desk; the buyer's own (send back, withdraw, ask again)
# arrive through the platform's report or are entered for a buyer who tells us by phone.
STAFF_MOVES = (
    Move.agree, Move.refuse, Move.send_back, Move.confirm_goods, Move.withdraw, Move.ask_again,
)  # fmt: skip


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, session: SessionDep, staff: Worker, ticket_id: RowId
) -> Response:
    return await _case_page(request, session, staff, ticket_id)


async def _refusal(request: Request, session: AsyncSession, action: Awaitable[Any]) -> str | None:
    """Run a service's action in a savepoint. When a rule of the trade refuses it,
    nothing of it stays and the refusal is returned in the reader's words; who-may
    refusals (403/404) go on to their own handlers. None when it was done."""
    try:
        async with session.begin_nested():
            await action
    except (NotPermitted, NotFound):
        raise
    except (ValueError, MoneyError) as exc:
        return error_text(request, exc)
    return None


async def _acted(
    request: Request, session: AsyncSession, staff: StaffAccount, ticket_id: int, action: Any
) -> Response:
    """Run an action in a savepoint; when a rule refuses it, nothing of it stays and the
    case is shown again with the reason. Who-may refusals go to their own handlers."""
    message = await _refusal(request, session, action)
    if message is not None:
        return await _case_page(request, session, staff, ticket_id, error=message, status_code=422)
    await session.commit()
    return _back(ticket_id)


Text500 = Annotated[str, Form(max_length=2000)]


@router.get("/tickets/{ticket_id}/appeal.zip")
async def appeal(
    request: Request, session: SessionDep, staff: Leader, ticket_id: RowId
) -> Response:
    """The evidence for appealing a malicious review, in one ZIP file."""
    try:
        name, data = await appeal_packet(session, staff, ticket_id)
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        raise HTTPException(422, error_text(request, exc)) from exc
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/tickets/{ticket_id}/take")
async def take(request: Request, session: SessionDep, staff: Worker, ticket_id: RowId) -> Response:
    return await _acted(request, session, staff, ticket_id, do_take(session, staff, ticket_id))


@router.post("/tickets/{ticket_id}/note")
async def note(
    request: Request, session: SessionDep, staff: Worker, ticket_id: RowId, text: Text500 = ""
) -> Response:
    return await _acted(
        request, session, staff, ticket_id, do_note(session, staff, ticket_id, text)
    )


@router.post("/tickets/{ticket_id}/escalate")
async def escalate(
    request: Request, session: SessionDep, staff: Worker, ticket_id: RowId, reason: Text500 = ""
) -> Response:
    return await _acted(
        request, session, staff, ticket_id, do_escalate(session, staff, ticket_id, reason)
    )


@router.post("/tickets/{ticket_id}/assign")
async def assign(
    request: Request,
    session: SessionDep,
    staff: Leader,
    ticket_id: RowId,
    owner: Annotated[int, Form(ge=1, le=2**62)],
) -> Response:
    return await _acted(
        request, session, staff, ticket_id, do_assign(session, staff, ticket_id, owner)
    )


@router.post("/tickets/{ticket_id}/merge")
async def merge(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    into: Annotated[int, Form(ge=1, le=2**62)],
) -> Response:
    return await _acted(
        request, session, staff, ticket_id, do_merge(session, staff, ticket_id, into)
    )


@router.post("/tickets/{ticket_id}/close")
async def close(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    cause: Annotated[int, Form(ge=1, le=2**62)],
    outcome: Annotated[str, Form(max_length=32)],
    result: Text500 = "",
) -> Response:
    action = do_close(session, staff, ticket_id, cause_id=cause, outcome=outcome, result=result)
    return await _acted(request, session, staff, ticket_id, action)


@router.post("/tickets/{ticket_id}/refund")
async def open_refund(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    kind: Annotated[str, Form(max_length=16)],
    amount: Annotated[str, Form(max_length=32)],
    reason: Text500 = "",
    goods: Annotated[str, Form(max_length=32)] = GoodsStatus.BUYER_RECEIVED.value,
    item: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    async def action() -> None:
        amount_fen = typed_fen(amount) or 0
        kinds = {k.value for k in RefundKind}
        states = {g.value for g in GoodsStatus}
        await do_open_case_refund(
            session, staff, ticket_id,
            kind=RefundKind(kind) if kind in kinds else RefundKind.refund_only,
            amount_fen=amount_fen, reason=reason,
            goods=GoodsStatus(goods) if goods in states else GoodsStatus.BUYER_RECEIVED,
            order_item_id=_number(item),
        )  # fmt: skip

    return await _acted(request, session, staff, ticket_id, action())


@router.post("/tickets/{ticket_id}/refund/ask")
async def ask_supervisor(
    request: Request, session: SessionDep, staff: Worker, ticket_id: RowId, reason: Text500 = ""
) -> Response:
    return await _acted(
        request, session, staff, ticket_id, do_case_ask(session, staff, ticket_id, reason=reason)
    )


@router.post("/tickets/{ticket_id}/refund/decide")
async def decide(
    request: Request,
    session: SessionDep,
    staff: Leader,
    ticket_id: RowId,
    approve: Annotated[str, Form(max_length=8)],
    note: Text500 = "",
) -> Response:
    action = do_case_decide(session, staff, ticket_id, approve=approve == "yes", note=note)
    return await _acted(request, session, staff, ticket_id, action)


@router.post("/tickets/{ticket_id}/refund/{move}")
async def move_refund(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    move: str,
    reason: Text500 = "",
    waybill: Annotated[str, Form(max_length=64)] = "",
    carrier: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if move not in {m.value for m in STAFF_MOVES}:
        return await _case_page(request, session, staff, ticket_id, status_code=404)
    action = do_case_move(
        session, staff, ticket_id, Move(move), reason=reason, waybill=waybill, carrier=carrier
    )
    return await _acted(request, session, staff, ticket_id, action)


@router.post("/tickets/{ticket_id}/step/{step}")
async def complaint_step(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    step: str,
) -> Response:
    form = await request.form()
    fields = {
        str(name): str(value)[:1000]
        for name, value in form.items()
        if isinstance(value, str)
        and name in ("words", "result", "handling", *FACTS, *REVIEW_FIELDS.values())
    }
    return await _acted(
        request, session, staff, ticket_id, do_step(session, staff, ticket_id, step, fields)
    )


@router.post("/tickets/{ticket_id}/promise")
async def promise(
    request: Request,
    session: SessionDep,
    staff: Worker,
    ticket_id: RowId,
    when: Annotated[str, Form(max_length=32)],
) -> Response:
    async def action() -> None:
        try:
            moment = datetime.fromisoformat(when)
        except ValueError as exc:
            from xiaoer.aftersales.complaints import ComplaintError
            from xiaoer.core.texts import say

            raise ComplaintError(say("the promised reply is in the future")) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=await shop_zone(session, staff.shop_id))
        await do_promise(session, staff, ticket_id, moment)

    return await _acted(request, session, staff, ticket_id, action())


# --- the supervisor's view -------------------------------------------------------------


@router.get("/supervise", response_class=HTMLResponse)
async def supervise(request: Request, session: SessionDep, staff: Leader) -> Response:
    """Escalations, refunds above an agent's authority, refunds held by the peak-day
    blackout with the platform's deadline, and overdue cases."""
    now = utcnow()
    asked = await refunds_to_decide(session, staff)
    held, held_total = await held_refunds(session, staff, now, limit=PAGE)
    escalations, escalations_total = await escalated(session, staff)
    late, late_total = await overdue(session, staff, now)
    majors = await major_complaints(session, staff)
    refund_ids = [r.id for r in asked + held]
    tickets_by_refund = {
        t.refund_id: t
        for t in await session.scalars(
            select(Ticket).where(Ticket.shop_id == staff.shop_id, Ticket.refund_id.in_(refund_ids))
        )
    } if refund_ids else {}  # fmt: skip
    order_ids = {r.order_id for r in asked + held}
    orders = (
        {o.id: o for o in await session.scalars(select(Order).where(Order.id.in_(order_ids)))}
        if order_ids
        else {}
    )
    context = {
        **WORDS,
        "asked": asked,
        "held": held,
        "held_total": held_total,
        "escalations": escalations,
        "escalations_total": escalations_total,
        "late": late,
        "late_total": late_total,
        "majors": majors,
        "tickets_by_refund": tickets_by_refund,
        "orders": orders | await _orders(session, escalations + late + majors),
        "team": await _team(session, staff.shop_id),
        "now": now,
    }
    return render(request, "aftersales/supervise.html", context, staff=staff)


@router.get("/held.xlsx")
async def held_export(request: Request, session: SessionDep, staff: Leader) -> Response:
    """Every refund the peak day holds, with the platform's deadline, as a workbook."""
    t = Translator(language_of(request, staff))
    held, _total = await held_refunds(session, staff, utcnow())
    zone = (await shop_zone(session, staff.shop_id)).key
    orders = (
        {o.id: o for o in await session.scalars(
            select(Order).where(Order.id.in_({r.order_id for r in held})))}
        if held else {}
    )  # fmt: skip
    headers = [t("aftersales.col.order"), t("aftersales.amount"),
               t("aftersales.platform_deadline"), t("aftersales.buyer_reason")]  # fmt: skip
    rows = [
        [orders[r.order_id].platform_order_id if r.order_id in orders else "",
         fen_to_decimal(r.amount_fen), _local(r.deadline_at, zone), r.reason]
        for r in held
    ]  # fmt: skip
    data = write_sheet(t("aftersales.held_refunds"), headers, rows)
    return _workbook(data, "held-refunds.xlsx")


# --- causes ------------------------------------------------------------------------------


@router.get("/causes", response_class=HTMLResponse)
async def causes_page(request: Request, session: SessionDep, staff: Leader) -> Response:
    rows = await causes_of(session, staff.shop_id, all_of_them=True)
    await session.commit()  # a first look stores the default list
    return render(request, "aftersales/causes.html", {"causes": rows, "error": None}, staff=staff)


@router.post("/causes")
async def save_cause(
    request: Request,
    session: SessionDep,
    staff: Leader,
    name: Annotated[str, Form(max_length=80)],
    cause_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    about_quality: Annotated[str, Form(max_length=4)] = "",
    agent_caused: Annotated[str, Form(max_length=4)] = "",
    active: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    message = await _refusal(request, session, do_save_cause(
        session, staff, name=name, cause_id=cause_id, about_quality=about_quality == "1",
        agent_caused=agent_caused == "1", active=cause_id is None or active == "1",
    ))  # fmt: skip
    if message is not None:
        rows = await causes_of(session, staff.shop_id, all_of_them=True)
        context = {"causes": rows, "error": message}
        return render(request, "aftersales/causes.html", context, staff=staff, status_code=422)
    await session.commit()
    return RedirectResponse("/aftersales/causes", status_code=303)


# --- causes and costs (S6) ---------------------------------------------------------------


@router.get("/report", response_class=HTMLResponse)
async def report_page(
    request: Request, session: SessionDep, staff: Leader, month: str = "", export: str = ""
) -> Response:
    """A month's closed cases by cause, product, agent and courier, with the refunded
    amounts, the top causes week by week and the proposals; each figure lists its cases."""
    chosen = month[:7] or (await _this_month(session, staff))
    try:
        report = await cost_report(session, staff, chosen)
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        message = error_text(request, exc)
        return render(request, "error.html", {"message": message}, staff=staff, status_code=422)
    t = Translator(language_of(request, staff))
    if export == "xlsx":
        headers = [t("aftersales.report.dimension"), t("aftersales.report.name"),
                   t("aftersales.report.cases"), t("aftersales.report.refunded")]  # fmt: skip
        rows = [
            [t(f"aftersales.report.by_{dimension}"), line.label or "—", line.cases,
             fen_to_decimal(line.refunded_fen)]
            for dimension in DIMENSIONS
            for line in report.lines[dimension]
        ]  # fmt: skip
        data = write_sheet(f"售后原因 {chosen}", headers, rows)
        return _workbook(data, f"aftersales-{chosen}.xlsx")
    chart = line_chart(t("aftersales.report.trend"), report.weeks,
                       [(cause, list(weekly)) for cause, weekly in report.trend.items()],
                       empty=t("charts.no_data"))  # fmt: skip
    context = {"report": report, "dimensions": DIMENSIONS, "chart": chart, "error": None}
    return render(request, "aftersales/report.html", context, staff=staff)


async def _this_month(session: AsyncSession, staff: StaffAccount) -> str:
    from xiaoer.shops.service import shop_today

    return (await shop_today(session, staff.shop_id)).strftime("%Y-%m")


@router.post("/report/proposals")
async def save_proposals(
    request: Request,
    session: SessionDep,
    staff: Leader,
    month: Annotated[str, Form(max_length=7)],
    text: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    message = await _refusal(request, session, do_save_proposals(session, staff, month, text))
    if message is not None:
        return render(request, "error.html", {"message": message}, staff=staff, status_code=422)
    await session.commit()
    return RedirectResponse(f"/aftersales/report?{urlencode({'month': month})}", status_code=303)


# --- the shop's reviews of finished trades (S5) ------------------------------------------


@router.get("/seller-reviews", response_class=HTMLResponse)
async def seller_reviews(
    request: Request, session: SessionDep, staff: Worker, before: Cursor | None = None
) -> Response:
    """Finished trades not reviewed yet, newest first, with the shop's templates."""
    return await _seller_reviews_page(request, session, staff, before=before)


async def _seller_reviews_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    before: int | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    rows, total = await unreviewed(session, staff, limit=PAGE + 1, before=before)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    policy = await policy_on(session, staff.shop_id)
    context = {
        "orders": rows,
        "total": total,
        "templates": policy.aftersales.seller_review_templates,
        "next_before": rows[-1].id if more and rows else None,
        "error": error,
    }
    return render(
        request, "aftersales/seller_reviews.html", context, staff=staff, status_code=status_code
    )


@router.post("/seller-reviews")
async def write_seller_reviews(request: Request, session: SessionDep, staff: Worker) -> Response:
    form = await request.form()
    ids = [
        int(v) for v in form.getlist("order") if isinstance(v, str) and v.isdigit() and len(v) < 19
    ]
    text = str(form.get("text") or "")[:1000]
    rating = str(form.get("rating") or "good")[:8]
    action = do_review_trades(session, staff, ids, text=text, rating=rating)
    message = await _refusal(request, session, action)
    if message is not None:
        return await _seller_reviews_page(request, session, staff, error=message, status_code=422)
    await session.commit()
    return RedirectResponse("/aftersales/seller-reviews", status_code=303)
