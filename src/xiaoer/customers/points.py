"""Points (R5): the ledger ``points_move`` and its projection ``points_balance``.

Points belong to the buyer row of the order that earned them (``order.customer_id``),
so merging buyers into one person, or undoing it, moves nothing: a person's points are
the sum over their buyers (:func:`person_balance`). Every change is a move, unique per
(buyer, kind, document), written with its balance change in the same transaction; a
second pass over the same order or refund finds its move there and adds nothing.

- **earn**: every buyer earns on a paid order, member or not (levels decide prices,
  not points): ``paid_fen × points_per_yuan ÷ 100``, rounded down, *pending*. The
  order's payment earns at once through ``orders.lifecycle.on_status_changed`` (the
  move's insert, the balance's row and update; a change that is no payment costs
  nothing but, once a process per shop, a look that the shop's hourly pass is armed),
  and the periodic pass (:func:`settle_points`) earns for orders that arrived paid by
  an import, which no hook sees, in a few set-wise statements.
- **confirm**: pending → usable when the buyer confirmed receipt (``TRADE_FINISHED``)
  or ``points_pending_days`` after shipping — never while a refund of the order is
  open. Usable points are lots expiring ``points_expire_months`` after that day.
- **reverse**: a refund takes back the order's points in proportion to the amount
  refunded (the order's refunded total or its successful money-back refunds, the
  larger), from pending while pending, else from usable — which then may fall below
  zero: a debt, and nothing can be spent until it is earned back. Its document names
  the refunded amount, so each further refund of the order takes back only the rest.
- **restore**: points spent on an order that is refunded come back in the same
  proportion, as a new lot.
- **expire**: the pass expires usable lots past their day, oldest first: whatever
  was taken out (spends, reversals, earlier expiries) used up the oldest lots.
- **spend** (:func:`do_spend_points`): off an unpaid order of the shop's own site, at
  most ``points_max_share`` of its amount, at ``point_value_fen`` each, never more
  than usable; the person's refunds are settled first, so a refund that just
  succeeded is never spent.
- **adjust** (:func:`do_adjust_points`): a supervisor's correction, with a reason.

Each balance change is one statement: an upsert adding the move's amounts, or for a
spend a conditional ``UPDATE … WHERE usable >= n``, so two spends at once can never
both take the last points. ``xiaoer points rebuild`` (:mod:`.points_rebuild`)
recomputes the balances from the ledger. The ledger's writing is
:mod:`.points_ledger`, the periodic pass :mod:`.points_settle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.models import PointsBalance, PointsKind, PointsMove
from xiaoer.customers.people import (
    buyer_ids,
    check_manager,
    check_reader,
    person_in_shop,
    person_of,
)
from xiaoer.customers.points_ledger import (
    Balance,
    NewMove,
    PointsError,
    add_months,
    apply_moves,
    earned_points,
    take_points,
)
from xiaoer.customers.points_settle import ensure_settle_timer, settle_points
from xiaoer.orders.lifecycle import on_status_changed
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount

MAX_ADJUST = 1_000_000

__all__ = ["Balance", "PointsError", "settle_points"]


# --- reading ------------------------------------------------------------------------------


async def _balance_of_buyers(session: AsyncSession, ids: Sequence[int]) -> Balance:
    rows = (
        await session.execute(
            select(PointsBalance.pending, PointsBalance.usable).where(
                PointsBalance.customer_id.in_(list(ids))
            )
        )
    ).all()
    return Balance(
        pending=sum(r.pending for r in rows),
        usable=sum(r.usable for r in rows),
        debt=any(r.usable < 0 for r in rows),
    )


async def person_balance(session: AsyncSession, person: Customer) -> Balance:
    """The person's points over all their buyers (no check: the caller's)."""
    return await _balance_of_buyers(session, await buyer_ids(session, person))


@dataclass(frozen=True)
class Ledger:
    person: Customer
    balance: Balance
    moves: list[PointsMove] = field(default_factory=list)


async def ledger_of(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, limit: int = 500
) -> Ledger:
    """A person's points and their moves, newest first: for the readers of the file."""
    person = await person_of(session, staff, customer_id)
    ids = await buyer_ids(session, person)
    moves = await session.scalars(
        select(PointsMove)
        .where(PointsMove.customer_id.in_(ids))
        .order_by(PointsMove.at.desc(), PointsMove.id.desc())
        .limit(limit)
    )
    return Ledger(person, await _balance_of_buyers(session, ids), list(moves))


# --- earning at payment -------------------------------------------------------------------


async def earn_for_order(session: AsyncSession, order: Order, policy: Policy, now: datetime) -> int:
    """The order's pending points, once; returns the points written (0 when earned before)."""
    if order.customer_id is None or order.paid_at is None:
        return 0
    points = earned_points(policy, order.paid_fen)
    if points <= 0:
        return 0
    move = NewMove(order.customer_id, PointsKind.earn, f"order:{order.id}", pending=points,
                   order_id=order.id)  # fmt: skip
    written = await apply_moves(session, order.shop_id, [move], now)
    if written:
        await ensure_settle_timer(session, order.shop_id, now)
    return points if written else 0


# Shops whose periodic pass this process saw armed: imports bring paid orders no hook
# sees, so any change of an order's status arms the shop's pass, looking once a process.
_armed: set[int] = set()


@on_status_changed
async def follow_status(
    session: AsyncSession, order: Order, before: TradeStatus, now: datetime
) -> None:
    """A payment earns its pending points in the same unit of work; everything else
    (confirming, refunds, expiry, imported payments) is the periodic pass's, which the
    first change of a shop's order in a process arms."""
    if order.shop_id not in _armed:
        await ensure_settle_timer(session, order.shop_id, now)
        _armed.add(order.shop_id)
    if order.paid_at is None or order.customer_id is None:
        return
    entered_paid = before == TradeStatus.WAIT_BUYER_PAY or (
        order.cash_on_delivery and TradeStatus(order.status) == TradeStatus.TRADE_FINISHED
    )
    if not entered_paid or TradeStatus(order.status) in (
        TradeStatus.TRADE_CLOSED,
        TradeStatus.TRADE_CLOSED_BY_TAOBAO,
    ):
        return
    await earn_for_order(session, order, await policy_on(session, order.shop_id), now)


# --- spending and adjusting ---------------------------------------------------------------


@dataclass(frozen=True)
class Spent:
    points: int
    discount_fen: int
    total_fen: int  # the order's amount after the discount


def max_points(policy: Policy, total_fen: int) -> int:
    """The most points an order of ``total_fen`` may take: ``points_max_share`` of it,
    leaving at least one fen to pay."""
    share = int(total_fen * policy.customers.points_max_share)
    value = policy.customers.point_value_fen
    return max(0, min(share, total_fen - 1) // value)


async def do_spend_points(
    session: AsyncSession,
    staff: StaffAccount | None,
    customer_id: int,
    order_id: int,
    points: int,
    *,
    shop_id: int | None = None,
    now: datetime | None = None,
) -> Spent:
    """Take ``points`` off the unpaid own-site order ``order_id`` of the customer: by an
    agent or a leader (``staff``), or by the shop's site (``staff`` None, ``shop_id``
    given). Refused beyond the usable points, with a debt, beyond the order's share,
    and a second time on the same order."""
    now = now or utcnow()
    if staff is not None:
        check_reader(staff)
        shop_id = staff.shop_id
    if shop_id is None:
        raise NotFound(say("no such customer"))
    person = await person_in_shop(session, shop_id, customer_id)
    ids = await buyer_ids(session, person)
    order = await session.get(Order, order_id)
    if order is None or order.shop_id != shop_id or order.customer_id not in ids:
        raise NotFound(say("no such order of this customer"))
    if order.source != "api" or TradeStatus(order.status) != TradeStatus.WAIT_BUYER_PAY:
        raise PointsError(say("points are taken off an unpaid order of the shop's own site"))
    if points <= 0:
        raise PointsError(say("spend at least one point"))
    policy = await policy_on(session, shop_id)
    # A refund that succeeded since the last pass takes its points back first.
    await settle_points(session, shop_id, policy, ids, now=now)
    already = await session.scalar(
        select(PointsMove.id).where(
            PointsMove.order_id == order.id, PointsMove.kind == PointsKind.spend.value
        )
    )
    if already is not None:
        raise PointsError(say("points were already taken off this order"))
    most = max_points(policy, order.total_fen)
    if points > most:
        raise PointsError(say("this order may take at most {n} points", n=most))
    await take_points(session, shop_id, ids, points, PointsKind.spend, f"order:{order.id}",
                order_id=order.id, by_id=staff.id if staff else None, now=now)  # fmt: skip
    discount = points * policy.customers.point_value_fen
    before = order.total_fen
    order.total_fen = before - discount
    await session.flush()
    actor = (staff.number or staff.username) if staff else "site-api"
    await record_audit(
        session, shop_id=shop_id, actor=actor, entity="order", entity_id=order.platform_order_id,
        action="points", before={"total_fen": before},
        after={"total_fen": order.total_fen, "points": points}, at=now,
    )  # fmt: skip
    await record_event(
        session, shop_id, "points.spent",
        {"customer_id": person.id, "order_id": order.id, "points": points,
         "discount_fen": discount},
        at=now,
    )  # fmt: skip
    return Spent(points, discount, order.total_fen)


async def do_adjust_points(
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    points: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> Balance:
    """A supervisor's correction of a person's usable points (±), with the reason; a
    taking that would leave the person below zero is refused. Returns the new balance."""
    now = now or utcnow()
    check_manager(staff)
    person = await person_of(session, staff, customer_id)
    reason = reason.strip()
    if not reason:
        raise PointsError(say("say why the points are adjusted"))
    if points == 0 or abs(points) > MAX_ADJUST:
        raise PointsError(say("adjust by 1 to {n} points, more or fewer", n=MAX_ADJUST))
    policy = await policy_on(session, person.shop_id)
    today = await shop_today(session, person.shop_id, now)
    expires = add_months(today, policy.customers.points_expire_months) if points > 0 else None
    document = f"adjust:{now.isoformat()}"
    move = NewMove(person.id, PointsKind.adjust, document, usable=points, expires_on=expires,
                   reason=reason, by_id=staff.id)  # fmt: skip
    if points < 0:
        ids = await buyer_ids(session, person)
        await take_points(session, person.shop_id, ids, -points, PointsKind.adjust, document,
                    reason=reason, by_id=staff.id, now=now)  # fmt: skip
    elif not await apply_moves(session, person.shop_id, [move], now):
        raise PointsError(say("the same adjustment was just made"))
    await record_audit(
        session, shop_id=person.shop_id, actor=staff.number or staff.username,
        entity="customer", entity_id=str(person.id), action="points",
        after={"points": points}, reason=reason, at=now,
    )  # fmt: skip
    await record_event(
        session, person.shop_id, "points.adjusted",
        {"customer_id": person.id, "points": points, "by": staff.id}, at=now,
    )  # fmt: skip
    return await person_balance(session, person)
