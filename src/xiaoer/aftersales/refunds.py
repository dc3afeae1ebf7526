"""Refunds: who may open and move them, within what amount, and what each move leaves.

Every refund change goes through :func:`do_open_refund` or :func:`do_move_refund`,
which check who may (:func:`check_may_handle`) and how much (the order's payment
less what is refunded or asked already), move the states through
:func:`xiaoer.aftersales.refund_states.next_state`, and leave an audit entry and a
``refund.status`` event — whether a page, the API or an import asked.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import (
    MONEY_BACK,
    OPEN,
    GoodsStatus,
    Move,
    RefundKind,
    RefundStateError,
    RefundStatus,
    State,
    check_amount,
    next_state,
)
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.orders.listing import RefundCondition, refund_filter
from xiaoer.orders.models import Order, OrderItem
from xiaoer.shops.service import peak_state, shop_today, shop_zone
from xiaoer.staff.models import StaffAccount, Team, is_leader


def check_may_handle(staff: StaffAccount) -> None:
    """Refunds are the after-sales team's work, and their supervisors' and managers'."""
    if is_leader(staff):
        return
    if staff.has_role("agent") and staff.team == Team.aftersale.value:
        return
    raise NotPermitted(say("only after-sales agents, supervisors and managers handle refunds"))


def check_may_confirm_goods(staff: StaffAccount) -> None:
    """Goods coming back are confirmed by those who handle refunds, and by the warehouse
    that unpacks them (its receipt of a return confirms them, F2)."""
    if staff.has_role("warehouse"):
        return
    check_may_handle(staff)


async def refund_for(
    session: AsyncSession, staff: StaffAccount, refund_id: int, move: Move | None = None
) -> Refund:
    """The refund, if it is of the caller's shop and the caller may handle it (or, for
    ``move``, make that move)."""
    if move is Move.confirm_goods:
        check_may_confirm_goods(staff)
    else:
        check_may_handle(staff)
    refund = await session.get(Refund, refund_id)
    if refund is None or refund.shop_id != staff.shop_id:
        raise NotFound(say("no such refund"))
    return refund


class RefundHeld(RefundStateError):
    """An agreement asked for on a peak day of the policy's refund blackout."""


async def check_not_held(session: AsyncSession, refund: Refund, now: datetime) -> None:
    """On a peak day of the policy (``aftersales.refund_blackout_days``, the shop's
    wall clock) refunds are agreed only from the next day; the platform's own
    deadline keeps running meanwhile, so the refusal names it."""
    today = await peak_day(session, refund.shop_id, now)
    if today is None:
        return
    deadline = ""
    if refund.deadline_at is not None:
        zone = await shop_zone(session, refund.shop_id)
        deadline = refund.deadline_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    opens = today + timedelta(days=1)
    if deadline:
        raise RefundHeld(
            say(
                "refunds are agreed from {opens} 00:00 (peak day); "
                "the platform's deadline {deadline} still runs",
                opens=opens.isoformat(),
                deadline=deadline,
            )
        )
    raise RefundHeld(
        say("refunds are agreed from {opens} 00:00 (peak day)", opens=opens.isoformat())
    )


class RefundNeedsApproval(RefundStateError):
    """An agreement above the agent's authority: the supervisor approves it."""


async def check_within_authority(
    session: AsyncSession, staff: StaffAccount, refund: Refund
) -> None:
    """An agent agrees a refund up to their level's ``authority.<level>.max_refund_fen``;
    above it (and always, while a supervisor's decision is asked) the supervisor does."""
    if is_leader(staff):
        return
    if refund.approval == APPROVAL_ASKED:
        raise RefundNeedsApproval(say("the supervisor has been asked to decide this refund"))
    policy = await policy_on(session, refund.shop_id)
    authority = policy.authority.get(staff.level)
    limit = authority.max_refund_fen if authority is not None else 0
    if refund.amount_fen > limit:
        raise RefundNeedsApproval(
            say(
                "a refund of ¥{amount} is above your authority of ¥{limit}: ask the supervisor",
                amount=fen_to_yuan(refund.amount_fen),
                limit=fen_to_yuan(limit),
            )
        )


APPROVAL_ASKED = "asked"
APPROVAL_APPROVED = "approved"
APPROVAL_REFUSED = "refused"


async def do_ask_approval(
    session: AsyncSession,
    staff: StaffAccount,
    refund_id: int,
    *,
    reason: str,
    now: datetime | None = None,
) -> Refund:
    """Ask the supervisor to agree a refund above the agent's authority (one click)."""
    refund = await refund_for(session, staff, refund_id)
    if RefundStatus(refund.status) is not RefundStatus.WAIT_SELLER_AGREE:
        raise RefundStateError(say("only a refund waiting for the shop's agreement is asked about"))
    if refund.approval == APPROVAL_ASKED:
        raise RefundStateError(say("the supervisor has been asked to decide this refund"))
    moment = now or utcnow()
    refund.approval = APPROVAL_ASKED
    refund.asked_by, refund.asked_at = staff.id, moment
    refund.decided_by, refund.decision_note = None, ""
    refund.updated_at = moment
    await session.flush()
    await _approval_told(session, staff, refund, "asked", reason.strip()[:500], moment)
    return refund


async def do_decide_approval(
    session: AsyncSession,
    leader: StaffAccount,
    refund_id: int,
    *,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> Refund:
    """The supervisor's answer: an approval agrees the refund at once (held on a peak
    day like any agreement); a refusal sends it back to the agent with the note."""
    refund = await refund_for(session, leader, refund_id)
    if not is_leader(leader):
        raise NotPermitted(say("only a supervisor or a manager decides above an agent's authority"))
    if refund.approval != APPROVAL_ASKED:
        raise RefundStateError(say("nobody has asked for a decision on this refund"))
    moment = now or utcnow()
    if approve:
        await do_move_refund(session, leader, refund.id, Move.agree, reason=note, now=moment)
    refund.approval = APPROVAL_APPROVED if approve else APPROVAL_REFUSED
    refund.decided_by, refund.decision_note = leader.id, note.strip()[:500]
    await session.flush()
    await _approval_told(session, leader, refund, refund.approval, refund.decision_note, moment)
    return refund


async def refunds_to_decide(session: AsyncSession, staff: StaffAccount) -> list[Refund]:
    """Refunds waiting for a supervisor's decision, for those who decide them."""
    if not is_leader(staff):
        return []
    rows = await session.scalars(
        select(Refund)
        .where(Refund.shop_id == staff.shop_id, Refund.approval == APPROVAL_ASKED)
        .order_by(Refund.asked_at, Refund.id)
    )
    return list(rows)


async def _approval_told(
    session: AsyncSession,
    staff: StaffAccount,
    refund: Refund,
    action: str,
    reason: str,
    moment: datetime,
) -> None:
    await record_audit(
        session,
        shop_id=refund.shop_id,
        actor=staff.number or staff.username,
        entity="refund",
        entity_id=str(refund.id),
        action=f"approval {action}",
        before=None,
        after={"approval": refund.approval, "amount_fen": refund.amount_fen},
        reason=reason,
        at=moment,
    )
    await record_event(
        session,
        refund.shop_id,
        "refund.approval",
        {"refund_id": refund.id, "order_id": refund.order_id, "approval": refund.approval,
         "amount_fen": refund.amount_fen, "asked_by": refund.asked_by, "by": staff.id},
        at=moment,
    )  # fmt: skip


async def peak_day(session: AsyncSession, shop_id: int, now: datetime) -> date | None:
    """The shop's day at ``now`` when it is a peak day of the refund blackout, else None."""
    today = await shop_today(session, shop_id, now)
    if (await peak_state(session, shop_id)).refund_blackout:
        return today  # peak mode holds refunds while it is on
    policy = await policy_on(session, shop_id, today)
    return today if today.strftime("%m-%d") in policy.aftersales.refund_blackout_days else None


async def held_refunds(
    session: AsyncSession, staff: StaffAccount, now: datetime, *, limit: int | None = None
) -> tuple[list[Refund], int]:
    """On a peak day of the blackout, every refund waiting for the shop's agreement is
    held; listed with the platform's deadline first, which keeps running, and counted."""
    if not is_leader(staff) or await peak_day(session, staff.shop_id, now) is None:
        return [], 0
    where = (Refund.shop_id == staff.shop_id,
             Refund.status == RefundStatus.WAIT_SELLER_AGREE.value)  # fmt: skip
    query = (
        select(Refund)
        .where(*where)
        .order_by(Refund.deadline_at.is_(None), Refund.deadline_at, Refund.id)
    )
    rows = await session.scalars(query.limit(limit) if limit is not None else query)
    total = await session.scalar(select(func.count()).select_from(Refund).where(*where))
    return list(rows), int(total or 0)


async def refunded_fen(session: AsyncSession, order: Order) -> int:
    """What the order has paid back: the larger of its own total (the order list's
    退款金额, and what the desk agreed) and its successful refunds (the refund report's
    too), so a refund known to both is counted once."""
    succeeded = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.order_id == order.id,
            Refund.status == RefundStatus.SUCCESS.value,
            Refund.kind.in_([k.value for k in MONEY_BACK]),
        )
    )
    return max(order.refunded_fen, int(succeeded or 0))


async def _claimed_fen(session: AsyncSession, order_id: int) -> int:
    """What open refunds of the order ask for already."""
    asked = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.order_id == order_id, Refund.status.in_([s.value for s in OPEN])
        )
    )
    return int(asked or 0)


async def do_open_refund(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    order_id: int,
    kind: RefundKind,
    amount_fen: int,
    reason: str,
    goods: GoodsStatus = GoodsStatus.BUYER_RECEIVED,
    order_item_id: int | None = None,
    now: datetime | None = None,
) -> Refund:
    """Record a buyer's request on an order of the caller's shop (flushed, not
    committed): at most what was paid less what is refunded or asked already — and, for
    one item of the order, at most what that item cost less what was asked for it."""
    check_may_handle(staff)
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != staff.shop_id:
        raise NotFound(say("no order {order_id}", order_id=order_id))
    if not reason.strip():
        raise RefundStateError(say("say what the buyer asks the refund for"))
    already = await refunded_fen(session, order) + await _claimed_fen(session, order.id)
    check_amount(amount_fen, paid_fen=order.paid_fen, refunded_fen=already)
    if order_item_id is not None:
        item = await session.get(OrderItem, order_item_id)
        if item is None or item.order_id != order.id:
            raise RefundStateError(say("the item is not of this order"))
        asked = await session.scalar(
            select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                Refund.order_item_id == item.id,
                Refund.status.in_([*(s.value for s in OPEN), RefundStatus.SUCCESS.value]),
                Refund.kind.in_([k.value for k in MONEY_BACK]),
            )
        )
        cost = min(item.price_fen * item.quantity, order.paid_fen)
        check_amount(amount_fen, paid_fen=cost, refunded_fen=int(asked or 0))
    moment = now or utcnow()
    refund = Refund(
        shop_id=staff.shop_id,
        order_id=order.id,
        kind=kind.value,
        status=RefundStatus.WAIT_SELLER_AGREE.value,
        goods=goods.value,
        amount_fen=amount_fen,
        order_item_id=order_item_id,
        reason=reason.strip()[:200],
        opened_by=staff.id,
        created_at=moment,
        updated_at=moment,
    )
    session.add(refund)
    await session.flush()
    await _left(session, staff, refund, None, "open", moment)
    return refund


async def do_move_refund(
    session: AsyncSession,
    staff: StaffAccount,
    refund_id: int,
    move: Move,
    *,
    reason: str = "",
    waybill: str = "",
    carrier: str = "",
    now: datetime | None = None,
) -> Refund:
    """Make ``move`` on the refund (flushed, not committed); a success adds the amount
    to the order's refunded total."""
    refund = await refund_for(session, staff, refund_id, move)
    before = State(RefundStatus(refund.status), GoodsStatus(refund.goods), RefundKind(refund.kind))
    after = next_state(before, move, reason=reason, waybill=waybill, carrier=carrier)
    moment = now or utcnow()
    if move is Move.agree:
        await check_within_authority(session, staff, refund)
        await check_not_held(session, refund, moment)
    refund.status = after.status.value
    refund.goods = after.goods.value
    if move is Move.refuse:
        refund.refusal = reason.strip()[:500]
    if move is Move.send_back:
        refund.return_waybill = waybill.strip()[:64]
        refund.return_carrier = carrier.strip()[:32]
    refund.updated_at = moment
    if after.status not in OPEN:
        refund.finished_at = moment
    if after.status is RefundStatus.SUCCESS and RefundKind(refund.kind) in MONEY_BACK:
        order = await session.get(Order, refund.order_id)
        if order is not None:
            order.refunded_fen += refund.amount_fen
    await session.flush()
    await _left(session, staff, refund, before, move.value, moment, reason)
    return refund


async def _left(
    session: AsyncSession,
    staff: StaffAccount,
    refund: Refund,
    before: State | None,
    action: str,
    moment: datetime,
    reason: str = "",
) -> None:
    await record_refund_change(
        session,
        shop_id=refund.shop_id,
        refund_id=refund.id,
        order_id=refund.order_id,
        kind=refund.kind,
        amount_fen=refund.amount_fen,
        state=(refund.status, refund.goods),
        before=(before.status.value, before.goods.value) if before else None,
        action=action,
        actor=staff.number or staff.username,
        by=staff.id,
        moment=moment,
        reason=reason,
    )


async def record_refund_change(
    session: AsyncSession,
    *,
    shop_id: int,
    refund_id: int,
    order_id: int,
    kind: str,
    amount_fen: int,
    state: tuple[str, str],
    before: tuple[str, str] | None,
    action: str,
    actor: str,
    by: int | None,
    moment: datetime,
    reason: str = "",
) -> None:
    """What every change of a refund's states leaves: an audit entry and a
    ``refund.status`` event. ``state`` and ``before``: (status, goods) after and
    before (None for a new refund); ``by``: the staff account, None for an import
    from the command line."""
    now_state = {"status": state[0], "goods": state[1]}
    await record_audit(
        session,
        shop_id=shop_id,
        actor=actor,
        entity="refund",
        entity_id=str(refund_id),
        action=action,
        before={"status": before[0], "goods": before[1]} if before else None,
        after=now_state,
        reason=reason,
        at=moment,
    )
    await record_event(
        session,
        shop_id,
        "refund.status",
        {
            "refund_id": refund_id,
            "order_id": order_id,
            "kind": kind,
            "amount_fen": amount_fen,
            "move": action,
            "by": by,
            **now_state,
        },
        at=moment,
    )


# --- the orders list's refund filter (orders may not import after-sales) ---------------


def _refunds_in(*states: RefundStatus, present: bool = True) -> RefundCondition:
    """The condition "the order has a refund (in one of ``states`` when given)"."""

    def condition(shop_id: int) -> ColumnElement[bool]:
        if not states:  # any refund or none: the mark the database keeps on the order
            return Order.refunded.is_(present)
        found = exists().where(Refund.order_id == Order.id, Refund.shop_id == shop_id)
        if states:
            found = found.where(Refund.status.in_([s.value for s in states]))
        return found if present else ~found

    return condition


refund_filter("any")(_refunds_in())
refund_filter("none")(_refunds_in(present=False))
refund_filter("open")(_refunds_in(*OPEN))
for _status in (RefundStatus.SUCCESS, RefundStatus.SELLER_REFUSE_BUYER, RefundStatus.CLOSED):
    refund_filter(_status.value)(_refunds_in(_status))
