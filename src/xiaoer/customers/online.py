"""When each customer is likely online (R2): an hour-of-week profile.

The samples are the person's own moments: every message they wrote in a chat (through
any of their buyers' conversations) and every order they placed and paid, each counted
in the hour of the week it fell in on the shop's clock (Monday 00:00 is slot 0). The
counts are summed in SQL, a batch of persons at a time, so a million customers are
read in slices and never held at once.

Few samples say little, so the profile is smoothed: each sample also counts half in the
hours beside it and a tenth in the same hour of the other days, and every hour starts
with a small prior; the shares sum to 1. ``confidence`` grows with the samples,
``n / (n + online_min_samples)``: below ``online_min_samples`` the profile is a guess
and greetings go out at the policy's ``greeting_hour`` instead.

On SQLite the shop's clock is its zone's offset now (the default zone keeps one offset
all year); PostgreSQL converts each moment with the zone's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, any_, bindparam, delete, func, insert, or_, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import utcnow
from xiaoer.core.policy import Policy, in_span
from xiaoer.customers.models import OnlineProfile
from xiaoer.customers.people import person_id
from xiaoer.orders.models import Order
from xiaoer.reception.models import Conversation, Message, Sender
from xiaoer.shops.service import shop_zone

SLOTS = 168
PRIOR = 0.05  # every hour's share before any sample
BESIDE = 0.5  # what a sample counts in the hours beside it
SAME_HOUR = 0.1  # … and in the same hour of the other days
BATCH = 5000  # persons a statement reads


def smooth(counts: dict[int, int]) -> list[float]:
    """168 shares summing to 1 from the samples per slot. Only the hours a sample
    reaches are worked out one by one; the others all keep the prior's share."""
    extra: dict[int, float] = {}
    for slot, n in counts.items():
        hour = slot % 24
        for weekday in range(7):
            other = weekday * 24 + hour
            if other != slot:
                extra[other] = extra.get(other, 0.0) + SAME_HOUR * n
        for beside in ((slot - 1) % SLOTS, (slot + 1) % SLOTS):
            extra[beside] = extra.get(beside, 0.0) + BESIDE * n
        extra[slot] = extra.get(slot, 0.0) + n
    total = PRIOR * SLOTS + sum(extra.values())
    shares = [round(PRIOR / total, 6)] * SLOTS
    for slot, value in extra.items():
        shares[slot] = round((PRIOR + value) / total, 6)
    return shares


def confidence_of(samples: int, policy: Policy) -> float:
    return round(samples / (samples + policy.customers.online_min_samples), 4)


class DayHours:
    """:func:`best_hour`'s choice for one day, with what it needs from the day and the
    policy worked out once (a day's plan asks it for every person)."""

    __slots__ = ("allowed", "fallback", "first", "min_samples", "open")

    def __init__(self, day: date, policy: Policy) -> None:
        quiet = policy.customers.greeting_quiet_hours
        hour, minute = (int(p) for p in policy.customers.greeting_hour.split(":"))
        self.fallback = time(hour, minute)
        self.first = day.weekday() * 24
        self.allowed = [h for h in range(24) if not in_span(quiet, time(h, 0))]
        self.open = frozenset(self.allowed)
        self.min_samples = policy.customers.online_min_samples

    def hour_of(self, hours: Sequence[float]) -> int | None:
        """The hour (0–23) from the day's 24 shares of a sure enough profile; None when
        the quiet hours leave none (the ``greeting_hour`` then)."""
        allowed = self.allowed
        if not allowed:
            return None
        top = max(hours)
        peak = hours.index(top)  # the first of equal peaks, as ``max`` picks it
        if peak in self.open:
            return peak  # the likeliest hour, and the nearest to itself
        best = max(hours[h] for h in allowed)

        def apart(h: int) -> int:
            return min((h - peak) % 24, (peak - h) % 24)

        # Of the equally likely hours, the nearest to the peak; the earliest of equals.
        return min((h for h in allowed if hours[h] == best), key=apart)

    def hour_of_text(self, raw: str | None) -> int | None:
        """:meth:`hour_of` from a profile's JSON text (a list of 168 numbers), reading
        only the day's 24; None for a profile not of 168 numbers (greeted at the
        ``greeting_hour``) as well."""
        if not raw:
            return None
        parts = raw.strip().strip("[]").split(",")
        if len(parts) != SLOTS:
            return None
        try:
            shares = [float(part) for part in parts[self.first : self.first + 24]]
        except ValueError:
            return None
        return self.hour_of(shares)

    def time_of(self, profile: OnlineProfile | None) -> time:
        if profile is None or profile.samples < self.min_samples or len(profile.hours) != SLOTS:
            return self.fallback
        found = self.hour_of(profile.hours[self.first : self.first + 24])
        return self.fallback if found is None else time(found, 0)


def best_hour(profile: OnlineProfile | None, day: date, policy: Policy) -> time:
    """The time on ``day`` a greeting is most likely read: the start of the person's
    likeliest hour that day outside the quiet hours; the policy's ``greeting_hour``
    while the profile is a guess. Hours equally likely go to the one nearest the day's
    peak, so a night owl is greeted just before the quiet hours begin."""
    return DayHours(day, policy).time_of(profile)


def _slot(moment: Any, dialect: str, zone: ZoneInfo) -> Any:
    """SQL: the hour of the week (0–167, Monday first) of a UTC moment on the shop's clock."""
    if dialect == "postgresql":
        there = func.timezone(zone.key, moment)
        return (func.extract("isodow", there) - 1) * 24 + func.extract("hour", there)
    offset = utcnow().astimezone(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    shift = f"{minutes:+d} minutes"
    weekday = func.cast(func.strftime("%w", moment, shift), Integer)
    hour = func.cast(func.strftime("%H", moment, shift), Integer)
    return ((weekday + 6) % 7) * 24 + hour


def _buyers_of(lo: int, hi: int) -> Any:
    """SQL: the buyer rows of the persons with ids ``lo``..``hi`` (index-friendly)."""
    return or_(
        and_(Customer.id.between(lo, hi), Customer.merged_into_id.is_(None)),
        Customer.merged_into_id.between(lo, hi),
    )


def _one_of(column: Any, ids: list[int], dialect: str) -> Any:
    """SQL: ``column`` is one of ``ids`` — on PostgreSQL as one array parameter, which
    it looks up by the column's index, never by reading the whole table to join it."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return column.in_(ids)


async def _counts(
    session: AsyncSession, shop_id: int, zone: ZoneInfo, lo: int, hi: int
) -> dict[int, dict[int, int]]:
    """Samples per person and hour of the week, for the persons ``lo``..``hi``."""
    dialect = session.get_bind().dialect.name
    buyers = {
        int(buyer): int(who)
        for buyer, who in (
            await session.execute(
                select(Customer.id, person_id()).where(
                    Customer.shop_id == shop_id, _buyers_of(lo, hi)
                )
            )
        ).all()
    }
    if not buyers:
        return {}
    ids = sorted(buyers)
    said = (
        select(Conversation.customer_id.label("buyer"), _slot(Message.created_at, dialect, zone))
        .select_from(Conversation)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(_one_of(Conversation.customer_id, ids, dialect), Message.sender == Sender.buyer)
    )
    ordered = select(Order.customer_id, _slot(Order.created_at, dialect, zone)).where(
        _one_of(Order.customer_id, ids, dialect)
    )
    paid = select(Order.customer_id, _slot(Order.paid_at, dialect, zone)).where(
        _one_of(Order.customer_id, ids, dialect), Order.paid_at.is_not(None)
    )
    moments = union_all(said, ordered, paid).subquery("moments")
    buyer, slot = moments.c[0], moments.c[1]
    rows = await session.execute(select(buyer, slot, func.count()).group_by(buyer, slot))
    counts: dict[int, dict[int, int]] = {}
    for who, hour, n in rows.all():
        person = counts.setdefault(buyers[int(who)], {})
        person[int(hour) % SLOTS] = person.get(int(hour) % SLOTS, 0) + int(n)
    return counts


async def refresh_profiles(
    session: AsyncSession,
    shop_id: int,
    policy: Policy,
    persons: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Recompute the online profiles of a shop's persons (all, or those given), a batch
    of ids at a time; returns how many profiles were written. A person without a single
    sample has none (and is greeted at ``greeting_hour``)."""
    now = now or utcnow()
    zone = await shop_zone(session, shop_id)
    written = 0
    if persons is not None:
        chosen = sorted(set(persons))
        for start in range(0, len(chosen), BATCH):
            part = chosen[start : start + BATCH]
            written += await _refresh_range(
                session, shop_id, policy, zone, part[0], part[-1], set(part), now
            )
        return written
    after = 0
    while True:
        ids = list(
            await session.scalars(
                select(Customer.id)
                .where(
                    Customer.shop_id == shop_id,
                    Customer.merged_into_id.is_(None),
                    Customer.id > after,
                )
                .order_by(Customer.id)
                .limit(BATCH)
            )
        )
        if not ids:
            return written
        written += await _refresh_range(session, shop_id, policy, zone, ids[0], ids[-1], None, now)
        after = ids[-1]


async def _refresh_range(
    session: AsyncSession,
    shop_id: int,
    policy: Policy,
    zone: ZoneInfo,
    lo: int,
    hi: int,
    only: set[int] | None,
    now: datetime,
) -> int:
    counts = await _counts(session, shop_id, zone, lo, hi)
    if only is not None:
        counts = {who: c for who, c in counts.items() if who in only}
    # By the persons' ids alone (they are the shop's): the primary key's range.
    gone = delete(OnlineProfile).where(OnlineProfile.customer_id.between(lo, hi))
    if only is not None:
        gone = gone.where(OnlineProfile.customer_id.in_(sorted(only)))
    await session.execute(gone.execution_options(synchronize_session=False))
    if not counts:
        return 0
    rows = []
    for who, slots in counts.items():
        samples = sum(slots.values())
        rows.append(
            {
                "customer_id": who,
                "shop_id": shop_id,
                "hours": smooth(slots),
                "samples": samples,
                "confidence": confidence_of(samples, policy),
                "refreshed_at": now,
            }
        )
    await session.execute(insert(OnlineProfile), rows)
    return len(rows)
