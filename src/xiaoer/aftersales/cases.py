"""The refund of a case: opened, moved, asked about and decided from its ticket.

Each function checks that the caller may act on the ticket, calls the refund service
(which checks the amount, the states, the authority and the blackout itself), and
leaves the step on the ticket's timeline; the buyer is told where the shop wants it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Ticket, TicketKind
from xiaoer.aftersales.refund_states import (
    MOVE_SAID,
    GoodsStatus,
    Move,
    RefundKind,
    RefundStatus,
)
from xiaoer.aftersales.refunds import (
    do_ask_approval,
    do_decide_approval,
    do_move_refund,
    do_open_refund,
    refund_for,
)
from xiaoer.aftersales.tickets import (
    TicketError,
    add_line,
    check_may_act,
    tell_buyer,
    ticket_for,
)
from xiaoer.core.clock import utcnow
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.texts import say
from xiaoer.staff.models import StaffAccount

KIND_SAID = {
    RefundKind.refund_only: say("refund only"),
    RefundKind.return_refund: say("return and refund"),
    RefundKind.exchange: say("exchange"),
    RefundKind.resend: say("send again"),
}


async def _case(session: AsyncSession, staff: StaffAccount, ticket_id: int) -> Ticket:
    ticket = await ticket_for(session, staff, ticket_id)
    check_may_act(staff, ticket)
    return ticket


async def _refund_of(session: AsyncSession, staff: StaffAccount, ticket: Ticket) -> Refund:
    if ticket.refund_id is None:
        raise TicketError(say("the case has no refund"))
    return await refund_for(session, staff, ticket.refund_id)


async def do_open_case_refund(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    *,
    kind: RefundKind,
    amount_fen: int,
    reason: str,
    goods: GoodsStatus = GoodsStatus.BUYER_RECEIVED,
    order_item_id: int | None = None,
    now: datetime | None = None,
) -> Refund:
    """Record the buyer's request on the case's order (or one of its items) and tie it
    to the case."""
    ticket = await _case(session, staff, ticket_id)
    if ticket.order_id is None:
        raise TicketError(say("the case names no order: a refund is on an order"))
    if ticket.refund_id is not None:
        raise TicketError(say("the case has a refund already"))
    moment = now or utcnow()
    refund = await do_open_refund(
        session, staff, order_id=ticket.order_id, kind=kind, amount_fen=amount_fen,
        reason=reason, goods=goods, order_item_id=order_item_id, now=moment,
    )  # fmt: skip
    ticket.refund_id = refund.id
    if ticket.kind == TicketKind.inquiry.value:
        ticket.kind = TicketKind.refund.value
    await add_line(
        session, ticket, staff, "refund",
        say("{kind} of ¥{amount} asked", kind=KIND_SAID[kind], amount=fen_to_yuan(amount_fen)),
        why=reason.strip(), at=moment,
    )  # fmt: skip
    return refund


async def do_case_move(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    move: Move,
    *,
    reason: str = "",
    waybill: str = "",
    carrier: str = "",
    now: datetime | None = None,
) -> Refund:
    """Move the case's refund (agree, refuse, goods back, …) and say so on the case."""
    ticket = await _case(session, staff, ticket_id)
    refund = await _refund_of(session, staff, ticket)
    moment = now or utcnow()
    refund = await do_move_refund(
        session, staff, refund.id, move, reason=reason, waybill=waybill, carrier=carrier,
        now=moment,
    )  # fmt: skip
    why = reason.strip() or " ".join(part for part in (carrier.strip(), waybill.strip()) if part)
    await add_line(session, ticket, staff, f"refund {move.value}",
                   say("refund: {move}", move=MOVE_SAID[move]), why=why, at=moment)  # fmt: skip
    await _tell(session, ticket, refund, moment)
    return refund


async def _tell(session: AsyncSession, ticket: Ticket, refund: Refund, at: datetime) -> None:
    status = RefundStatus(refund.status)
    amount = fen_to_yuan(refund.amount_fen)
    if status is RefundStatus.SUCCESS:
        text = say("your refund of ¥{amount} is done", amount=amount)
    elif status is RefundStatus.WAIT_BUYER_RETURN_GOODS:
        text = say("your request is agreed: please send the goods back and enter the waybill")
    elif status is RefundStatus.SELLER_REFUSE_BUYER:
        text = say("we cannot agree your request: {why}", why=refund.refusal)
    elif status is RefundStatus.WAIT_SELLER_CONFIRM_GOODS:
        text = say("we have your waybill and check the goods when they arrive")
    else:
        return
    await tell_buyer(session, ticket, text, at=at)


async def do_case_ask(
    session: AsyncSession,
    staff: StaffAccount,
    ticket_id: int,
    *,
    reason: str = "",
    now: datetime | None = None,
) -> Refund:
    """Ask the supervisor to agree the case's refund above the agent's authority."""
    ticket = await _case(session, staff, ticket_id)
    refund = await _refund_of(session, staff, ticket)
    moment = now or utcnow()
    refund = await do_ask_approval(session, staff, refund.id, reason=reason, now=moment)
    await add_line(
        session, ticket, staff, "approval asked",
        say("asked the supervisor to agree ¥{amount}", amount=fen_to_yuan(refund.amount_fen)),
        why=reason.strip(), at=moment,
    )  # fmt: skip
    return refund


async def do_case_decide(
    session: AsyncSession,
    leader: StaffAccount,
    ticket_id: int,
    *,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> Refund:
    """The supervisor approves (and so agrees) or refuses the case's refund request."""
    ticket = await ticket_for(session, leader, ticket_id)
    refund = await _refund_of(session, leader, ticket)
    moment = now or utcnow()
    refund = await do_decide_approval(
        session, leader, refund.id, approve=approve, note=note, now=moment
    )
    what = (
        say("the supervisor approved the refund")
        if approve
        else say("the supervisor did not approve the refund")
    )
    await add_line(session, ticket, leader, "approval decided", what, why=note.strip(), at=moment)
    if approve:
        await _tell(session, ticket, refund, moment)
    return refund
