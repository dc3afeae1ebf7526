"""JSON routes of the customer file: the workbench's side panel for a conversation's buyer.

Reception does not import the customer file; the workbench asks this route with the
conversation it shows, and gets the person's compact file when the reader may read
that conversation (``reception.access``: an agent their own conversations and their
team's queue, leaders all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.customers.file import customer_file
from xiaoer.customers.membership import member_summary
from xiaoer.customers.people import check_reader
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.reception.access import conversation_for
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/api/customers")

Agent = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def panel_for(
    session: AsyncSession, staff: StaffAccount, conversation_id: int, language: str = "zh"
) -> dict[str, Any]:
    """The compact file of the conversation's buyer, for who may read the conversation."""
    check_reader(staff)
    conversation = await conversation_for(session, staff, conversation_id)
    shown = await customer_file(session, staff, conversation.customer_id)
    person = shown.person
    member = await member_summary(session, person.shop_id, person.id)
    return {
        "customer_id": person.id,
        "link": f"/customers/{person.id}",
        "nick": person.nick,
        "name": person.name,
        "phone": shown.phone,
        "city": person.city,
        "channels": [{"channel": b.channel, "nick": b.nick} for b in shown.buyers],
        "birthday": shown.birthday.label(language) if shown.birthday else "",
        "age": shown.age,
        "level": member.level,  # as the member prices are charged
        "member": member.as_json(),
        "price_level": shown.price_level,
        "orders": shown.orders,
        "spent_fen": shown.spent_fen,
        "first_paid_at": _iso(shown.first_paid_at),
        "last_paid_at": _iso(shown.last_paid_at),
        "refunds": shown.refunds,
        "bad_reviews": shown.bad_reviews,
        "categories": shown.categories,
        "tags": list(person.tags or []),
        "notes": person.notes,
        "greetings": shown.greetings_on,
        "erased": shown.erased,
        "online": shown.heat.as_json() if shown.heat is not None else None,
    }


@router.get("/panel/{conversation_id}")
async def panel(session: SessionDep, staff: Agent, conversation_id: RowId) -> dict[str, Any]:
    """The side panel's customer file for the buyer of a conversation."""
    return await panel_for(session, staff, conversation_id, staff.language)
