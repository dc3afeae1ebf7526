"""JSON routes for the workbench's order panel: a buyer's orders, their notes and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import QueryId, RowId
from xiaoer.http.render import error_text
from xiaoer.orders.access import contact_for
from xiaoer.orders.errors import OrderError
from xiaoer.orders.marks import do_write_note
from xiaoer.orders.models import SellerNote
from xiaoer.orders.notes import stored_message
from xiaoer.orders.service import buyer_orders_for, order_for
from xiaoer.orders.tasks import (
    do_finish_task,
    do_send_task_message,
    task_for,
    task_message_for,
)
from xiaoer.reception.errors import NeedsApproval, ReceptionError
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/api/orders")

Agent = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]
PANEL_ORDERS = 5


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _note_json(request: Request, note: SellerNote | None) -> dict[str, Any] | None:
    """The note for the panel, its errors in the staff member's language."""
    if note is None:
        return None
    return {
        "version": note.version,
        "text": note.text,
        "ok": not note.errors,
        "errors": [
            {"field": e.get("field", ""), "message": error_text(request, stored_message(e))}
            for e in note.errors
        ],
        "author": note.author_number,
        "at": note.created_at.isoformat(),
    }


@router.get("/panel")
async def buyer_orders(
    request: Request, session: SessionDep, staff: Agent, customer_id: QueryId
) -> dict[str, Any]:
    """The buyer's latest orders with what is due on them, for the chat's side panel."""
    panel = await buyer_orders_for(session, staff, customer_id, PANEL_ORDERS)
    result = []
    for order, note, tasks, note_due_at in panel:
        result.append(
            {
                "id": order.id,
                "number": order.platform_order_id,
                "status": order.status,
                "total_fen": order.total_fen,
                "created_at": order.created_at.isoformat(),
                "paid_at": _iso(order.paid_at),
                "flag": order.flag,
                "mine": order.owner_id == staff.id,
                "owned": order.owner_id is not None,
                "confirmed_at": _iso(order.confirmed_at),
                "cash_on_delivery": order.cash_on_delivery,
                "phone": contact_for(staff, order).phone,
                "items": [
                    {"title": i.title, "sku_text": i.sku_text, "quantity": i.quantity}
                    for i in order.items
                ],
                "note": _note_json(request, note),
                "note_due_at": _iso(note_due_at),
                "tasks": [
                    {"id": t.id, "kind": t.kind, "outcome": t.outcome, "due_at": _iso(t.due_at)}
                    for t in tasks
                ],
            }
        )  # fmt: skip
    return {"orders": result}


class SendBody(BaseModel):
    text: str = Field(default="", max_length=2000)


@router.get("/tasks/{task_id}/message")
async def preview_task_message(
    request: Request, session: SessionDep, staff: Agent, task_id: RowId
) -> dict[str, Any]:
    """The confirmation or reminder a task would send, for the agent who may send it."""
    task, _order = await task_for(session, staff, task_id)
    try:
        return {"text": await task_message_for(session, staff, task)}
    except OrderError as exc:
        raise HTTPException(409, error_text(request, exc)) from exc


@router.post("/tasks/{task_id}/send")
async def send_task_message(
    request: Request, session: SessionDep, staff: Agent, task_id: RowId, body: SendBody
) -> dict[str, Any]:
    """Send the confirmation or reminder into the buyer's open conversation."""
    task, _order = await task_for(session, staff, task_id)
    try:
        message = await do_send_task_message(session, task=task, agent=staff, text=body.text)
    except NeedsApproval as exc:
        shown = error_text(request, exc)
        raise HTTPException(
            409, {"code": "needs_approval", "message": shown, "needs_approval": True}
        ) from exc
    except (OrderError, ReceptionError) as exc:
        raise HTTPException(409, error_text(request, exc)) from exc
    await session.commit()
    return {"message_id": message.id, "conversation_id": message.conversation_id}


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    reason: str = Field(default="", max_length=500)


@router.post("/{order_id}/note")
async def write_note(
    request: Request, session: SessionDep, staff: Agent, order_id: RowId, body: NoteBody
) -> dict[str, Any]:
    """Write the seller note from the chat; a note with errors is kept and they are shown."""
    order = await order_for(session, staff, order_id)
    try:
        note = await do_write_note(
            session, order=order, author=staff, text=body.text, reason=body.reason
        )
    except OrderError as exc:
        raise HTTPException(422, error_text(request, exc)) from exc
    await session.commit()
    return {"note": _note_json(request, note)}


class FinishBody(BaseModel):
    outcome: str = Field(min_length=1, max_length=32)
    remark: str = Field(default="", max_length=500)


@router.post("/tasks/{task_id}/finish")
async def finish_task(
    request: Request, session: SessionDep, staff: Agent, task_id: RowId, body: FinishBody
) -> dict[str, Any]:
    """Record how a task ended; a confirmation keeps the buyer's reply as evidence (O2)."""
    task, _order = await task_for(session, staff, task_id)
    try:
        await do_finish_task(
            session, task=task, agent=staff, outcome=body.outcome, remark=body.remark
        )
    except OrderError as exc:
        raise HTTPException(409, error_text(request, exc)) from exc
    await session.commit()
    return {"task_id": task.id, "outcome": task.outcome, "evidence": task.evidence}
