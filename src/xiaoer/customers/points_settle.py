"""The points' periodic pass (R5): what no single request moves.

:func:`settle_points` runs hourly per shop (the timer ``points.settle``, armed by the
first payment that earns and re-armed by each run) and before every spend for the
spender's buyers. In a few set-wise statements it earns for orders that arrived paid
by an import (no hook sees those), takes back what refunded orders earned (from
pending while pending, else from usable, into a debt if spent) and gives back what was
spent on them, confirms pending points of orders received or past the return window
with no refund open, and expires lots past their day, oldest first. Every move it
writes is unique per (buyer, kind, document), so two passes at once, or a pass after a
hook, write each move once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import MONEY_BACK, OPEN, RefundStatus
from xiaoer.core.clock import utcnow
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.customers.models import PointsKind, PointsMove
from xiaoer.customers.points_ledger import (
    CHUNK,
    NewMove,
    SettleReport,
    add_months,
    apply_moves,
    earned_points,
)
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.shops.service import shop_today

SETTLE = "points.settle"  # the periodic pass, one timer per shop
SETTLE_EVERY = timedelta(hours=1)


def _refunded_sql() -> Any:
    """What an order has paid back: its own total or its successful money-back refunds,
    the larger (after-sales counts a refund known to both once, the same way)."""
    succeeded = (
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(
            Refund.order_id == Order.id,
            Refund.status == RefundStatus.SUCCESS.value,
            Refund.kind.in_([k.value for k in MONEY_BACK]),
        )
        .scalar_subquery()
    )
    return case((Order.refunded_fen > succeeded, Order.refunded_fen), else_=succeeded)


async def _earn_missing(
    session: AsyncSession, shop_id: int, policy: Policy, buyers: Sequence[int] | None, now: datetime
) -> int:
    if policy.customers.points_per_yuan <= 0:
        return 0
    earned = exists().where(
        PointsMove.order_id == Order.id,
        PointsMove.kind == PointsKind.earn.value,
    )
    query = select(Order.id, Order.customer_id, Order.paid_fen).where(
        Order.shop_id == shop_id,
        Order.paid_at.is_not(None),
        Order.customer_id.is_not(None),
        Order.paid_fen > 0,
        # a paid order closed is refunded in full: nothing to earn and take back
        Order.status != TradeStatus.TRADE_CLOSED.value,
        ~earned,
    )
    if buyers is not None:
        query = query.where(Order.customer_id.in_(list(buyers)))
    moves = [
        NewMove(int(r.customer_id), PointsKind.earn, f"order:{r.id}",
                pending=earned_points(policy, r.paid_fen), order_id=r.id)
        for r in await session.execute(query)
        if earned_points(policy, r.paid_fen) > 0
    ]  # fmt: skip
    written = await apply_moves(session, shop_id, moves, now)
    return sum(m.pending for m in written)


async def _order_sums(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[tuple[int, int], dict[str, tuple[int, int]]]:
    """(order, buyer) → kind → (pending, usable), summed over the order's moves."""
    sums: dict[tuple[int, int], dict[str, tuple[int, int]]] = defaultdict(dict)
    for start in range(0, len(order_ids), CHUNK):
        rows = await session.execute(
            select(
                PointsMove.order_id,
                PointsMove.customer_id,
                PointsMove.kind,
                func.sum(PointsMove.pending),
                func.sum(PointsMove.usable),
            )
            .where(PointsMove.order_id.in_(list(order_ids[start : start + CHUNK])))
            .group_by(PointsMove.order_id, PointsMove.customer_id, PointsMove.kind)
        )
        for order_id, customer, kind, pending, usable in rows:
            sums[(int(order_id or 0), int(customer))][kind] = (int(pending or 0), int(usable or 0))
    return sums


def _share(points: int, refunded: int, paid: int) -> int:
    """The part of ``points`` a refund of ``refunded`` out of ``paid`` takes back."""
    if points <= 0 or refunded <= 0 or paid <= 0:
        return 0
    return points if refunded >= paid else points * refunded // paid


async def _refund_moves(
    session: AsyncSession,
    shop_id: int,
    policy: Policy,
    buyers: Sequence[int] | None,
    today: date,
    now: datetime,
) -> tuple[int, int]:
    """Reverse what refunded orders earned and restore what was spent on them."""
    refunded = _refunded_sql().label("refunded")
    query = select(Order.id, Order.paid_fen, Order.status, refunded).where(
        Order.shop_id == shop_id,
        exists().where(PointsMove.order_id == Order.id),
        or_(
            # closed unpaid: what was spent on it comes back whole
            Order.status == TradeStatus.TRADE_CLOSED_BY_TAOBAO.value,
            and_(
                Order.paid_at.is_not(None),
                or_(
                    Order.refunded_fen > 0,
                    exists().where(
                        Refund.order_id == Order.id, Refund.status == RefundStatus.SUCCESS.value
                    ),
                ),
            ),
        ),
    )
    if buyers is not None:
        query = query.where(
            or_(
                Order.customer_id.in_(list(buyers)),
                exists().where(
                    PointsMove.order_id == Order.id, PointsMove.customer_id.in_(list(buyers))
                ),
            )
        )
    orders: dict[int, tuple[int, int, str]] = {}
    for row in await session.execute(query):
        if row.status == TradeStatus.TRADE_CLOSED_BY_TAOBAO.value:
            orders[int(row.id)] = (1, 1, f"closed:{row.id}")  # unpaid: all of it back
        else:
            back = int(row.refunded)
            orders[int(row.id)] = (int(row.paid_fen), back, f"refund:{row.id}:{back}")
    if not orders:
        return 0, 0
    sums = await _order_sums(session, sorted(orders))
    expires = add_months(today, policy.customers.points_expire_months)
    moves: list[NewMove] = []
    for (order_id, customer), kinds in sorted(sums.items()):
        paid, back, document = orders[order_id]
        earned = kinds.get(PointsKind.earn.value, (0, 0))[0]
        taken = kinds.get(PointsKind.reverse.value, (0, 0))
        owed = _share(earned, back, paid) + sum(taken)  # taken back already is negative
        if owed > 0:
            pending_left = sum(p for p, _ in kinds.values())
            from_pending = min(owed, max(0, pending_left))
            moves.append(NewMove(customer, PointsKind.reverse, document, pending=-from_pending,
                                 usable=-(owed - from_pending), order_id=order_id))  # fmt: skip
        spent = -kinds.get(PointsKind.spend.value, (0, 0))[1]
        restored = kinds.get(PointsKind.restore.value, (0, 0))[1]
        due = _share(spent, back, paid) - restored
        if due > 0:
            moves.append(NewMove(customer, PointsKind.restore, document, usable=due,
                                 order_id=order_id, expires_on=expires))  # fmt: skip
    written = await apply_moves(session, shop_id, moves, now)
    reversed_ = -sum(m.pending + m.usable for m in written if m.kind is PointsKind.reverse)
    restored_ = sum(m.usable for m in written if m.kind is PointsKind.restore)
    return reversed_, restored_


async def _confirm_due(
    session: AsyncSession,
    shop_id: int,
    policy: Policy,
    buyers: Sequence[int] | None,
    today: date,
    now: datetime,
) -> int:
    """Pending points of orders received (or past the return window) with no refund open."""
    window = now - timedelta(days=policy.customers.points_pending_days)
    confirmed = exists().where(
        PointsMove.order_id == Order.id, PointsMove.kind == PointsKind.confirm.value
    )
    open_refund = exists().where(
        Refund.order_id == Order.id, Refund.status.in_([s.value for s in OPEN])
    )
    query = select(Order.id).where(
        Order.shop_id == shop_id,
        exists().where(PointsMove.order_id == Order.id, PointsMove.kind == PointsKind.earn.value),
        ~confirmed,
        ~open_refund,
        or_(
            Order.status == TradeStatus.TRADE_FINISHED.value,
            and_(Order.shipped_at.is_not(None), Order.shipped_at <= window),
        ),
        Order.status.not_in(
            (TradeStatus.TRADE_CLOSED.value, TradeStatus.TRADE_CLOSED_BY_TAOBAO.value)
        ),
    )
    if buyers is not None:
        query = query.where(Order.customer_id.in_(list(buyers)))
    order_ids = [int(i) for i in await session.scalars(query)]
    if not order_ids:
        return 0
    expires = add_months(today, policy.customers.points_expire_months)
    moves = []
    for (order_id, customer), kinds in sorted((await _order_sums(session, order_ids)).items()):
        left = sum(p for p, _ in kinds.values())
        if left > 0:
            moves.append(NewMove(customer, PointsKind.confirm, f"order:{order_id}", pending=-left,
                                 usable=left, order_id=order_id, expires_on=expires))  # fmt: skip
    written = await apply_moves(session, shop_id, moves, now)
    return sum(m.usable for m in written)


async def _expire_due(
    session: AsyncSession, shop_id: int, buyers: Sequence[int] | None, today: date, now: datetime
) -> int:
    """Lots past their day, less what was taken out since (oldest lots go first)."""
    lots = func.coalesce(
        func.sum(
            case(
                (and_(PointsMove.usable > 0, PointsMove.expires_on <= today), PointsMove.usable),
                else_=0,
            )
        ),
        0,
    )
    out = func.coalesce(func.sum(case((PointsMove.usable < 0, -PointsMove.usable), else_=0)), 0)
    query = (
        select(PointsMove.customer_id, (lots - out).label("due"))
        .where(PointsMove.shop_id == shop_id)
        .group_by(PointsMove.customer_id)
        .having(lots - out > 0)
    )
    if buyers is not None:
        query = query.where(PointsMove.customer_id.in_(list(buyers)))
    else:
        # Only buyers who hold a lot past its day at all.
        query = query.where(
            PointsMove.customer_id.in_(
                select(PointsMove.customer_id).where(
                    PointsMove.shop_id == shop_id,
                    PointsMove.usable > 0,
                    PointsMove.expires_on <= today,
                )
            )
        )
    moves = [
        NewMove(int(r.customer_id), PointsKind.expire, f"expire:{today.isoformat()}",
                usable=-int(r.due))
        for r in await session.execute(query)
    ]  # fmt: skip
    written = await apply_moves(session, shop_id, moves, now)
    return -sum(m.usable for m in written)


async def settle_points(
    session: AsyncSession,
    shop_id: int,
    policy: Policy | None = None,
    buyers: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> SettleReport:
    """The periodic pass over a shop (or some buyers): earn what imports brought, take
    back for refunds, confirm what is due, expire what is past. The caller commits."""
    now = now or utcnow()
    policy = policy or await policy_on(session, shop_id)
    today = await shop_today(session, shop_id, now)
    report = SettleReport()
    if buyers is not None and not buyers:
        return report
    report.earned = await _earn_missing(session, shop_id, policy, buyers, now)
    report.reversed, report.restored = await _refund_moves(
        session, shop_id, policy, buyers, today, now
    )
    report.confirmed = await _confirm_due(session, shop_id, policy, buyers, today, now)
    report.expired = await _expire_due(session, shop_id, buyers, today, now)
    return report


async def ensure_settle_timer(session: AsyncSession, shop_id: int, now: datetime) -> None:
    """Keep the shop's periodic pass armed (once: an armed one is left where it is)."""
    armed = await session.scalar(
        select(Timer.id).where(
            Timer.shop_id == shop_id,
            Timer.kind == SETTLE,
            Timer.subject == f"shop:{shop_id}",
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
    )
    if armed is None:
        await schedule_timer(session, shop_id=shop_id, kind=SETTLE, subject=f"shop:{shop_id}",
                             due_at=now + SETTLE_EVERY, none_open=True)  # fmt: skip


@timer_handler(SETTLE)
async def _settle_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    await settle_points(session, timer.shop_id, now=now)
    await schedule_timer(session, shop_id=timer.shop_id, kind=SETTLE, subject=timer.subject,
                         due_at=now + SETTLE_EVERY, none_open=True)  # fmt: skip
