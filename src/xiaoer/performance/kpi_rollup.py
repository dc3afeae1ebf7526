"""Rolling KPI days up by set: a range of days in one pass per table (P6).

:func:`rollup_days` counts every day from ``first`` to ``last`` with a handful of
statements, each grouped inside the database by the shop-local day and the agent
(and, for the counts of distinct buyers and the peaks, by team and shop too), then
replaces the range's :class:`KpiDay` rows. What each column counts is written in
:mod:`xiaoer.performance.kpi`; this module only decides how the database counts it.

The shop-local day of a stored UTC time is the database's work: PostgreSQL reads the
zone itself (``timezone('Asia/Shanghai', t)``); SQLite, which knows no zones, is given
the zone's UTC offsets over the range (one for a zone without daylight saving, a
``CASE`` on the moments the offset changes otherwise). Days with different policies
(response hours, limits) are rolled up as separate ranges.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import UTCDateTime
from xiaoer.core.policy import Policy, span_bounds
from xiaoer.core.policy_store import policy_on
from xiaoer.orders.models import CreditRole, TaskKind
from xiaoer.performance.models import KpiDay, KpiScope
from xiaoer.reception.models import Sender
from xiaoer.shops.service import shop_zone

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
# The refund rate's counts, kept beside those: items sold, and items refunded.
ITEMS: tuple[str, ...] = ("sold_items", "refunded_items")
# Upper bounds (seconds) of the response-time distribution's buckets; answers later
# than the last are a bucket of their own (and unanswered rounds are counted above).
BUCKETS: tuple[int, ...] = (30, 60, 120, 180, 300, 600)
REPLY_BUCKETS: tuple[str, ...] = (*(f"replies_{limit}s" for limit in BUCKETS), "replies_later")
# Every column of a KpiDay row that a rollup writes and a report adds up.
STORED: tuple[str, ...] = COUNTS + ITEMS + REPLY_BUCKETS
# Counts that are not sums over agents: set for each subject by itself.
SET_PER_SUBJECT = frozenset(
    {"inquiring_buyers", "ordering_buyers", "paying_buyers", "paid_buyers", "service_buyers",
     "peak_concurrent"}
)  # fmt: skip
# How far back a conversation may have opened and still be open on the day it is
# counted in the peak: conversations are closed within hours, never days.
OPEN_LOOKBACK = timedelta(days=1)
_DAY_MS = 86_400_000


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


def _seconds_of(moment: time) -> int:
    """Seconds since midnight; ``time.max`` (a span's ``24:00``) is a whole day."""
    if moment == time.max:
        return 86_400
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass
class Tally:
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
            row = self.sums[agent_id] = dict.fromkeys(STORED, 0)
        row[name] += amount

    def set(self, scope: KpiScope, subject: str, name: str, value: int) -> None:
        self.fixed.setdefault((scope.value, subject), {})[name] = value

    def rows(self) -> dict[tuple[str, str], dict[str, int]]:
        """Every subject's counts: the shop's row always, others when they counted something."""
        out: dict[tuple[str, str], dict[str, int]] = {}

        def row(scope: KpiScope, subject: str) -> dict[str, int]:
            key = (scope.value, subject)
            if key not in out:
                out[key] = dict.fromkeys(STORED, 0)
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
                    if value and name not in SET_PER_SUBJECT:
                        target[name] += value
        for (scope, subject), values in self.fixed.items():
            row(KpiScope(scope), subject).update(values)
        return out


# A zone name as the tz database spells it: safe to write into a statement.
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-/]+")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a time on SQLite


def offsets(zone: ZoneInfo, low: datetime, high: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offset (seconds) from ``low`` to ``high``: ``(until, offset)`` pairs,
    ``until`` the first UTC moment of the next offset (``None`` for the last)."""

    def offset(at: datetime) -> int:
        shift = at.astimezone(zone).utcoffset()
        return int(shift.total_seconds()) if shift is not None else 0

    out: list[tuple[datetime | None, int]] = []
    at = as_utc(low).replace(minute=0, second=0, microsecond=0)
    current = offset(at)
    while at < high:
        following = at + timedelta(hours=1)
        if offset(following) != current:
            lo, hi = 0, 3600  # the change, to the second
            while hi - lo > 1:
                middle = (lo + hi) // 2
                if offset(at + timedelta(seconds=middle)) == current:
                    lo = middle
                else:
                    hi = middle
            out.append((at + timedelta(seconds=hi), current))
            current = offset(following)
        at = following
    out.append((None, current))
    return out


class Clock:
    """SQL for stored UTC times on the shop's clock, in one dialect."""

    def __init__(self, postgres: bool, zone: ZoneInfo, low: datetime, high: datetime) -> None:
        self.postgres = postgres
        if postgres and not _ZONE_KEY.fullmatch(zone.key):
            raise ValueError(f"unexpected time zone name {zone.key!r}")
        self.zone = zone.key
        self._offsets = offsets(zone, low, high)
        self._low, self._high = as_utc(low), as_utc(high)

    def _per_offset(self, column: str, each: Callable[[int], str]) -> str:
        """``each(offset)`` of the zone's UTC offset (seconds) at ``column``: the one
        offset of the clock's range, or a ``CASE`` on the moments it changes."""
        pieces = [(until, each(seconds)) for until, seconds in self._offsets]
        if len(pieces) == 1:
            return pieces[0][1]
        whens = " ".join(
            f"WHEN {column} < {self.moment_literal(until)} THEN {value}"
            for until, value in pieces
            if until is not None
        )
        return f"CASE {whens} ELSE {pieces[-1][1]} END"

    def _local(self, column: str, back: int = 0) -> str:
        """PostgreSQL: ``column`` on the shop's clock (``back`` seconds earlier), as a
        timestamp. Within the clock's range each of the zone's offsets there is added as
        a fixed interval, which the database does about twice as fast as reading the
        zone by name for every row; outside it, the zone by name."""
        inside = self._per_offset(
            column, lambda seconds: f"timezone(INTERVAL '{seconds - back:+d} seconds', {column})"
        )
        named = f"timezone('{self.zone}', {column})"
        if back:
            named = f"({named} - interval '{back} seconds')"
        return (
            f"CASE WHEN {column} >= {self.moment_literal(self._low)} AND {column} < "
            f"{self.moment_literal(self._high)} THEN {inside} ELSE {named} END"
        )

    def _shift(self, column: str, extra: int = 0) -> str:
        """SQLite: the modifier that moves ``column`` to local time (and ``extra`` s on)."""
        return self._per_offset(column, lambda seconds: f"'{seconds + extra:+d} seconds'")

    def day(self, column: str, *, back: int = 0) -> str:
        """The local date of ``column`` (``back`` seconds earlier on the local clock)."""
        if self.postgres:
            return f"CAST({self._local(column, back)} AS date)"
        return f"date({column}, {self._shift(column, -back)})"

    def before(self, column: str, back: int, length: int) -> str:
        """Whether ``column``, ``back`` s earlier on the local clock, is less than
        ``length`` s past its midnight."""
        if length >= 86_400:
            return "1 = 1"
        hours, rest = divmod(length, 3600)
        limit = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        if self.postgres:
            return f"CAST({self._local(column, back)} AS time) < time '{limit}'"
        return f"time({column}, {self._shift(column, -back)}) < '{limit}'"

    def next_day(self, day: str) -> str:
        return f"({day} + 1)" if self.postgres else f"date({day}, '+1 day')"

    def plus_days(self, day: str, days: int) -> str:
        return f"({day} + {int(days)})" if self.postgres else f"date({day}, '+{int(days)} days')"

    def ms(self, column: str) -> str:
        """Whole milliseconds since 1970 of a stored time (exact on both databases)."""
        if self.postgres:
            return f"CAST(round(extract(epoch FROM {column}) * 1000) AS bigint)"
        return f"CAST(round((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)"

    def greatest(self, a: str, b: str) -> str:
        return f"greatest({a}, {b})" if self.postgres else f"max({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"least({a}, {b})" if self.postgres else f"min({a}, {b})"

    def date_literal(self, day: date) -> str:
        return f"DATE '{day.isoformat()}'" if self.postgres else f"'{day.isoformat()}'"

    def moment_literal(self, moment: datetime) -> str:
        """A UTC moment as the database stores and compares it."""
        stored = as_utc(moment).strftime(_SQLITE_TIME)
        return f"TIMESTAMPTZ '{stored}+00'" if self.postgres else f"'{stored}'"


def _as_day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _team_filter(column: str) -> str:
    return f"{column} IS NOT NULL AND {column} <> ''"


# The three levels a distinct count or a peak is reported at, as the statements
# number them.
_AGENT, _TEAM, _SHOP = 1, 2, 3


# The part whose statements are running, in this task.
_PART: contextvars.ContextVar[str] = contextvars.ContextVar("kpi_part", default="rollup")

# Where a part's statement runs: the caller's session, or a connection of its own.
Runner = AsyncSession | AsyncConnection


@dataclass
class _Range:
    """One range of days with one policy, being counted."""

    shop_id: int
    first: date
    last: date
    policy: Policy
    zone: ZoneInfo
    now: datetime
    clock: Clock
    tallies: dict[date, Tally]

    @property
    def start(self) -> datetime:
        return day_bounds(self.first, self.zone)[0]

    @property
    def end(self) -> datetime:
        return day_bounds(self.last, self.zone)[1]

    def tally(self, value: Any) -> Tally | None:
        return self.tallies.get(_as_day(value))

    async def rows(self, on: Runner, sql: str, **params: Any) -> list[Any]:
        # Each statement says which part it counts, for anyone reading the server's log
        # or timing the statements.
        statement = text(f"/* kpi.{_PART.get()} */ {sql.strip()}")
        for name, value in params.items():
            if isinstance(value, datetime):
                statement = statement.bindparams(bindparam(name, type_=UTCDateTime))
        result = await on.execute(statement, {"shop": self.shop_id, **params})
        return list(result.all())

    def set_level(self, level: int, day: Any, agent: Any, team: Any, name: str, value: Any) -> None:
        tally = self.tally(day)
        if tally is None or value is None:
            return
        if level == _AGENT and agent is not None:
            tally.set(KpiScope.agent, str(agent), name, int(value))
        elif level == _TEAM and team:
            tally.set(KpiScope.team, str(team), name, int(value))
        elif level == _SHOP:
            tally.set(KpiScope.shop, "", name, int(value))


async def _agent_messages(run: _Range, on: Runner) -> None:
    """Agents' messages, each counted for its writer."""
    sql = f"""
SELECT {run.clock.day("created_at")}, agent_id, count(*) FROM message
WHERE shop_id = :shop AND created_at >= :start AND created_at < :end
  AND sender = '{Sender.agent.value}'
GROUP BY 1, 2
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    await _per_day(run, on, sql, "agent_messages")


async def _per_day(run: _Range, on: Runner, sql: str, name: str) -> None:
    """Add a statement's (day, agent, count) rows to the count ``name``."""
    for day, agent_id, count in await run.rows(on, sql, start=run.start, end=run.end):
        tally = run.tally(day)
        if tally is not None:
            tally.add(agent_id, name, int(count))


async def _inquiries(run: _Range, on: Runner) -> None:
    """Buyers' messages (counted for the conversation's agent), the buyers who wrote
    (inquiries of that agent), and those of them who ordered or paid within the window."""
    clock = run.clock
    window = run.policy.kpi.conversion_window_days
    window_end = day_bounds(run.last + timedelta(days=window), run.zone)[1]
    sql = f"""
WITH wrote AS MATERIALIZED (
  SELECT w.day, c.agent_id AS holder, s.team, c.customer_id AS customer, w.n
  FROM (
    SELECT conversation_id, {clock.day("created_at")} AS day, count(*) AS n FROM message
    WHERE shop_id = :shop AND created_at >= :start AND created_at < :end
      AND sender = '{Sender.buyer.value}'
    GROUP BY 1, 2
  ) w
  JOIN conversation c ON c.id = w.conversation_id
  LEFT JOIN staff_account s ON s.id = c.agent_id),
placed AS MATERIALIZED (
  SELECT customer_id AS customer, {clock.day("created_at")} AS day,
    max(CASE WHEN paid_at IS NOT NULL THEN 1 ELSE 0 END) AS paid
  FROM "order"
  WHERE shop_id = :shop AND created_at >= :start AND created_at < :window_end
    AND customer_id IS NOT NULL
  GROUP BY 1, 2),
asked AS MATERIALIZED (
  SELECT a.day, a.holder, a.team, a.customer,
    max(CASE WHEN p.customer IS NULL THEN 0 ELSE 1 END) AS ordered,
    coalesce(max(p.paid), 0) AS paid
  FROM wrote a
  LEFT JOIN placed p ON p.customer = a.customer AND p.day >= a.day
    AND p.day <= {clock.plus_days("a.day", window)}
  GROUP BY a.day, a.holder, a.team, a.customer)
SELECT 0, day, holder, NULL, sum(n), 0, 0 FROM wrote GROUP BY day, holder
UNION ALL
SELECT {_AGENT}, day, holder, NULL, count(*), sum(ordered), sum(paid)
FROM asked WHERE holder IS NOT NULL GROUP BY day, holder
UNION ALL
SELECT {_TEAM}, day, NULL, team, count(DISTINCT customer),
  count(DISTINCT CASE WHEN ordered = 1 THEN customer END),
  count(DISTINCT CASE WHEN paid = 1 THEN customer END)
FROM asked WHERE holder IS NOT NULL AND {_team_filter("team")} GROUP BY day, team
UNION ALL
SELECT {_SHOP}, day, NULL, NULL, count(DISTINCT customer),
  count(DISTINCT CASE WHEN ordered = 1 THEN customer END),
  count(DISTINCT CASE WHEN paid = 1 THEN customer END)
FROM asked GROUP BY day
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    rows = await run.rows(on, sql, start=run.start, end=run.end, window_end=window_end)
    for level, day, agent_id, team, count, ordered, paid in rows:
        if level == 0:
            tally = run.tally(day)
            if tally is not None:
                tally.add(agent_id, "buyer_messages", int(count))
            continue
        run.set_level(level, day, agent_id, team, "inquiring_buyers", count)
        run.set_level(level, day, agent_id, team, "ordering_buyers", ordered)
        run.set_level(level, day, agent_id, team, "paying_buyers", paid)


async def _rounds(run: _Range, on: Runner) -> None:
    """Response rounds that started within the day's response hours."""
    clock, kpi = run.clock, run.policy.kpi
    opens, closes = span_bounds(kpi.response_hours)
    back = _seconds_of(opens)
    length = _seconds_of(closes) - back
    if length <= 0:
        length += 86_400
    low = span_on(run.first, kpi.response_hours, run.zone)[0]
    high = span_on(run.last, kpi.response_hours, run.zone)[1]
    cap, fast = int(kpi.round_cap_seconds), int(kpi.fast_response_seconds)
    slow = int(run.policy.reception.reply_seconds)
    # A round closed unanswered (the conversation ended) has the cap as its capped
    # seconds; one still open (a buyer waiting right now) counts the cap too, as it
    # would if nobody answered, and is recounted when the day is rolled up again.
    # The distribution's buckets: answered after more than one bound, up to the next.
    answered = "r.answered_at IS NOT NULL AND r.seconds >"
    buckets = ",\n  ".join(
        [
            f"sum(CASE WHEN {answered} {low} AND r.seconds <= {high} THEN 1 ELSE 0 END)"
            for low, high in itertools.pairwise((0, *BUCKETS))
        ]
        + [f"sum(CASE WHEN {answered} {BUCKETS[-1]} THEN 1 ELSE 0 END)"]
    )
    sql = f"""
SELECT {clock.day("r.started_at", back=back)} AS day, r.agent_id, r."first", count(*),
  sum(coalesce(r.capped_seconds, {cap})),
  sum(CASE WHEN r.answered_at IS NOT NULL AND r.seconds <= {fast} THEN 1 ELSE 0 END),
  sum(CASE WHEN r.answered_at IS NOT NULL AND r.seconds > {slow} THEN 1 ELSE 0 END),
  sum(CASE WHEN r.answered_at IS NULL THEN 1 ELSE 0 END),
  {buckets}
FROM response_round r
WHERE r.shop_id = :shop AND r.started_at >= :low AND r.started_at < :high
  AND {clock.before("r.started_at", back, length)}
GROUP BY 1, 2, 3
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for day, agent_id, first, count, seconds, quick, late, unanswered, *spread in await run.rows(
        on, sql, low=low, high=high
    ):
        tally = run.tally(day)
        if tally is None:
            continue
        for name, value in zip(REPLY_BUCKETS, spread, strict=True):
            tally.add(agent_id, name, int(value or 0))
        tally.add(agent_id, "rounds", int(count))
        tally.add(agent_id, "response_seconds", int(seconds or 0))
        tally.add(agent_id, "fast_rounds", int(quick or 0))
        tally.add(agent_id, "slow_rounds", int(late or 0))
        tally.add(agent_id, "unanswered_rounds", int(unanswered or 0))
        if first:
            tally.add(agent_id, "first_rounds", int(count))
            tally.add(agent_id, "first_response_seconds", int(seconds or 0))


async def _conversations(run: _Range, on: Runner) -> None:
    """Conversations opened each day: replied, unanswered, long."""
    clock = run.clock
    long_limit = int(run.policy.kpi.long_conversation_minutes) * 60_000
    moment = _ms(run.now)
    sql = f"""
SELECT {clock.day("opened_at")}, agent_id, count(*),
  sum(CASE WHEN first_response_at IS NOT NULL THEN 1 ELSE 0 END),
  sum(CASE WHEN first_response_at IS NULL AND closed_at IS NOT NULL THEN 1 ELSE 0 END),
  sum(CASE WHEN coalesce({clock.ms("closed_at")}, {moment}) - {clock.ms("opened_at")}
      > {long_limit} THEN 1 ELSE 0 END)
FROM conversation
WHERE shop_id = :shop AND opened_at >= :start AND opened_at < :end
GROUP BY 1, 2
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for day, agent_id, count, replied, unanswered, long in await run.rows(
        on, sql, start=run.start, end=run.end
    ):
        tally = run.tally(day)
        if tally is None:
            continue
        tally.add(agent_id, "conversations", int(count))
        tally.add(agent_id, "replied_conversations", int(replied or 0))
        tally.add(agent_id, "unanswered_conversations", int(unanswered or 0))
        tally.add(agent_id, "long_conversations", int(long or 0))


async def _peaks(run: _Range, on: Runner) -> None:
    """The most conversations held at once each day, per agent, team and shop.

    A conversation is held from its assignment (or opening) to its close, cut to the
    day and to now; one that ends as another starts does not overlap it. A conversation
    can be held on the day it opened and, while still open at midnight, the next
    (:data:`OPEN_LOOKBACK`). Times are compared as stored.
    """
    clock = run.clock
    days = []
    day = run.first
    while day <= run.last:
        low, high = day_bounds(day, run.zone)
        days.append(
            f"({clock.date_literal(day)}, {clock.moment_literal(low)}, "
            f"{clock.moment_literal(min(high, run.now))}, "
            f"{clock.moment_literal(low - OPEN_LOOKBACK)})"
        )
        day += timedelta(days=1)
    running = (
        "sum(step) OVER (PARTITION BY {by} ORDER BY at, step ROWS UNBOUNDED PRECEDING) AS held"
    )
    sql = f"""
WITH days(day, lo, hi, lookback) AS (VALUES {", ".join(days)}),
cand AS MATERIALIZED (
  SELECT c.agent_id AS agent, s.team AS team, c.opened_at AS opened,
    coalesce(c.assigned_at, c.opened_at) AS taken, c.closed_at AS closed,
    {clock.day("c.opened_at")} AS d0, {clock.day("c.closed_at")} AS d1
  FROM conversation c LEFT JOIN staff_account s ON s.id = c.agent_id
  WHERE c.shop_id = :shop AND c.opened_at >= :lookback AND c.opened_at < :end
    AND (c.closed_at IS NULL OR c.closed_at >= :start)),
pairs AS (
  SELECT agent, team, opened, taken, closed, d0 AS day FROM cand
  UNION ALL
  SELECT agent, team, opened, taken, closed, {clock.next_day("d0")} AS day FROM cand
  WHERE closed IS NULL OR d1 <> d0),
held AS (
  SELECT p.day, p.agent, p.team, {clock.greatest("p.taken", "d.lo")} AS f,
    {clock.least("coalesce(p.closed, d.hi)", "d.hi")} AS t
  FROM pairs p JOIN days d ON d.day = p.day
  WHERE p.opened >= d.lookback AND (p.closed IS NULL OR p.closed >= d.lo)),
steps AS MATERIALIZED (
  SELECT day, agent, team, f AS at, 1 AS step FROM held WHERE t > f
  UNION ALL
  SELECT day, agent, team, t AS at, -1 AS step FROM held WHERE t > f)
SELECT {_AGENT}, day, agent, NULL, max(held) FROM (
  SELECT day, agent, {running.format(by="day, agent")} FROM steps WHERE agent IS NOT NULL
) x GROUP BY day, agent
UNION ALL
SELECT {_TEAM}, day, NULL, team, max(held) FROM (
  SELECT day, team, {running.format(by="day, team")} FROM steps
  WHERE agent IS NOT NULL AND {_team_filter("team")}
) y GROUP BY day, team
UNION ALL
SELECT {_SHOP}, day, NULL, NULL, max(held) FROM (
  SELECT day, {running.format(by="day")} FROM steps
) z GROUP BY day
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    rows = await run.rows(on, sql, start=run.start, end=run.end, lookback=run.start - OPEN_LOOKBACK)
    for level, day, agent_id, team, peak in rows:
        run.set_level(level, day, agent_id, team, "peak_concurrent", peak)


async def _paid(run: _Range, on: Runner) -> None:
    """Orders paid, and the seller notes due and written in time (O3)."""
    clock = run.clock
    limit_minutes = int(run.policy.orders.seller_note_minutes)
    if clock.postgres:
        in_time = f"n.created_at <= o.paid_at + interval '{limit_minutes} minutes'"
    else:
        in_time = (
            f"{clock.ms('n.created_at')} <= {clock.ms('o.paid_at')} + {limit_minutes * 60_000}"
        )
    sql = f"""
WITH paid AS MATERIALIZED (
  SELECT {clock.day("o.paid_at")} AS day, o.owner_id AS owner, s.team AS team,
    o.customer_id AS customer, o.paid_fen AS fen,
    CASE WHEN o.owner_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM seller_note n WHERE n.order_id = o.id AND {in_time}) THEN 1 ELSE 0 END
      AS on_time
  FROM "order" o LEFT JOIN staff_account s ON s.id = o.owner_id
  WHERE o.shop_id = :shop AND o.paid_at >= :start AND o.paid_at < :end)
SELECT {_AGENT}, day, owner, NULL, count(*), sum(fen), sum(on_time), count(DISTINCT customer)
FROM paid GROUP BY day, owner
UNION ALL
SELECT {_TEAM}, day, NULL, team, 0, 0, 0, count(DISTINCT customer)
FROM paid WHERE owner IS NOT NULL AND {_team_filter("team")} GROUP BY day, team
UNION ALL
SELECT {_SHOP}, day, NULL, NULL, 0, 0, 0, count(DISTINCT customer) FROM paid GROUP BY day
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for level, day, owner, team, orders, fen, on_time, buyers in await run.rows(
        on, sql, start=run.start, end=run.end
    ):
        if level == _AGENT:
            tally = run.tally(day)
            if tally is not None:
                tally.add(owner, "paid_orders", int(orders))
                tally.add(owner, "paid_fen", int(fen or 0))
                if owner is not None:
                    tally.add(owner, "notes_due", int(orders))
                    tally.add(owner, "notes_on_time", int(on_time or 0))
        run.set_level(level, day, owner, team, "paid_buyers", buyers)


async def _credits(run: _Range, on: Runner) -> None:
    """Sales credited to agents as owners, and payments their reminders recovered."""
    owner, assist = CreditRole.owner.value, CreditRole.assist.value
    sql = f"""
WITH credit AS MATERIALIZED (
  SELECT {run.clock.day("sc.paid_at")} AS day, sc.agent_id AS agent, s.team AS team,
    sc.role AS role, sc.amount_fen AS fen, o.customer_id AS customer
  FROM sales_credit sc
  LEFT JOIN "order" o ON o.id = sc.order_id
  LEFT JOIN staff_account s ON s.id = sc.agent_id
  WHERE sc.shop_id = :shop AND sc.paid_at >= :start AND sc.paid_at < :end)
SELECT {_AGENT}, day, agent, NULL, role, count(*), sum(fen),
  count(DISTINCT CASE WHEN role = '{owner}' THEN customer END)
FROM credit GROUP BY day, agent, role
UNION ALL
SELECT {_TEAM}, day, NULL, team, NULL, 0, 0, count(DISTINCT customer)
FROM credit WHERE role = '{owner}' AND agent IS NOT NULL AND {_team_filter("team")}
GROUP BY day, team
UNION ALL
SELECT {_SHOP}, day, NULL, NULL, NULL, 0, 0, count(DISTINCT customer)
FROM credit WHERE role = '{owner}' GROUP BY day
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for level, day, agent_id, team, role, count, fen, buyers in await run.rows(
        on, sql, start=run.start, end=run.end
    ):
        if level == _AGENT:
            tally = run.tally(day)
            if tally is not None and role == owner:
                tally.add(agent_id, "service_orders", int(count))
                tally.add(agent_id, "service_fen", int(fen or 0))
            elif tally is not None and role == assist:
                tally.add(agent_id, "reminders_recovered", int(count))
            if role != owner:
                continue
        run.set_level(level, day, agent_id, team, "service_buyers", buyers)


async def _reminders(run: _Range, on: Runner) -> None:
    """Payment reminders sent (O6), for the agent they were given to."""
    sql = f"""
SELECT {run.clock.day("created_at")}, assignee_id, count(*) FROM order_task
WHERE shop_id = :shop AND kind = '{TaskKind.remind.value}'
  AND created_at >= :start AND created_at < :end
GROUP BY 1, 2
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    await _per_day(run, on, sql, "reminders")


async def _items(run: _Range, on: Runner) -> None:
    """Items sold in the orders paid each day, and items refunded by the refunds that
    paid money back each day, by the order's owner (DOMAIN.md's refund rate). A partial
    refund counts the share of the order's items its amount is, at least one; an order
    without items counts none."""
    clock = run.clock
    sql = f"""
SELECT {clock.day("o.paid_at")}, o.owner_id, sum(i.quantity)
FROM "order" o JOIN order_item i ON i.order_id = o.id
WHERE o.shop_id = :shop AND o.paid_at >= :start AND o.paid_at < :end
GROUP BY 1, 2
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for day, owner, quantity in await run.rows(on, sql, start=run.start, end=run.end):
        tally = run.tally(day)
        if tally is not None:
            tally.add(owner, "sold_items", int(quantity or 0))
    kinds = ", ".join(f"'{kind.value}'" for kind in sorted(MONEY_BACK))
    sql = f"""
SELECT {clock.day("r.finished_at")}, o.owner_id, r.amount_fen, o.paid_fen,
  (SELECT sum(i.quantity) FROM order_item i WHERE i.order_id = o.id)
FROM refund r JOIN "order" o ON o.id = r.order_id
WHERE r.shop_id = :shop AND r.status = '{RefundStatus.SUCCESS.value}' AND r.kind IN ({kinds})
  AND r.finished_at >= :start AND r.finished_at < :end
"""  # noqa: S608 (numbers, a checked zone name and constants only)
    for day, owner, amount, paid, quantity in await run.rows(on, sql, start=run.start, end=run.end):
        tally = run.tally(day)
        if tally is None or quantity is None:
            continue
        share = round(int(quantity) * int(amount) / int(paid)) if paid else 0
        tally.add(owner, "refunded_items", max(1, share))


Part = Callable[[_Range, Runner], Awaitable[None]]
# Every part of a range's count, the longest first: on PostgreSQL two connections take
# them in this order, so that the long ones start at once and the short fill in.
PARTS: tuple[Part, ...] = (
    _inquiries, _peaks, _paid, _credits, _rounds, _agent_messages, _items, _conversations,
    _reminders,
)  # fmt: skip


def _same_rules(a: Policy, b: Policy) -> bool:
    """Whether two policies count a day alike (the values the rollup reads)."""
    return (a.kpi, a.reception.reply_seconds, a.orders.seller_note_minutes) == (
        b.kpi,
        b.reception.reply_seconds,
        b.orders.seller_note_minutes,
    )


# Settings for the rollup's statements on PostgreSQL, for their transaction: no JIT
# compilation (it costs more than these statements run), and room to sort and hash a
# month in memory rather than on disk.
_ANALYTIC = {"jit": "off", "work_mem": "256MB"}
# Two connections count at once (the caller's and one more) when the caller's
# transaction has written nothing, so that the other sees the same rows; each then
# keeps to one core.
_SPREAD = {**_ANALYTIC, "max_parallel_workers_per_gather": "0"}
# Alone, the caller's connection may use a second core for the largest scans.
_ALONE = {**_ANALYTIC, "parallel_setup_cost": "100", "parallel_tuple_cost": "0.01"}


async def _configure(on: Runner, settings: dict[str, str]) -> dict[str, str]:
    """Apply ``settings`` to the transaction; returns the values they replaced."""
    earlier: dict[str, str] = {}
    for name, value in settings.items():
        earlier[name] = str(await on.scalar(text("SELECT current_setting(:name)"), {"name": name}))
        await on.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
        )
    return earlier


async def _may_spread(session: AsyncSession) -> AsyncEngine | None:
    """The engine to take a second connection from, when counting on two is safe: on
    PostgreSQL, when the caller's transaction has written nothing yet (a connection of
    its own would not see those rows)."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return None
    written = await session.scalar(text("SELECT pg_current_xact_id_if_assigned()"))
    return engine if written is None else None


async def _count(session: AsyncSession, ranges: list[_Range]) -> None:
    """Run every part of every range: on two connections where :func:`_may_spread`
    allows, else one after another in the caller's session."""
    work = [(part, run) for run in ranges for part in PARTS]
    postgres = session.get_bind().dialect.name == "postgresql"
    engine = await _may_spread(session) if postgres else None
    if engine is None:
        earlier = await _configure(session, _ALONE) if postgres else {}
        for part, run in work:
            _PART.set(part.__name__.strip("_"))
            await part(run, session)
        if earlier:
            await _configure(session, earlier)
        return

    async def take(on: Runner) -> None:
        while work:
            part, run = work.pop(0)
            _PART.set(part.__name__.strip("_"))
            await part(run, on)

    async def second() -> None:
        async with engine.connect() as connection:
            await _configure(connection, _SPREAD)
            await take(connection)
            await connection.rollback()  # it only read

    earlier = await _configure(session, _SPREAD)
    await asyncio.gather(take(session), second())
    await _configure(session, earlier)


async def rollup_days(
    session: AsyncSession,
    shop_id: int,
    first: date,
    last: date,
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> int:
    """Count every day from ``first`` to ``last`` and replace their KPI rows; returns how
    many rows were written.

    Idempotent: rolling days up again recounts them (today's figures as they stand,
    a past day's conversions with the payments that came since). Each day is counted
    by the policy in force on it (``policy`` overrides that for every day).
    """
    if last < first:
        return 0
    moment = now or utcnow()
    zone = await shop_zone(session, shop_id)
    staff = await session.execute(
        text("SELECT id, team FROM staff_account WHERE shop_id = :shop"), {"shop": shop_id}
    )
    team_of = {int(staff_id): team for staff_id, team in staff.all()}
    # Runs of days that the same rules count.
    runs: list[tuple[date, date, Policy]] = []
    day = first
    while day <= last:
        rules = policy or await policy_on(session, shop_id, day)
        if runs and _same_rules(runs[-1][2], rules):
            runs[-1] = (runs[-1][0], day, runs[-1][2])
        else:
            runs.append((day, day, rules))
        day += timedelta(days=1)
    postgres = session.get_bind().dialect.name == "postgresql"
    ranges: list[_Range] = []
    tallies: dict[date, Tally] = {}
    for low, high, rules in runs:
        window = timedelta(days=rules.kpi.conversion_window_days + 2)
        clock = Clock(
            postgres, zone, day_bounds(low, zone)[0] - 2 * OPEN_LOOKBACK,
            day_bounds(high, zone)[1] + window,
        )  # fmt: skip
        own: dict[date, Tally] = {}
        day = low
        while day <= high:
            own[day] = tallies[day] = Tally(team_of=team_of)
            day += timedelta(days=1)
        ranges.append(_Range(shop_id, low, high, rules, zone, moment, clock, own))
    await _count(session, ranges)

    await session.execute(
        delete(KpiDay).where(KpiDay.shop_id == shop_id, KpiDay.day >= first, KpiDay.day <= last)
    )
    rows = [
        {"shop_id": shop_id, "day": day, "scope": scope, "subject": subject,
         "computed_at": moment, **counts}
        for day, tally in sorted(tallies.items())
        for (scope, subject), counts in sorted(tally.rows().items())
    ]  # fmt: skip
    await session.execute(insert(KpiDay), rows)
    return len(rows)


__all__ = [
    "BUCKETS",
    "COUNTS",
    "ITEMS",
    "PEAKS",
    "REPLY_BUCKETS",
    "STORED",
    "Tally",
    "day_bounds",
    "rollup_days",
    "span_on",
]
