"""An order's life as one table: which move leads from which states to which.

Every status change goes through here, wherever it comes from:

- :func:`do_transition` makes a move the shop asks for (its own site's API, a task,
  a page): the table says from which states it may start, what else it checks, which
  state it leads to and what it stamps on the order.
- :func:`do_record_status` records a change the platform reports (a newer
  seller-centre export): the platform is the truth there, so nothing is refused.

Both then do the same three things, once: the audit entry, the ``order.status``
event, and the workflow's deadlines and tasks for the states entered (:data:`FOLLOW`).
Packages above (fulfilment: the audit queue, reserved stock) follow every change
through :func:`on_status_changed`, in the same unit of work.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.orders import workflow
from xiaoer.orders.errors import OrderError
from xiaoer.orders.models import PAID_STATUSES, Order, TradeStatus


class Move(enum.StrEnum):
    pay = "pay"
    ship = "ship"
    finish = "finish"
    close = "close"


CLOSED = workflow.CLOSED_STATUSES
SHIPPED = frozenset(
    {
        TradeStatus.SELLER_CONSIGNED_PART,
        TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        TradeStatus.TRADE_BUYER_SIGNED,
    }
)

# The trade states in messages: the code in English, the seller centre's words on pages.
STATUS_SAID: dict[str, Text] = {
    TradeStatus.WAIT_BUYER_PAY.value: say("WAIT_BUYER_PAY"),
    TradeStatus.WAIT_SELLER_SEND_GOODS.value: say("WAIT_SELLER_SEND_GOODS"),
    TradeStatus.SELLER_CONSIGNED_PART.value: say("SELLER_CONSIGNED_PART"),
    TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value: say("WAIT_BUYER_CONFIRM_GOODS"),
    TradeStatus.TRADE_BUYER_SIGNED.value: say("TRADE_BUYER_SIGNED"),
    TradeStatus.TRADE_FINISHED.value: say("TRADE_FINISHED"),
    TradeStatus.TRADE_CLOSED.value: say("TRADE_CLOSED"),
    TradeStatus.TRADE_CLOSED_BY_TAOBAO.value: say("TRADE_CLOSED_BY_TAOBAO"),
}


def status_said(order: Order) -> str:
    return STATUS_SAID.get(order.status, order.status)


@dataclass(frozen=True)
class Details:
    """What a move carries: the amount paid, the parcel, the reason for closing."""

    paid_fen: int | None = None
    courier: str = ""
    tracking_number: str = ""
    reason: str = ""


Check = Callable[[AsyncSession, Order, Details], Awaitable[None]]


@dataclass(frozen=True)
class Transition:
    sources: frozenset[TradeStatus]
    # The move was made already: asked again (a retried call), it changes nothing.
    made: Callable[[Order], bool]
    refused: Callable[[Order], Text]
    check: Check | None
    target: Callable[[Order], TradeStatus]
    stamp: Callable[[Order, Details, datetime], None]


# --- the moves' checks and stamps ----------------------------------------------------


async def _check_payment(_session: AsyncSession, order: Order, details: Details) -> None:
    if details.paid_fen is not None and not 0 < details.paid_fen <= order.total_fen:
        raise OrderError(
            say(
                "the amount paid must be more than 0 and at most {total} fen",
                total=order.total_fen,
            )
        )


def _stamp_paid(order: Order, details: Details, now: datetime) -> None:
    order.paid_at = now
    order.paid_fen = order.total_fen if details.paid_fen is None else details.paid_fen


async def _check_shipping(session: AsyncSession, order: Order, details: Details) -> None:
    if not order.cash_on_delivery and TradeStatus(order.status) == TradeStatus.WAIT_BUYER_PAY:
        raise OrderError(_cannot_ship(order))  # only cash on delivery ships unpaid
    if order.cash_on_delivery and order.cod_confirmed_at is None:
        policy = await policy_on(session, order.shop_id)
        if policy.orders.cod_phone_confirmation:
            raise OrderError(
                say("cash on delivery: confirm the order with the buyer by phone before shipping")
            )
    if not details.courier.strip() or not details.tracking_number.strip():
        raise OrderError(say("shipping needs the courier and the tracking number"))


def _stamp_shipped(order: Order, details: Details, now: datetime) -> None:
    order.courier = details.courier.strip()[:32]
    order.tracking_number = details.tracking_number.strip()[:64]
    order.shipped_at = now


def _stamp_finished(order: Order, _details: Details, now: datetime) -> None:
    order.finished_at = now
    if order.cash_on_delivery and order.paid_at is None:
        order.paid_at = now
        order.paid_fen = order.total_fen


def _closes_as(order: Order) -> TradeStatus:
    paid = order.paid_at is not None
    return TradeStatus.TRADE_CLOSED if paid else TradeStatus.TRADE_CLOSED_BY_TAOBAO


def _stamp_closed(order: Order, details: Details, now: datetime) -> None:
    paid = order.paid_at is not None
    order.close_reason = (details.reason.strip() or ("退款" if paid else "买家未付款"))[:64]
    order.closed_at = now
    if paid:
        order.refunded_fen = order.paid_fen


def _cannot_pay(order: Order) -> Text:
    return say(
        "order {number} is {status}; it cannot be paid",
        number=order.platform_order_id,
        status=status_said(order),
    )


def _cannot_ship(order: Order) -> Text:
    return say(
        "order {number} is {status}; it cannot ship",
        number=order.platform_order_id,
        status=status_said(order),
    )


def _cannot_finish(order: Order) -> Text:
    if order.shipped_at is None:
        return say("order {number} has not shipped", number=order.platform_order_id)
    return say(
        "order {number} is {status}; it cannot finish",
        number=order.platform_order_id,
        status=status_said(order),
    )


def _cannot_close(order: Order) -> Text:
    return say(
        "order {number} is {status}; it cannot close",
        number=order.platform_order_id,
        status=status_said(order),
    )


TRANSITIONS: dict[Move, Transition] = {
    Move.pay: Transition(
        sources=frozenset({TradeStatus.WAIT_BUYER_PAY}),
        made=lambda o: o.paid_at is not None and TradeStatus(o.status) not in CLOSED,
        refused=_cannot_pay,
        check=_check_payment,
        target=lambda _o: TradeStatus.WAIT_SELLER_SEND_GOODS,
        stamp=_stamp_paid,
    ),
    Move.ship: Transition(
        # An unpaid order ships only when paid on delivery (the check says so).
        sources=frozenset({TradeStatus.WAIT_SELLER_SEND_GOODS, TradeStatus.WAIT_BUYER_PAY}),
        made=lambda o: o.shipped_at is not None,
        refused=_cannot_ship,
        check=_check_shipping,
        target=lambda _o: TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        stamp=_stamp_shipped,
    ),
    Move.finish: Transition(
        sources=SHIPPED,
        made=lambda o: TradeStatus(o.status) == TradeStatus.TRADE_FINISHED,
        refused=_cannot_finish,
        check=None,
        target=lambda _o: TradeStatus.TRADE_FINISHED,
        stamp=_stamp_finished,
    ),
    Move.close: Transition(
        sources=frozenset({TradeStatus.WAIT_BUYER_PAY, TradeStatus.WAIT_SELLER_SEND_GOODS}),
        made=lambda o: TradeStatus(o.status) in CLOSED,
        refused=_cannot_close,
        check=None,
        target=_closes_as,
        stamp=_stamp_closed,
    ),
}


# --- what follows a change, whoever made it ---------------------------------------------

Follow = Callable[[AsyncSession, Order, Policy, datetime], Awaitable[None]]
Enters = Callable[[TradeStatus, TradeStatus, Order], bool]
IN_TRANSIT = frozenset({TradeStatus.SELLER_CONSIGNED_PART, TradeStatus.WAIT_BUYER_CONFIRM_GOODS})


async def _paid(session: AsyncSession, order: Order, policy: Policy, now: datetime) -> None:
    await workflow.on_order_paid(session, order, policy=policy, now=now)


async def _shipped(session: AsyncSession, order: Order, policy: Policy, now: datetime) -> None:
    await workflow.on_order_shipped(session, order, policy=policy, now=now)


async def _finished(session: AsyncSession, order: Order, _policy: Policy, now: datetime) -> None:
    await workflow.on_order_finished(session, order, now=now)


async def _closed(session: AsyncSession, order: Order, _policy: Policy, now: datetime) -> None:
    await workflow.on_order_closed(session, order, now=now)


# (session, order, the status before, now): packages above orders act on a change.
StatusHook = Callable[[AsyncSession, Order, TradeStatus, datetime], Awaitable[None]]
_status_hooks: list[StatusHook] = []


def on_status_changed(hook: StatusHook) -> StatusHook:
    """Register ``hook`` (a decorator) to run after every status change, whoever made
    it; registering twice registers once."""
    if hook not in _status_hooks:
        _status_hooks.append(hook)
    return hook


# (does a change from → to enter this stage?, what the workflow does then), in this
# order: an export a day late may jump from unpaid to shipped, which is paid, then
# shipped. Cash on delivery ships unpaid and is paid when it finishes: no payment then.
FOLLOW: tuple[tuple[Enters, Follow], ...] = (
    (
        lambda old, new, order: (
            old == TradeStatus.WAIT_BUYER_PAY
            and new in PAID_STATUSES
            and new != TradeStatus.TRADE_FINISHED
            and order.paid_at is not None
        ),
        _paid,
    ),
    (lambda _old, new, _order: new in IN_TRANSIT, _shipped),
    (lambda _old, new, _order: new == TradeStatus.TRADE_FINISHED, _finished),
    (lambda _old, new, _order: new in CLOSED, _closed),
)


async def _changed(
    session: AsyncSession,
    order: Order,
    before: str,
    *,
    actor: str,
    reason: str,
    policy: Policy | None,
    now: datetime,
) -> None:
    """The audit entry, the event and the workflow of a change from ``before``."""
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=actor,
        entity="order",
        entity_id=order.platform_order_id,
        action="status",
        before={"status": before},
        after={"status": order.status},
        reason=reason,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.status",
        {"order_id": order.id, "status": order.status, "before": before},
        at=now,
    )
    old, new = TradeStatus(before), TradeStatus(order.status)
    chosen = [follow for enters, follow in FOLLOW if enters(old, new, order)]
    if chosen:
        policy = policy or await policy_on(session, order.shop_id)
        for follow in chosen:
            await follow(session, order, policy, now)
    for hook in _status_hooks:
        await hook(session, order, old, now)


async def do_transition(
    session: AsyncSession,
    order: Order,
    move: Move,
    *,
    details: Details | None = None,
    actor: str = "api",
    now: datetime | None = None,
) -> Order:
    """Make ``move`` on the order as the table allows; a move made already changes nothing."""
    now = now or utcnow()
    details = details or Details()
    transition = TRANSITIONS[move]
    if transition.made(order):
        return order
    if TradeStatus(order.status) not in transition.sources:
        raise OrderError(transition.refused(order))
    if transition.check is not None:
        await transition.check(session, order, details)
    before = order.status
    order.status = transition.target(order).value
    transition.stamp(order, details, now)
    reason = order.close_reason if move == Move.close else ""
    await _changed(session, order, before, actor=actor, reason=reason, policy=None, now=now)
    return order


async def do_record_status(
    session: AsyncSession,
    order: Order,
    before: str,
    *,
    actor: str,
    reason: str = "",
    policy: Policy | None = None,
    now: datetime | None = None,
) -> None:
    """The platform moved the order from ``before`` to its present status (already set):
    audited, told and followed like any other change; nothing when it did not move."""
    if order.status == before:
        return
    await _changed(
        session, order, before, actor=actor, reason=reason, policy=policy, now=now or utcnow()
    )
