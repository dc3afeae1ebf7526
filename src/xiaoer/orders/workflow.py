"""What happens to an order over its life: deadlines, tasks and sales credit.

Each handbook deadline is a timer (O3 note within 20 minutes of payment, O6
reminder 10 minutes after an unpaid order, O10 ship-by and deliver-by). The
``on_*`` functions are called in the transaction that changes the order,
wherever the change comes from: the shop's own API, an import or the pages.
A timer's handler looks at the order when it fires and does nothing if the
order has moved on, so a cancelled deadline that fires anyway is harmless.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy, in_span, span_bounds
from xiaoer.core.policy_store import policy_on, policy_version_on
from xiaoer.core.timers import cancel_timer, schedule_timer, timer_handler
from xiaoer.orders.models import (
    PAID_STATUSES,
    CreditRole,
    Order,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.reception.models import Conversation
from xiaoer.shops.service import shop_zone

REMIND = "order.remind"
NOTE_DUE = "order.note_due"
SHIP_DUE = "order.ship_due"
DELIVER_DUE = "order.deliver_due"

CLOSED_STATUSES = frozenset({TradeStatus.TRADE_CLOSED, TradeStatus.TRADE_CLOSED_BY_TAOBAO})
# A buyer's second unpaid order with the same goods within this time is a likely duplicate.
DUPLICATE_WINDOW = timedelta(hours=1)


def subject(order: Order) -> str:
    return f"order:{order.id}"


def after_quiet_hours(policy: Policy, when: datetime, zone: ZoneInfo) -> datetime:
    """``when``, or the end of the policy's rest hours if ``when`` falls inside them (O6)."""
    span = policy.orders.reminder_quiet_hours
    local = when.astimezone(zone)
    if not in_span(span, local.time()):
        return when
    _start, end = span_bounds(span)
    day = local.date()
    if local.time() >= end:  # the span runs past midnight and this is its first evening
        day += timedelta(days=1)
    resume = datetime.combine(day, end if end != time.max else time(0), tzinfo=zone)
    return resume.astimezone(when.tzinfo or zone)


async def owner_for(session: AsyncSession, order: Order) -> int | None:
    """The agent who owns the sale: the flagging agent, else the buyer's last agent (O5)."""
    if order.owner_id is not None:
        return order.owner_id
    if order.customer_id is None:
        return None
    return await session.scalar(
        select(Conversation.agent_id)
        .where(Conversation.customer_id == order.customer_id, Conversation.agent_id.is_not(None))
        .order_by(Conversation.opened_at.desc())
        .limit(1)
    )


async def open_task(
    session: AsyncSession,
    order: Order,
    kind: TaskKind,
    *,
    assignee_id: int | None,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> OrderTask:
    """The order's open task of ``kind``, created if there is none."""
    task = await session.scalar(
        select(OrderTask).where(
            OrderTask.order_id == order.id,
            OrderTask.kind == kind.value,
            OrderTask.status == TaskStatus.open.value,
        )
    )
    if task is not None:
        return task
    task = OrderTask(
        shop_id=order.shop_id,
        order_id=order.id,
        kind=kind.value,
        assignee_id=assignee_id,
        due_at=due_at,
        created_at=now or utcnow(),
        evidence={},
    )
    session.add(task)
    await session.flush()
    await record_event(
        session,
        order.shop_id,
        "order.task",
        {"task_id": task.id, "order_id": order.id, "kind": kind.value, "agent_id": assignee_id},
        at=now,
    )
    return task


async def close_tasks(
    session: AsyncSession,
    order: Order,
    kinds: tuple[TaskKind, ...],
    *,
    outcome: str,
    now: datetime,
    status: TaskStatus = TaskStatus.cancelled,
) -> None:
    tasks = await session.scalars(
        select(OrderTask).where(
            OrderTask.order_id == order.id,
            OrderTask.kind.in_([k.value for k in kinds]),
            OrderTask.status == TaskStatus.open.value,
        )
    )
    for task in tasks:
        task.status = status.value
        task.outcome = outcome
        task.done_at = now


async def on_order_created(
    session: AsyncSession,
    order: Order,
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> None:
    """A new order: the payment reminder, the cash-on-delivery call, duplicates (O6, O7)."""
    now = now or utcnow()
    policy = policy or await policy_on(session, order.shop_id)
    if TradeStatus(order.status) == TradeStatus.WAIT_BUYER_PAY:
        due = order.created_at + timedelta(minutes=policy.orders.payment_reminder_minutes)
        recovery = order.created_at + timedelta(hours=policy.orders.reminder_recovery_hours)
        if due <= recovery and now < recovery:
            due = after_quiet_hours(policy, max(due, now), await shop_zone(session, order.shop_id))
            await schedule_timer(
                session, shop_id=order.shop_id, kind=REMIND, subject=subject(order), due_at=due
            )
        await _flag_duplicate(session, order, now)
    if (
        order.cash_on_delivery
        and policy.orders.cod_phone_confirmation
        and order.cod_confirmed_at is None
        and order.status not in CLOSED_STATUSES
    ):
        owner = await owner_for(session, order)
        await open_task(session, order, TaskKind.cod_call, assignee_id=owner, now=now)
    if order.status in PAID_STATUSES and order.paid_at is not None:
        await on_order_paid(session, order, policy=policy, now=now)


async def _flag_duplicate(session: AsyncSession, order: Order, now: datetime) -> None:
    if order.customer_id is None:
        return
    earlier = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(
            Order.shop_id == order.shop_id,
            Order.customer_id == order.customer_id,
            Order.id != order.id,
            Order.status == TradeStatus.WAIT_BUYER_PAY.value,
            Order.goods_fen == order.goods_fen,
            Order.created_at >= order.created_at - DUPLICATE_WINDOW,
        )
    )
    if earlier:
        await open_task(
            session, order, TaskKind.duplicate, assignee_id=await owner_for(session, order), now=now
        )


async def on_order_paid(
    session: AsyncSession,
    order: Order,
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> None:
    """Payment: note and ship deadlines, the confirmation task, sales credit (O2–O6, O10)."""
    now = now or utcnow()
    policy = policy or await policy_on(session, order.shop_id)
    paid_at = order.paid_at or now
    sub = subject(order)
    await cancel_timer(session, shop_id=order.shop_id, kind=REMIND, subject=sub, now=now)
    owner = await owner_for(session, order)
    if order.owner_id is None and owner is not None:
        order.owner_id = owner
    note_due = paid_at + timedelta(minutes=policy.orders.seller_note_minutes)
    if not await has_note(session, order.id):
        await schedule_timer(
            session, shop_id=order.shop_id, kind=NOTE_DUE, subject=sub, due_at=note_due
        )
    if order.shipped_at is None:
        await schedule_timer(
            session,
            shop_id=order.shop_id,
            kind=SHIP_DUE,
            subject=sub,
            due_at=paid_at + timedelta(hours=policy.orders.ship_within_hours),
        )
    if order.confirmed_at is None and order.shipped_at is None:
        await open_task(session, order, TaskKind.confirm, assignee_id=owner, now=now)
    await close_tasks(session, order, (TaskKind.remind,), outcome="paid", now=now)
    await _credit(session, order, policy, paid_at, owner)


async def _credit(
    session: AsyncSession, order: Order, policy: Policy, paid_at: datetime, owner: int | None
) -> None:
    """Sales-ledger rows: the owner's sale and a reminder's assist (O5, O6)."""
    existing = set(
        await session.scalars(select(SalesCredit.role).where(SalesCredit.order_id == order.id))
    )
    amount = order.paid_fen or order.total_fen
    if owner is not None and CreditRole.owner.value not in existing:
        session.add(
            SalesCredit(
                shop_id=order.shop_id,
                order_id=order.id,
                agent_id=owner,
                role=CreditRole.owner.value,
                reason="flag" if order.flag else "consulted",
                amount_fen=amount,
                paid_at=paid_at,
            )
        )
    if CreditRole.assist.value in existing:
        return
    reminder = await session.scalar(
        select(OrderTask)
        .where(
            OrderTask.order_id == order.id,
            OrderTask.kind == TaskKind.remind.value,
            OrderTask.outcome.in_(("sent", "paid")),
            OrderTask.done_at.is_not(None),
        )
        .order_by(OrderTask.done_at)
        .limit(1)
    )
    window = timedelta(hours=policy.orders.reminder_recovery_hours)
    if (
        reminder is not None
        and reminder.done_by is not None
        and reminder.done_at is not None
        and reminder.done_at <= paid_at <= reminder.done_at + window
    ):
        reminder.outcome = "recovered"
        session.add(
            SalesCredit(
                shop_id=order.shop_id,
                order_id=order.id,
                agent_id=reminder.done_by,
                role=CreditRole.assist.value,
                reason="reminder",
                amount_fen=amount,
                paid_at=paid_at,
            )
        )


async def on_order_shipped(
    session: AsyncSession,
    order: Order,
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    policy = policy or await policy_on(session, order.shop_id)
    sub = subject(order)
    await cancel_timer(session, shop_id=order.shop_id, kind=SHIP_DUE, subject=sub, now=now)
    await close_tasks(session, order, (TaskKind.late_ship,), outcome="shipped", now=now,
                      status=TaskStatus.done)  # fmt: skip
    shipped = order.shipped_at or now
    await schedule_timer(
        session,
        shop_id=order.shop_id,
        kind=DELIVER_DUE,
        subject=sub,
        due_at=shipped + timedelta(days=policy.orders.deliver_within_days),
    )


async def on_order_finished(
    session: AsyncSession, order: Order, *, now: datetime | None = None
) -> None:
    now = now or utcnow()
    await cancel_timer(
        session, shop_id=order.shop_id, kind=DELIVER_DUE, subject=subject(order), now=now
    )
    await close_tasks(session, order, (TaskKind.late_delivery,), outcome="delivered", now=now,
                      status=TaskStatus.done)  # fmt: skip


async def on_order_closed(
    session: AsyncSession, order: Order, *, now: datetime | None = None
) -> None:
    """Closed before or after payment: nothing is due any more."""
    now = now or utcnow()
    sub = subject(order)
    for kind in (REMIND, NOTE_DUE, SHIP_DUE, DELIVER_DUE):
        await cancel_timer(session, shop_id=order.shop_id, kind=kind, subject=sub, now=now)
    await close_tasks(session, order, tuple(TaskKind), outcome="closed", now=now)


async def has_note(session: AsyncSession, order_id: int) -> bool:
    found = await session.scalar(
        select(SellerNote.id).where(SellerNote.order_id == order_id).limit(1)
    )
    return found is not None


async def _order_for(session: AsyncSession, timer: Timer) -> Order | None:
    _, _, raw = timer.subject.partition(":")
    if not raw.isdigit():
        return None
    return await session.get(Order, int(raw))


@timer_handler(REMIND)
async def _remind(session: AsyncSession, timer: Timer, now: datetime) -> None:
    order = await _order_for(session, timer)
    if order is None or TradeStatus(order.status) != TradeStatus.WAIT_BUYER_PAY:
        return
    policy = await policy_on(session, order.shop_id)
    resume = after_quiet_hours(policy, now, await shop_zone(session, order.shop_id))
    if resume > now:  # rest hours: the reminder waits until they end
        await schedule_timer(
            session, shop_id=order.shop_id, kind=REMIND, subject=timer.subject, due_at=resume,
            none_open=True,
        )  # fmt: skip
        return
    await open_task(
        session, order, TaskKind.remind, assignee_id=await owner_for(session, order), now=now
    )


@timer_handler(NOTE_DUE)
async def _note_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """The seller note is late: a task for the owner and a violation event (O3, P4)."""
    order = await _order_for(session, timer)
    if order is None or order.status in CLOSED_STATUSES or await has_note(session, order.id):
        return
    owner = await owner_for(session, order)
    task = await open_task(
        session, order, TaskKind.late_note, assignee_id=owner, due_at=timer.due_at, now=now
    )
    policy = await policy_on(session, order.shop_id, timer.due_at.date())
    version = await policy_version_on(session, order.shop_id, timer.due_at.date())
    await record_event(
        session,
        order.shop_id,
        "violation.late_note",
        {
            "rule": "O3",
            "fine_rule": "note_late_or_wrong",
            "order_id": order.id,
            "platform_order_id": order.platform_order_id,
            "agent_id": owner,
            "task_id": task.id,
            "due_at": timer.due_at.isoformat(),
            "fine_fen": policy.fines.note_late_or_wrong,
            "policy_version": version.id if version is not None else None,
        },
        topic="violation",
        at=now,
    )


@timer_handler(SHIP_DUE)
async def _ship_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    order = await _order_for(session, timer)
    if order is None or order.shipped_at is not None or order.status in CLOSED_STATUSES:
        return
    if TradeStatus(order.status) != TradeStatus.WAIT_SELLER_SEND_GOODS:
        return
    await open_task(
        session, order, TaskKind.late_ship, assignee_id=await owner_for(session, order),
        due_at=timer.due_at, now=now,
    )  # fmt: skip


@timer_handler(DELIVER_DUE)
async def _deliver_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    order = await _order_for(session, timer)
    if order is None or TradeStatus(order.status) not in (
        TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        TradeStatus.SELLER_CONSIGNED_PART,
    ):
        return
    await open_task(
        session, order, TaskKind.late_delivery, assignee_id=await owner_for(session, order),
        due_at=timer.due_at, now=now,
    )  # fmt: skip
