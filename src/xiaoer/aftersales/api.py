"""The workbench's after-sales route: one click opens a ticket from the chat on screen."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from xiaoer.aftersales.models import TicketKind
from xiaoer.aftersales.tickets import do_open_from_conversation
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.errors import refusal
from xiaoer.http.params import MAX_ID
from xiaoer.staff.models import LEADERS, StaffAccount

router = APIRouter(prefix="/api/aftersales")

Agent = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]


class FromChat(BaseModel):
    conversation_id: int = Field(ge=1, le=MAX_ID)
    order_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    kind: TicketKind = TicketKind.refund
    subject: str = Field(default="", max_length=400)


@router.post("/tickets")
async def open_from_chat(
    request: Request, session: SessionDep, staff: Agent, body: FromChat
) -> dict[str, Any]:
    """Open a ticket carrying the chat's buyer, messages and (if given) order."""
    try:
        ticket = await do_open_from_conversation(
            session, staff, body.conversation_id, kind=body.kind,
            subject=body.subject, order_id=body.order_id,
        )  # fmt: skip
    except ValueError as exc:
        raise refusal(request, exc) from exc
    await session.commit()
    return {
        "ticket": {
            "id": ticket.id,
            "status": ticket.status,
            "due_at": ticket.due_at.isoformat(),
            "url": f"/aftersales/tickets/{ticket.id}",
        }
    }
