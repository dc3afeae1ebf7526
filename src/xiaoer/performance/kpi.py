"""Customer-service KPIs (P6) as DOMAIN.md defines them, from rows rolled up per day.

:func:`rollup_day` reads one day of rounds, messages, conversations, orders and
credits (each through an index on the shop and the time) and writes one
:class:`KpiDay` row for the shop, one per team and one per agent. Reports add up
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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, cast, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.core.clock import as_utc, month_days, utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy, span_bounds
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.orders.models import (
    CreditRole,
    Order,
    OrderItem,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
)
from xiaoer.performance.models import KpiDay, KpiScope
from xiaoer.reception.models import Conversation, Message, ResponseRound, Sender
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount, is_leader

# The counted columns of a KpiDay row: summed over days, except peaks (maximum).
COUNTS: tuple[str, ...] = (
    "inquiring_buyers", "ordering_buyers", "paying_buyers", "conversations",
    "replied_conversations", "unanswered_conversations", "long_conversations",
    "peak_concurrent", "buyer_messages", "agent_messages", "first_rounds",
    "first_response_seconds", "rounds", "response_seconds", "fast_rounds", "slow_rounds",
    "unanswered_rounds", "paid_orders", "paid_fen", "paid_buyers", "service_orders",
    "service_fen", "service_buyers", "reminders", "reminders_recovered", "notes_due",
    "notes_on_time",
)  # fmt: skip
PEAKS = frozenset({"peak_concurrent"})
# How far back a conversation may have opened and still be open on the day it is
# counted in the peak: conversations are closed within hours, never days.
_OPEN_LOOKBACK = timedelta(days=1)


@dataclass
class Counts:
    """One day's (or a period's) counts for one subject."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, name: str, amount: int) -> None:
        self.values[name] += amount

    def merge(self, other: Counts) -> None:
        for name in COUNTS:
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


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in UTC."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return as_utc(start), as_utc(end)


def span_on(day: date, span: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A policy span such as ``08:00-23:00`` on a day, in UTC; ``-24:00`` ends at midnight."""
    first, last = span_bounds(span)
    start = datetime.combine(day, first, zone)
    end = datetime.combine(day, last, zone)
    if end <= start:
        end = datetime.combine(day + timedelta(days=1), last, zone)
    return as_utc(start), as_utc(end)


@dataclass
class _Day:
    """Counts of one day being rolled up.

    Additive counts are kept per agent (``None``: no agent) and summed into the team
    and shop rows at the end; distinct counts and peaks are set per subject.
    """

    team_of: dict[int, str]
    sums: dict[int | None, dict[str, int]] = field(default_factory=dict)
    fixed: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def add(self, agent_id: int | None, name: str, amount: int) -> None:
        row = self.sums.get(agent_id)
        if row is None:
            row = self.sums[agent_id] = dict.fromkeys(COUNTS, 0)
        row[name] += amount

    def set(self, scope: KpiScope, subject: str, name: str, value: int) -> None:
        self.fixed.setdefault((scope.value, subject), {})[name] = value

    def distinct(self, name: str, pairs: Iterable[tuple[int | None, Any]]) -> None:
        """Count distinct values per subject from (agent, value) pairs."""
        shop: set[Any] = set()
        agents: dict[int, set[Any]] = defaultdict(set)
        teams: dict[str, set[Any]] = defaultdict(set)
        for agent_id, value in pairs:
            shop.add(value)
            if agent_id is not None:
                agents[agent_id].add(value)
                team = self.team_of.get(agent_id)
                if team:
                    teams[team].add(value)
        self.set(KpiScope.shop, "", name, len(shop))
        for agent_id, values in agents.items():
            self.set(KpiScope.agent, str(agent_id), name, len(values))
        for team, values in teams.items():
            self.set(KpiScope.team, team, name, len(values))

    def rows(self) -> dict[tuple[str, str], dict[str, int]]:
        """Every subject's counts: the shop's row always, others when they counted something."""
        out: dict[tuple[str, str], dict[str, int]] = {}

        def row(scope: KpiScope, subject: str) -> dict[str, int]:
            key = (scope.value, subject)
            if key not in out:
                out[key] = dict.fromkeys(COUNTS, 0)
            return out[key]

        shop = row(KpiScope.shop, "")
        for agent_id, counts in self.sums.items():
            targets = [shop]
            if agent_id is not None:
                targets.append(row(KpiScope.agent, str(agent_id)))
                team = self.team_of.get(agent_id)
                if team:
                    targets.append(row(KpiScope.team, team))
            for target in targets:
                for name, value in counts.items():
                    if value and name not in _SET_PER_SUBJECT:
                        target[name] += value
        for (scope, subject), values in self.fixed.items():
            row(KpiScope(scope), subject).update(values)
        return out


# Counts that are not sums over agents: set for each subject by itself.
_SET_PER_SUBJECT = frozenset(
    {"inquiring_buyers", "ordering_buyers", "paying_buyers", "paid_buyers", "service_buyers",
     "peak_concurrent"}
)  # fmt: skip


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
    moment = now or utcnow()
    policy = policy or await policy_on(session, shop_id, day)
    zone = await shop_zone(session, shop_id)
    start, end = day_bounds(day, zone)
    staff = (
        await session.execute(
            select(StaffAccount.id, StaffAccount.team).where(StaffAccount.shop_id == shop_id)
        )
    ).all()
    tally = _Day(team_of={row.id: row.team for row in staff})

    await _messages(session, tally, shop_id, start, end, policy, zone, day)
    await _rounds(session, tally, shop_id, day, policy, zone)
    await _conversations(session, tally, shop_id, start, end, policy, moment)
    await _sales(session, tally, shop_id, start, end, policy)

    await session.execute(delete(KpiDay).where(KpiDay.shop_id == shop_id, KpiDay.day == day))
    rows = [
        {"shop_id": shop_id, "day": day, "scope": scope, "subject": subject,
         "computed_at": moment, **counts}
        for (scope, subject), counts in sorted(tally.rows().items())
    ]  # fmt: skip
    await session.execute(insert(KpiDay), rows)
    return len(rows)


def _epoch_ms(session: AsyncSession, column: Any) -> Any:
    """Whole milliseconds since 1970 of a stored UTC time, computed by the database.

    Reading integers instead of datetimes keeps a month's rollup from building millions
    of them, and whole milliseconds compare exactly (SQLite's julianday is a float).
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.round(func.extract("epoch", column) * 1000), BigInteger)
    return cast(func.round((func.julianday(column) - 2440587.5) * 86400000.0), BigInteger)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


async def _messages(
    session: AsyncSession,
    tally: _Day,
    shop_id: int,
    start: datetime,
    end: datetime,
    policy: Policy,
    zone: ZoneInfo,
    day: date,
) -> None:
    in_day = (
        (Message.shop_id == shop_id) & (Message.created_at >= start) & (Message.created_at < end)
    )
    # One pass over the day's messages: per conversation agent and buyer, how many each
    # side wrote. An agent's message counts for its writer, a buyer's for the
    # conversation's agent; a buyer who wrote is an inquiry of that agent.
    grouped = await session.execute(
        select(Conversation.agent_id, Conversation.customer_id, Message.sender,
               Message.agent_id, func.count())
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(in_day, Message.sender.in_((Sender.buyer.value, Sender.agent.value)))
        .group_by(Conversation.agent_id, Conversation.customer_id, Message.sender,
                  Message.agent_id)
    )  # fmt: skip
    pairs: set[tuple[int | None, int]] = set()
    for holder, customer_id, sender, writer, count in grouped.all():
        if sender == Sender.buyer.value:
            tally.add(holder, "buyer_messages", int(count))
            pairs.add((holder, customer_id))
        else:
            tally.add(writer, "agent_messages", int(count))
    inquiries = sorted(pairs, key=lambda pair: (pair[0] or 0, pair[1]))
    tally.distinct("inquiring_buyers", inquiries)
    if not inquiries:
        return
    # Orders placed the same day or within the window after it, by those buyers.
    window_end = day_bounds(day + timedelta(days=policy.kpi.conversion_window_days), zone)[1]
    orders = (
        await session.execute(
            select(Order.customer_id, Order.paid_at.is_not(None))
            .where(
                Order.shop_id == shop_id,
                Order.created_at >= start,
                Order.created_at < window_end,
                Order.customer_id.is_not(None),
            )
            .distinct()
        )
    ).all()
    ordered = {customer for customer, _ in orders}
    paid = {customer for customer, was_paid in orders if was_paid}
    tally.distinct("ordering_buyers", [(a, c) for a, c in inquiries if c in ordered])
    tally.distinct("paying_buyers", [(a, c) for a, c in inquiries if c in paid])


async def _rounds(
    session: AsyncSession,
    tally: _Day,
    shop_id: int,
    day: date,
    policy: Policy,
    zone: ZoneInfo,
) -> None:
    cap = policy.kpi.round_cap_seconds
    fast = policy.kpi.fast_response_seconds
    slow = policy.reception.reply_seconds
    first_at, last_at = span_on(day, policy.kpi.response_hours, zone)
    answered = ResponseRound.answered_at.is_not(None)
    # A round closed unanswered (the conversation ended) has the cap as its capped
    # seconds; one still open (a buyer waiting right now) counts the cap too, as it
    # would if nobody answered, and is recounted when the day is rolled up again.
    result = await session.execute(
        select(
            ResponseRound.agent_id,
            ResponseRound.first,
            func.count(),
            func.sum(func.coalesce(ResponseRound.capped_seconds, cap)),
            func.sum(case((and_(answered, ResponseRound.seconds <= fast), 1), else_=0)),
            func.sum(case((and_(answered, ResponseRound.seconds > slow), 1), else_=0)),
            func.sum(case((answered, 0), else_=1)),
        )
        .where(
            ResponseRound.shop_id == shop_id,
            ResponseRound.started_at >= first_at,
            ResponseRound.started_at < last_at,
        )
        .group_by(ResponseRound.agent_id, ResponseRound.first)
    )
    for agent_id, first, count, seconds, quick, late, unanswered in result.all():
        tally.add(agent_id, "rounds", int(count))
        tally.add(agent_id, "response_seconds", int(seconds or 0))
        tally.add(agent_id, "fast_rounds", int(quick or 0))
        tally.add(agent_id, "slow_rounds", int(late or 0))
        tally.add(agent_id, "unanswered_rounds", int(unanswered or 0))
        if first:
            tally.add(agent_id, "first_rounds", int(count))
            tally.add(agent_id, "first_response_seconds", int(seconds or 0))


async def _conversations(
    session: AsyncSession,
    tally: _Day,
    shop_id: int,
    start: datetime,
    end: datetime,
    policy: Policy,
    now: datetime,
) -> None:
    rows = (
        await session.execute(
            select(
                Conversation.agent_id,
                _epoch_ms(session, Conversation.opened_at),
                _epoch_ms(session, Conversation.assigned_at),
                Conversation.first_response_at.is_not(None),
                _epoch_ms(session, Conversation.closed_at),
            ).where(
                Conversation.shop_id == shop_id,
                Conversation.opened_at >= start - _OPEN_LOOKBACK,
                Conversation.opened_at < end,
                or_(Conversation.closed_at.is_(None), Conversation.closed_at >= start),
            )
        )
    ).all()
    long_limit = policy.kpi.long_conversation_minutes * 60_000
    first, last, moment = _ms(start), _ms(end), _ms(now)
    day_end = min(last, moment)
    spans: dict[int | None, list[tuple[int, int]]] = defaultdict(list)
    for agent_id, opened, assigned, answered, closed in rows:
        if opened >= first:
            tally.add(agent_id, "conversations", 1)
            if answered:
                tally.add(agent_id, "replied_conversations", 1)
            elif closed is not None:
                tally.add(agent_id, "unanswered_conversations", 1)
            if (moment if closed is None else closed) - opened > long_limit:
                tally.add(agent_id, "long_conversations", 1)
        held_from = max(opened if assigned is None else assigned, first)
        held_to = min(day_end if closed is None else closed, day_end)
        if held_to > held_from:
            spans[agent_id].append((held_from, 1))
            spans[agent_id].append((held_to, -1))
    everyone = [point for points in spans.values() for point in points]
    tally.set(KpiScope.shop, "", "peak_concurrent", _peak(everyone))
    for agent_id, points in spans.items():
        if agent_id is not None:
            tally.set(KpiScope.agent, str(agent_id), "peak_concurrent", _peak(points))
    for team in set(tally.team_of.values()):
        points = [
            p for a, ps in spans.items() if a is not None and tally.team_of.get(a) == team
            for p in ps
        ]  # fmt: skip
        if points:
            tally.set(KpiScope.team, team, "peak_concurrent", _peak(points))


def _peak(points: Sequence[tuple[int, int]]) -> int:
    """Most intervals open at once; an interval ending as another starts does not overlap."""
    best = current = 0
    for _, step in sorted(points):
        current += step
        best = max(best, current)
    return best


async def _sales(
    session: AsyncSession,
    tally: _Day,
    shop_id: int,
    start: datetime,
    end: datetime,
    policy: Policy,
) -> None:
    paid_in_day = (Order.shop_id == shop_id) & (Order.paid_at >= start) & (Order.paid_at < end)
    # Orders paid that day, and whether a seller note came within the limit (O3),
    # compared by the database in whole milliseconds.
    limit = policy.orders.seller_note_minutes * 60_000
    noted_in_time = (
        select(SellerNote.id)
        .where(SellerNote.order_id == Order.id,
               _epoch_ms(session, SellerNote.created_at)
               <= _epoch_ms(session, Order.paid_at) + limit)
        .correlate(Order)
        .exists()
    )  # fmt: skip
    orders = (
        await session.execute(
            select(Order.owner_id, Order.customer_id, Order.paid_fen, noted_in_time, Order.id)
            .where(paid_in_day)
        )
    ).all()  # fmt: skip
    buyer_of: dict[int, int | None] = {}
    for owner_id, customer_id, paid_fen, in_time, order_id in orders:
        buyer_of[order_id] = customer_id
        tally.add(owner_id, "paid_orders", 1)
        tally.add(owner_id, "paid_fen", int(paid_fen))
        if owner_id is not None:
            tally.add(owner_id, "notes_due", 1)
            if in_time:
                tally.add(owner_id, "notes_on_time", 1)
    tally.distinct(
        "paid_buyers",
        [(owner, customer) for owner, customer, *_ in orders if customer is not None],
    )

    credits = (
        await session.execute(
            select(SalesCredit.agent_id, SalesCredit.role, SalesCredit.amount_fen,
                   SalesCredit.order_id)
            .where(SalesCredit.shop_id == shop_id, SalesCredit.paid_at >= start,
                   SalesCredit.paid_at < end)
        )
    ).all()  # fmt: skip
    # A credit is written with its order's payment, so its order is one of the day's;
    # the buyers of any other (a payment time changed since) are looked up.
    missing = {c.order_id for c in credits if c.order_id not in buyer_of}
    if missing:
        found = await session.execute(
            select(Order.id, Order.customer_id).where(Order.id.in_(missing))
        )
        buyer_of.update({order_id: customer_id for order_id, customer_id in found.all()})
    buyers: list[tuple[int | None, Any]] = []
    for agent_id, role, amount, order_id in credits:
        customer_id = buyer_of.get(order_id)
        if role == CreditRole.owner.value:
            tally.add(agent_id, "service_orders", 1)
            tally.add(agent_id, "service_fen", int(amount))
            if customer_id is not None:  # an unknown buyer is nobody to count
                buyers.append((agent_id, customer_id))
        elif role == CreditRole.assist.value:
            tally.add(agent_id, "reminders_recovered", 1)
    tally.distinct("service_buyers", buyers)

    reminders = await session.execute(
        select(OrderTask.assignee_id, func.count())
        .where(OrderTask.shop_id == shop_id, OrderTask.kind == TaskKind.remind.value,
               OrderTask.created_at >= start, OrderTask.created_at < end)
        .group_by(OrderTask.assignee_id)
    )  # fmt: skip
    for assignee_id, count in reminders.all():
        tally.add(assignee_id, "reminders", int(count))


async def rollup_days(
    session: AsyncSession, shop_id: int, first: date, last: date, *, now: datetime | None = None
) -> int:
    """Roll up every day from ``first`` to ``last``; returns the rows written."""
    written = 0
    day = first
    while day <= last:
        written += await rollup_day(session, shop_id, day, now=now)
        day += timedelta(days=1)
    return written


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
    done = 0
    day = first
    while day <= last:
        settled_at = day_bounds(day + settle, zone)[1]
        at = computed.get(day)
        if at is None or as_utc(at) < settled_at:
            await rollup_day(session, shop_id, day, now=moment)
            done += 1
        day += timedelta(days=1)
    return done


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


@dataclass(frozen=True)
class Report:
    """A period's KPIs per subject of one scope, and per day for the charts."""

    scope: str
    start: date
    end: date  # inclusive
    subjects: dict[str, Figures]
    days: dict[str, dict[date, Figures]]


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
    query = select(KpiDay).where(
        KpiDay.shop_id == shop_id,
        KpiDay.scope == scope.value,
        KpiDay.day >= start,
        KpiDay.day <= end,
    )
    if subjects is not None:
        query = query.where(KpiDay.subject.in_(list(subjects)))
    totals: dict[str, Counts] = {}
    days: dict[str, dict[date, Figures]] = defaultdict(dict)
    for row in (await session.scalars(query.order_by(KpiDay.day))).all():
        counts = Counts({name: int(getattr(row, name)) for name in COUNTS})
        totals.setdefault(row.subject, Counts()).merge(counts)
        days[row.subject][row.day] = _figures(counts, scope)
    figures = {subject: _figures(counts, scope) for subject, counts in totals.items()}
    await _add_refunds(session, shop_id, start, end, scope, figures)
    return Report(scope.value, start, end, figures, dict(days))


async def _add_refunds(
    session: AsyncSession,
    shop_id: int,
    start: date,
    end: date,
    scope: KpiScope,
    figures: dict[str, Figures],
) -> None:
    """The refund rate's counts (DOMAIN.md: refunded items / (sold + refunded items)),
    read for the period rather than kept per day: items sold in orders paid within it,
    and items of refunds that paid money back within it, by the order's owner. A
    partial refund counts the share of the order's items its amount is, at least one."""
    first, last = await period_span(session, shop_id, start, end)
    items = (
        select(OrderItem.order_id, func.sum(OrderItem.quantity).label("quantity"))
        .group_by(OrderItem.order_id)
        .subquery()
    )
    sold: dict[int | None, int] = defaultdict(int)
    for owner, quantity in await session.execute(
        select(Order.owner_id, func.coalesce(func.sum(items.c.quantity), 0))
        .join(items, items.c.order_id == Order.id)
        .where(Order.shop_id == shop_id, Order.paid_at >= first, Order.paid_at < last)
        .group_by(Order.owner_id)
    ):
        sold[owner] += int(quantity)
    refunded: dict[int | None, int] = defaultdict(int)
    for owner, amount, paid, quantity in await session.execute(
        select(Order.owner_id, Refund.amount_fen, Order.paid_fen, items.c.quantity)
        .join(Order, Order.id == Refund.order_id)
        .join(items, items.c.order_id == Order.id)
        .where(Refund.shop_id == shop_id, Refund.status == RefundStatus.SUCCESS.value,
               Refund.kind.in_([k.value for k in MONEY_BACK]),
               Refund.finished_at >= first, Refund.finished_at < last)
    ):  # fmt: skip
        share = round(int(quantity or 0) * int(amount) / int(paid)) if paid else 0
        refunded[owner] += max(1, share)
    teams: dict[int, str] = {}
    if scope is KpiScope.team:
        teams = {
            staff_id: team
            for staff_id, team in await session.execute(
                select(StaffAccount.id, StaffAccount.team).where(StaffAccount.shop_id == shop_id)
            )
        }
    for subject, figure in figures.items():
        owners: list[int | None]
        if scope is KpiScope.shop:
            owners = list(set(sold) | set(refunded))
        elif scope is KpiScope.team:
            owners = [owner for owner, team in teams.items() if team == subject]
        else:
            owners = [int(subject)] if subject.isdigit() else []
        got_sold = sum(sold.get(owner, 0) for owner in owners)
        got_refunded = sum(refunded.get(owner, 0) for owner in owners)
        figure.counts.update(sold_items=got_sold, refunded_items=got_refunded,
                             refund_base=got_sold + got_refunded)  # fmt: skip


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


def _figures(counts: Counts, scope: KpiScope) -> Figures:
    values = dict(counts.values)
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
    """``day``, ``week`` (Monday to Sunday), ``month`` around ``anchor``, or ``window``: the
    platform's rolling figures, the ``window_days`` days that end on ``anchor``."""
    if period == "day":
        return anchor, anchor
    if period == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=6)
    if period == "month":
        return month_bounds(anchor.strftime("%Y-%m"))
    if period == "window":
        return anchor - timedelta(days=window_days - 1), anchor
    raise KpiError(say("period {period!r}: expected day, week, month or window", period=period))


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

# Upper bounds (seconds) of the response-time distribution's buckets; past the last,
# and unanswered rounds, are buckets of their own.
BUCKETS: tuple[int, ...] = (30, 60, 120, 180, 300, 600)


async def period_span(
    session: AsyncSession, shop_id: int, first: date, last: date
) -> tuple[datetime, datetime]:
    zone = await shop_zone(session, shop_id)
    return day_bounds(first, zone)[0], day_bounds(last, zone)[1]


async def response_distribution(
    session: AsyncSession, shop_id: int, first: date, last: date, agent_id: int | None = None
) -> list[tuple[str, int]]:
    """How many rounds were answered within each bucket of seconds, and how many never."""
    start, end = await period_span(session, shop_id, first, last)
    seconds = ResponseRound.seconds
    bucket = case(
        (ResponseRound.answered_at.is_(None), len(BUCKETS) + 1),
        *[(seconds <= limit, i) for i, limit in enumerate(BUCKETS)],
        else_=len(BUCKETS),
    ).label("bucket")
    query = (
        select(bucket, func.count())
        .where(ResponseRound.shop_id == shop_id, ResponseRound.started_at >= start,
               ResponseRound.started_at < end)
        .group_by(bucket)
    )  # fmt: skip
    if agent_id is not None:
        query = query.where(ResponseRound.agent_id == agent_id)
    counts = {int(b): int(n) for b, n in (await session.execute(query)).all()}
    labels = [f"≤{limit}s" for limit in BUCKETS] + [f">{BUCKETS[-1]}s", "—"]
    return [(label, counts.get(i, 0)) for i, label in enumerate(labels)]


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
