"""Customer-service KPIs (P6) as DOMAIN.md defines them, from rows rolled up per day.

:func:`rollup_days` counts a range of days of rounds, messages, conversations, orders
and credits and writes, for each day, one :class:`KpiDay` row for the shop, one per team
and one per agent. Reports add up
the rows of a period (peaks take the maximum), so no report reads the messages
themselves. A period's buyer counts are sums of days: a buyer who asks on two days
is two inquiries, as in the daily figure.

What each column counts, for a day in the shop's time zone:

- ``inquiring_buyers``: buyers who wrote that day; per agent, in the agent's
  conversations. ``ordering_buyers`` / ``paying_buyers``: those of them who placed an
  order the same day or within the policy's conversion window after it, and who
  paid for one (whenever they paid, so the figure grows for a while: payment may
  come days later, and a rollup recounts the window's days before it).
- Rounds (a buyer message, or run of them, up to the next human reply) that started
  within the policy's response hours: ``rounds``, the capped ``response_seconds``
  (an unanswered round counts as the cap), ``fast_rounds`` (answered within the fast
  limit), ``slow_rounds`` (answered later than the reply target), ``unanswered_rounds``;
  ``first_rounds`` and ``first_response_seconds`` for conversations' first rounds.
- Conversations opened that day: ``replied`` (a human answered), ``unanswered`` (closed
  with none), ``long``; ``peak_concurrent`` is the most conversations an agent (or the
  shop) held at once that day.
- Orders paid that day: ``paid_orders``, ``paid_fen``, ``paid_buyers`` (the shop's; an
  agent's row holds their own orders); the sales credited to agents as owners:
  ``service_orders``, ``service_fen``, ``service_buyers``. Silent sales are the shop's
  paid sales less its service sales.
- Payment reminders sent that day and the payments they recovered; paid orders whose
  seller note was due, and those written in time.
- The refund rate's counts: ``sold_items`` in the orders paid that day and
  ``refunded_items`` of the refunds that paid money back that day, by the order's owner.

The counting itself, a range of days at once and grouped inside the database, is
:mod:`xiaoer.performance.kpi_rollup`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, month_days, utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.orders.models import (
    CreditRole,
    Order,
    OrderTask,
    SalesCredit,
    TaskKind,
)
from xiaoer.performance.kpi_rollup import (
    BUCKETS,
    COUNTS,
    PEAKS,
    REPLY_BUCKETS,
    STORED,
    day_bounds,
    rollup_days,
    span_on,
)
from xiaoer.performance.models import KpiDay, KpiScope
from xiaoer.reception.models import Conversation, Message, ResponseRound, Sender
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount, is_leader


@dataclass
class Counts:
    """One day's (or a period's) counts for one subject."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORED, 0))

    def add(self, name: str, amount: int) -> None:
        self.values[name] += amount

    def merge(self, other: Counts) -> None:
        for name in STORED:
            if name in PEAKS:
                self.values[name] = max(self.values[name], other.values[name])
            else:
                self.values[name] += other.values[name]

    def __getitem__(self, name: str) -> int:
        return self.values[name]


class KpiError(ValueError):
    """A report that cannot be made; the message says why."""


class KpiForbidden(KpiError, NotPermitted):
    """An agent asked for another agent's figures."""


def scope_for(staff: StaffAccount, asked: KpiScope) -> tuple[KpiScope, list[str] | None]:
    """The scope and subjects a staff member's report covers: a leader's what they ask
    for; an agent's always their own agent row."""
    if is_leader(staff):
        return asked, None
    return KpiScope.agent, [str(staff.id)]


def agent_scope(staff: StaffAccount, agent: int | None) -> int | None:
    """Whose records a drill-down lists: a leader's choice (``None``: everyone); an agent
    only their own, and asking for another agent's is refused."""
    if is_leader(staff):
        return agent
    if agent is not None and agent != staff.id:
        raise KpiForbidden(say("an agent sees only their own figures"))
    return staff.id


async def check_report_agent(session: AsyncSession, staff: StaffAccount, asked: str) -> int:
    """The agent a report is filtered to (``?agent=7``, as payroll's evidence links ask):
    an agent of the caller's shop; an agent may ask only for themselves."""
    try:
        agent_id = int(asked)
    except ValueError:
        agent_id = 0
    if agent_id <= 0:
        raise KpiError(say("agent {agent!r}: expected an agent's id, e.g. 7", agent=asked))
    agent_scope(staff, agent_id)
    found = await session.scalar(
        select(StaffAccount.id).where(
            StaffAccount.id == agent_id, StaffAccount.shop_id == staff.shop_id
        )
    )
    if found is None:
        raise KpiError(say("agent {agent}: no such agent in this shop", agent=agent_id))
    return agent_id


async def rollup_day(
    session: AsyncSession,
    shop_id: int,
    day: date,
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> int:
    """Count one day and replace its KPI rows; returns how many rows were written.

    Idempotent: rolling a day up again recounts it (today's figures as they stand,
    a past day's conversions with the payments that came since).
    """
    return await rollup_days(session, shop_id, day, day, policy=policy, now=now)


async def ensure_rolled_up(
    session: AsyncSession, shop_id: int, first: date, last: date, *, now: datetime | None = None
) -> int:
    """Roll up the days of a period whose rows are missing or may still change.

    A day's rows are final once they were counted after the day and its conversion
    window were over; those are left alone. Today (and the window before it) is
    counted again, so a report shows the figures as they stand. Returns the days
    rolled up.
    """
    moment = now or utcnow()
    zone = await shop_zone(session, shop_id)
    today = moment.astimezone(zone).date()
    last = min(last, today)
    if last < first:
        return 0
    policy = await policy_on(session, shop_id, last)
    settle = timedelta(days=policy.kpi.conversion_window_days)
    computed = dict(
        (
            await session.execute(
                select(KpiDay.day, KpiDay.computed_at).where(
                    KpiDay.shop_id == shop_id,
                    KpiDay.scope == KpiScope.shop.value,
                    KpiDay.day >= first,
                    KpiDay.day <= last,
                )
            )
        ).all()
    )
    stale: list[date] = []
    day = first
    while day <= last:
        settled_at = day_bounds(day + settle, zone)[1]
        at = computed.get(day)
        if at is None or as_utc(at) < settled_at:
            stale.append(day)
        day += timedelta(days=1)
    # Consecutive stale days are counted together, one pass per table for each run.
    runs: list[list[date]] = []
    for day in stale:
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    for days in runs:
        await rollup_days(session, shop_id, days[0], days[-1], now=moment)
    return len(stale)


ROLLUP = "kpi.rollup"
# Minutes after the shop's midnight at which the nightly rollup runs.
_NIGHTLY_DELAY = timedelta(minutes=10)


async def do_schedule_nightly(
    session: AsyncSession, shop_id: int, *, now: datetime | None = None
) -> None:
    """Keep one timer per shop that rolls up the day just ended, after midnight."""
    moment = now or utcnow()
    zone = await shop_zone(session, shop_id)
    tomorrow = moment.astimezone(zone).date() + timedelta(days=1)
    await schedule_timer(
        session,
        shop_id=shop_id,
        kind=ROLLUP,
        subject=f"shop:{shop_id}",
        due_at=day_bounds(tomorrow, zone)[0] + _NIGHTLY_DELAY,
    )


@timer_handler(ROLLUP)
async def _nightly(session: AsyncSession, timer: Timer, now: datetime) -> None:
    zone = await shop_zone(session, timer.shop_id)
    yesterday = now.astimezone(zone).date() - timedelta(days=1)
    policy = await policy_on(session, timer.shop_id, yesterday)
    first = yesterday - timedelta(days=policy.kpi.conversion_window_days)
    await rollup_days(session, timer.shop_id, first, yesterday, now=now)
    await do_schedule_nightly(session, timer.shop_id, now=now)


# --- Reading the rows back -------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The KPIs of one subject over a period, with the counts they come from."""

    counts: dict[str, int]

    # Each rate: the count it divides and the count it divides by (DOMAIN.md's KPIs).
    RATES: ClassVar[dict[str, tuple[str, str]]] = {
        "conversion": ("paying_buyers", "inquiring_buyers"),  # 询单→最终付款转化率
        "order_conversion": ("ordering_buyers", "inquiring_buyers"),  # 询单→最终下单
        "order_to_payment": ("paying_buyers", "ordering_buyers"),  # 下单→最终付款
        "first_response_seconds": ("first_response_seconds", "first_rounds"),  # 首次平均响应
        "response_seconds": ("response_seconds", "rounds"),  # 平均响应
        "fast_rate": ("fast_rounds", "rounds"),  # 3分钟响应率
        "reply_rate": ("replied_conversations", "conversations"),  # 回复率
        "answer_ratio": ("agent_messages", "buyer_messages"),  # 答问比
        "reminder_success": ("reminders_recovered", "reminders"),  # 催付成功率
        "notes_on_time_rate": ("notes_on_time", "notes_due"),
        "refund_rate": ("refunded_items", "refund_base"),  # 退款率
    }

    def rate(self, name: str) -> float | None:
        """A rate by name; None when nothing was counted to divide by."""
        if name == "average_order_fen":
            # 客单价: for the shop its paid sales per paying buyer, for an agent their own.
            top, bottom = (
                ("paid_fen", "paid_buyers") if "silent_fen" in self.counts
                else ("service_fen", "service_buyers")
            )  # fmt: skip
        else:
            top, bottom = self.RATES[name]
        below = self.counts.get(bottom, 0)
        return self.counts[top] / below if below else None

    def as_dict(self) -> dict[str, Any]:
        rates = {name: self.rate(name) for name in (*self.RATES, "average_order_fen")}
        return {**self.counts, **rates}


class DayFigures(Mapping[date, Figures]):
    """One subject's figures per day, each made when it is read: a chart reads a few
    subjects of a report that holds a quarter's days of a hundred agents."""

    def __init__(self, scope: KpiScope) -> None:
        self._scope = scope
        self._rows: dict[date, Sequence[Any]] = {}

    def __getitem__(self, day: date) -> Figures:
        return _figures_of(self._rows[day], self._scope)

    def __iter__(self) -> Iterator[date]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclass(frozen=True)
class Report:
    """A period's KPIs per subject of one scope, and per day for the charts."""

    scope: str
    start: date
    end: date  # inclusive
    subjects: dict[str, Figures]
    days: dict[str, DayFigures]


async def report(
    session: AsyncSession,
    shop_id: int,
    start: date,
    end: date,
    scope: KpiScope = KpiScope.agent,
    subjects: Sequence[str] | None = None,
) -> Report:
    """Sum the rolled-up days from ``start`` to ``end`` (inclusive) per subject."""
    if end < start:
        raise KpiError(ends_before_start(start, end))
    where = [
        KpiDay.shop_id == shop_id,
        KpiDay.scope == scope.value,
        KpiDay.day >= start,
        KpiDay.day <= end,
    ]
    if subjects is not None:
        where.append(KpiDay.subject.in_(list(subjects)))
    columns = [getattr(KpiDay, name) for name in STORED]
    # The period's counts per subject, added up by the database (peaks: the maximum).
    summed = select(
        KpiDay.subject,
        *(func.max(column) if column.key in PEAKS else func.sum(column) for column in columns),
    )
    figures = {
        subject: _figures_of(values, scope)
        for subject, *values in await session.execute(summed.where(*where).group_by(KpiDay.subject))
    }
    # Each day's, for the charts: plain rows, not ORM objects (a quarter's report per
    # agent reads ten thousand).
    days: dict[str, DayFigures] = {}
    for subject, day, *values in await session.execute(
        select(KpiDay.subject, KpiDay.day, *columns).where(*where)
    ):
        if subject not in days:
            days[subject] = DayFigures(scope)
        days[subject]._rows[day] = values
    return Report(scope.value, start, end, figures, dict(days))


def ends_before_start(start: date, end: date) -> Text:
    """The message for a period given backwards."""
    return say("the period ends ({end}) before it starts ({start})", end=end, start=start)


# The lists behind a figure look a day at a time: a period of years is no question a
# page asks, and one of thousands of years would keep the server busy for minutes.
MAX_LIST_DAYS = 400


def check_list_period(first: date, last: date) -> None:
    """A period whose rounds, orders or buyers may be listed: forwards, at most
    :data:`MAX_LIST_DAYS` long."""
    if last < first:
        raise KpiError(ends_before_start(first, last))
    if (last - first).days >= MAX_LIST_DAYS:
        raise KpiError(
            say(
                "list at most {days} days at a time; {first} to {last} is longer",
                days=MAX_LIST_DAYS,
                first=first,
                last=last,
            )
        )


def _figures_of(row: Sequence[Any], scope: KpiScope) -> Figures:
    """Figures from a row of :data:`STORED` counts."""
    return _figures(Counts(dict(zip(STORED, (int(v or 0) for v in row), strict=True))), scope)


def _figures(counts: Counts, scope: KpiScope) -> Figures:
    values = counts.values
    # The refund rate (DOMAIN.md): refunded items / (sold + refunded items).
    values["refund_base"] = values["sold_items"] + values["refunded_items"]
    if scope is KpiScope.shop:
        values["silent_fen"] = values["paid_fen"] - values["service_fen"]
    return Figures(values)


def month_bounds(month: str) -> tuple[date, date]:
    """``YYYY-MM`` → its first and last day."""
    days = month_days(month)
    if days is None:
        raise KpiError(say("month {month!r}: expected YYYY-MM, e.g. 2026-11", month=month))
    return days


def period_bounds(period: str, anchor: date, window_days: int = 30) -> tuple[date, date]:
    """``day``, ``week`` (Monday to Sunday), ``month``, ``quarter`` around ``anchor``, or
    ``window``: the
    platform's rolling figures, the ``window_days`` days that end on ``anchor``."""
    if period == "day":
        return anchor, anchor
    if period == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=6)
    if period == "month":
        return month_bounds(anchor.strftime("%Y-%m"))
    if period == "quarter":
        first = anchor.replace(month=(anchor.month - 1) // 3 * 3 + 1, day=1)
        year, month = divmod(first.month + 2, 12)  # the quarter's first month + 3, 0-based
        following = date(first.year + year, month + 1, 1)
        return first, following - timedelta(days=1)
    if period == "window":
        return anchor - timedelta(days=window_days - 1), anchor
    raise KpiError(
        say("period {period!r}: expected day, week, month, quarter or window", period=period)
    )


__all__ = [
    "COUNTS",
    "Counts",
    "Figures",
    "KpiError",
    "Report",
    "day_bounds",
    "month_bounds",
    "period_bounds",
    "report",
    "rollup_day",
    "rollup_days",
    "span_on",
]


# --- Behind the figures -----------------------------------------------------------


async def period_span(
    session: AsyncSession, shop_id: int, first: date, last: date
) -> tuple[datetime, datetime]:
    zone = await shop_zone(session, shop_id)
    return day_bounds(first, zone)[0], day_bounds(last, zone)[1]


async def response_distribution(
    session: AsyncSession, shop_id: int, first: date, last: date, agent_id: int | None = None
) -> list[tuple[str, int]]:
    """How many rounds (within the response hours, as the KPIs count them) were answered
    within each bucket of seconds, and how many never; read from the period's day rows
    (the agent's, or the shop's)."""
    scope, subject = (KpiScope.shop, "") if agent_id is None else (KpiScope.agent, str(agent_id))
    names = (*REPLY_BUCKETS, "unanswered_rounds")
    sums = (
        await session.execute(
            select(*(func.coalesce(func.sum(getattr(KpiDay, name)), 0) for name in names)).where(
                KpiDay.shop_id == shop_id,
                KpiDay.scope == scope.value,
                KpiDay.subject == subject,
                KpiDay.day >= first,
                KpiDay.day <= last,
            )
        )
    ).one()
    labels = [f"≤{limit}s" for limit in BUCKETS] + [f">{BUCKETS[-1]}s", "—"]
    return [(label, int(count)) for label, count in zip(labels, sums, strict=True)]


ROUND_KINDS = ("all", "fast", "slow", "unanswered")


async def rounds_behind(
    session: AsyncSession,
    shop_id: int,
    first: date,
    last: date,
    *,
    agent_id: int | None = None,
    kind: str = "all",
    limit: int = 500,
) -> list[ResponseRound]:
    """The response rounds behind a figure, oldest first (within the response hours)."""
    check_list_period(first, last)
    if kind not in ROUND_KINDS:
        raise KpiError(
            say("kind {kind!r}: expected one of {kinds}", kind=kind, kinds=", ".join(ROUND_KINDS))
        )
    policy = await policy_on(session, shop_id, last)
    zone = await shop_zone(session, shop_id)
    query = select(ResponseRound).where(ResponseRound.shop_id == shop_id)
    day_windows = []
    day = first
    while day <= last:
        low, high = span_on(day, policy.kpi.response_hours, zone)
        day_windows.append((ResponseRound.started_at >= low) & (ResponseRound.started_at < high))
        day += timedelta(days=1)
    query = query.where(or_(*day_windows))
    if agent_id is not None:
        query = query.where(ResponseRound.agent_id == agent_id)
    answered = ResponseRound.answered_at.is_not(None)
    if kind == "fast":
        query = query.where(answered, ResponseRound.seconds <= policy.kpi.fast_response_seconds)
    elif kind == "slow":
        query = query.where(answered, ResponseRound.seconds > policy.reception.reply_seconds)
    elif kind == "unanswered":
        query = query.where(ResponseRound.answered_at.is_(None))
    rows = await session.scalars(query.order_by(ResponseRound.started_at).limit(limit))
    return list(rows)


ORDER_KINDS = ("paid", "service", "silent", "reminded")


async def orders_behind(
    session: AsyncSession,
    shop_id: int,
    first: date,
    last: date,
    *,
    agent_id: int | None = None,
    kind: str = "paid",
    limit: int = 500,
) -> list[Order]:
    """Orders paid in the period: all (an agent's: those they own), those credited to
    an agent, silent ones; or ``reminded``: orders whose payment reminder was sent in
    the period, paid or not."""
    check_list_period(first, last)
    if kind not in ORDER_KINDS:
        raise KpiError(
            say("kind {kind!r}: expected one of {kinds}", kind=kind, kinds=", ".join(ORDER_KINDS))
        )
    start, end = await period_span(session, shop_id, first, last)
    if kind == "reminded":
        tasks = select(OrderTask.order_id).where(
            OrderTask.shop_id == shop_id, OrderTask.kind == TaskKind.remind.value,
            OrderTask.created_at >= start, OrderTask.created_at < end,
        )  # fmt: skip
        if agent_id is not None:
            tasks = tasks.where(OrderTask.assignee_id == agent_id)
        reminded = select(Order).where(Order.id.in_(tasks)).order_by(Order.created_at)
        return list(await session.scalars(reminded.limit(limit)))
    query = select(Order).where(Order.shop_id == shop_id, Order.paid_at >= start,
                                Order.paid_at < end)  # fmt: skip
    credited = select(SalesCredit.order_id).where(SalesCredit.role == CreditRole.owner.value)
    if kind == "service":
        if agent_id is not None:
            credited = credited.where(SalesCredit.agent_id == agent_id)
        query = query.where(Order.id.in_(credited))
    elif kind == "silent":
        query = query.where(Order.id.not_in(credited))
    elif agent_id is not None:
        query = query.where(Order.owner_id == agent_id)
    return list(await session.scalars(query.order_by(Order.paid_at).limit(limit)))


async def inquiries_behind(
    session: AsyncSession,
    shop_id: int,
    first: date,
    last: date,
    *,
    agent_id: int | None = None,
    limit: int = 500,
) -> list[Conversation]:
    """Conversations in which buyers wrote during the period."""
    check_list_period(first, last)
    start, end = await period_span(session, shop_id, first, last)
    wrote = select(Message.conversation_id).where(
        Message.shop_id == shop_id,
        Message.created_at >= start,
        Message.created_at < end,
        Message.sender == Sender.buyer.value,
    )
    query = select(Conversation).where(Conversation.id.in_(wrote))
    if agent_id is not None:
        query = query.where(Conversation.agent_id == agent_id)
    return list(await session.scalars(query.order_by(Conversation.opened_at).limit(limit)))
