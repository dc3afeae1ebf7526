"""Which customers a rule picks: the language of groups, filters, exports and campaigns.

A rule is data the manager edits: a list of conditions, all of which must hold, each
``{"field": …, "op": …, "value": …}``. "Two purchases in 90 days" is
``{"field": "recent_orders", "op": ">=", "value": 2, "days": 90}``; "spent over 500"
is ``{"field": "spent", "op": ">=", "value": 500}`` (yuan); "lapsed 180 days" is
``{"field": "days_since_last", "op": ">=", "value": 180}``. :func:`parse_rule` checks
a rule and says what is wrong with it; :func:`people` turns it into one query over
the persons (buyers not merged into another) and their ``customer_stats``.

Sums, levels and "n purchases in d days" for n up to 3 read the stats, which
``stats.refresh`` recomputes every hour and after a merge: a rule sees a purchase of
the last hour at the next refresh. Larger counts read the window's orders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.texts import say
from xiaoer.customers.models import CustomerGroupMember, CustomerStats, phone_tail
from xiaoer.orders.models import Order

MAX_CONDITIONS = 20
MAX_DAYS = 3650


class RuleError(ValueError):
    """A rule that cannot be read; the message names the condition and what is wrong."""


@dataclass(frozen=True)
class Field:
    kind: str  # count, yuan, days, recent, choice, has, month, flag
    ops: tuple[str, ...]


COUNT_OPS = (">=", "<=", "=")
FIELDS: dict[str, Field] = {
    "orders": Field("count", COUNT_OPS),  # paid orders, all time
    "spent": Field("yuan", COUNT_OPS),  # paid less refunded, yuan
    "refunds": Field("count", COUNT_OPS),
    "bad_reviews": Field("count", COUNT_OPS),  # bad and neutral reviews
    "recent_orders": Field("recent", COUNT_OPS),  # paid orders in the last ``days`` days
    "days_since_last": Field("days", (">=", "<=")),  # days since the last purchase
    "days_since_first": Field("days", (">=", "<=")),  # days since the first purchase
    "level": Field("choice", ("in",)),  # member level ("" for none)
    "price_level": Field("choice", ("in",)),  # low, middle, high
    "gender": Field("choice", ("in",)),
    "city": Field("choice", ("in",)),
    "channel": Field("choice", ("in",)),  # a buyer of the person's on one of them
    "tag": Field("has", ("has", "lacks")),
    "category": Field("has", ("has", "lacks")),  # bought a product of the category
    "birth_month": Field("month", ("=",)),
    "greetings": Field("flag", ("=",)),  # accepts greetings
    "group": Field("count", ("=",)),  # in the hand-made group with this id
}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    days: int = 0  # for recent_orders


def _whole(value: Any, where: str, low: int = 0, high: int = 10**9) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RuleError(say("{where}: expected a whole number", where=where))
    try:
        number = int(value)
    except ValueError as exc:
        raise RuleError(say("{where}: expected a whole number", where=where)) from exc
    if not low <= number <= high:
        raise RuleError(
            say("{where}: expected a number from {low} to {high}", where=where, low=low, high=high)
        )
    return number


def parse_rule(data: Any) -> list[Condition]:
    """A rule as stored or posted, checked; raises :class:`RuleError`."""
    if not isinstance(data, list):
        raise RuleError(say("a rule is a list of conditions"))
    if len(data) > MAX_CONDITIONS:
        raise RuleError(say("a rule has at most {n} conditions", n=MAX_CONDITIONS))
    conditions = []
    for number, item in enumerate(data, start=1):
        where = say("condition {n}", n=number)
        if not isinstance(item, dict):
            raise RuleError(say("{where}: expected a field, an operator and a value", where=where))
        name = item.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None or not isinstance(name, str):
            raise RuleError(say("{where}: no field {field!r}", where=where, field=name))
        op = item.get("op")
        if op not in spec.ops:
            raise RuleError(
                say("{where}: {field} takes {ops}", where=where, field=name, ops=" ".join(spec.ops))
            )
        raw = item.get("value")
        days = 0
        value: Any
        if spec.kind in ("count", "yuan"):
            value = _whole(raw, where)
        elif spec.kind == "days":
            value = _whole(raw, where, 0, MAX_DAYS)
        elif spec.kind == "recent":
            value = _whole(raw, where)
            days = _whole(item.get("days"), where, 1, MAX_DAYS)
        elif spec.kind == "month":
            value = _whole(raw, where, 1, 12)
        elif spec.kind == "flag":
            if not isinstance(raw, bool):
                raise RuleError(say("{where}: expected yes or no", where=where))
            value = raw
        elif spec.kind == "choice":
            items: list[Any] = raw if isinstance(raw, list) else [raw]
            words = [v.strip() for v in items if isinstance(v, str) and len(v) <= 64]
            if not items or len(words) != len(items):
                raise RuleError(say("{where}: expected one or more words", where=where))
            value = tuple(words)
        else:  # has
            if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
                raise RuleError(say("{where}: expected a word", where=where))
            value = raw.strip()
        conditions.append(Condition(name, op, value, days))
    return conditions


def rule_data(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    """Conditions as stored: the inverse of :func:`parse_rule`."""
    out = []
    for c in conditions:
        value = list(c.value) if isinstance(c.value, tuple) else c.value
        item: dict[str, Any] = {"field": c.field, "op": c.op, "value": value}
        if c.field == "recent_orders":
            item["days"] = c.days
        out.append(item)
    return out


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    return column == value  # type: ignore[no-any-return]


def _stat(column: Any, op: str, value: int) -> ColumnElement[bool]:
    """A sum of ``customer_stats``, which a person without a row has as 0. When 0 cannot
    meet the condition the column is compared bare, so that the database may start from
    the stats' index and join the persons to it."""
    zero_meets = value <= 0 if op == ">=" else value >= 0 if op == "<=" else value == 0
    return _compare(func.coalesce(column, 0) if zero_meets else column, op, value)


def _json_has(column: Any, word: str) -> ColumnElement[bool]:
    # A JSON list of words holds ``word`` as its JSON text: as our serializer wrote it
    # (non-ASCII escaped), or as the database did (``stats.refresh``'s categories).
    text = func.coalesce(cast(column, Text), "")
    written = {json.dumps(word), json.dumps(word, ensure_ascii=False)}
    return or_(*(text.contains(form, autoescape=True) for form in sorted(written)))


_LATEST = {
    1: CustomerStats.last_paid_at,
    2: CustomerStats.second_paid_at,
    3: CustomerStats.third_paid_at,
}


def _by_latest(c: Condition, now: datetime) -> ColumnElement[bool] | None:
    """'n purchases in d days' for n up to 3 from the stats' n-th latest payment: at least
    n when it falls in the window, at most n when the (n+1)-th does not. ``None`` for
    counts the stats do not keep."""
    edge = now - timedelta(days=c.days)

    def within(n: int) -> ColumnElement[bool]:
        return _LATEST[n] >= edge

    def not_within(n: int) -> ColumnElement[bool]:
        return or_(_LATEST[n].is_(None), _LATEST[n] < edge)

    n = int(c.value)
    if c.op == ">=" and 1 <= n <= 3:
        return within(n)
    if c.op == "<=" and 0 <= n <= 2:
        return not_within(n + 1)
    if c.op == "=" and n == 0:
        return not_within(1)
    if c.op == "=" and 1 <= n <= 2:
        return and_(within(n), not_within(n + 1))
    return None


def condition_sql(c: Condition, shop_id: int, now: datetime) -> ColumnElement[bool]:
    """One condition over ``Customer`` (a person) outer-joined to ``CustomerStats``."""
    if c.field == "orders":
        return _stat(CustomerStats.orders, c.op, c.value)
    if c.field == "spent":
        return _stat(CustomerStats.spent_fen, c.op, c.value * 100)
    if c.field == "refunds":
        return _stat(CustomerStats.refunds, c.op, c.value)
    if c.field == "bad_reviews":
        return _stat(CustomerStats.bad_reviews, c.op, c.value)
    if c.field == "recent_orders":
        latest = _by_latest(c, now)
        if latest is not None:
            return latest
        # The persons with so many paid orders in the window, found once from the
        # window's orders (ix_order_shop_paid) rather than counted person by person: a
        # rule that few match would otherwise count every person's orders.
        buyer = Customer.__table__.alias("buyer")
        person = func.coalesce(buyer.c.merged_into_id, buyer.c.id)

        def having(count: ColumnElement[bool]) -> Any:
            return (
                select(person)
                .select_from(Order)
                .join(buyer, buyer.c.id == Order.customer_id)
                .where(Order.shop_id == shop_id, Order.paid_at >= now - timedelta(days=c.days))
                .group_by(person)
                .having(count)
            )

        orders_in = func.count(Order.id)
        if c.op == ">=":
            return true() if c.value <= 0 else Customer.id.in_(having(orders_in >= c.value))
        if c.op == "<=":
            return not_(Customer.id.in_(having(orders_in > c.value)))
        if c.value == 0:
            return not_(Customer.id.in_(having(orders_in >= 1)))
        return Customer.id.in_(having(orders_in == c.value))
    if c.field in ("days_since_last", "days_since_first"):
        column = (
            CustomerStats.last_paid_at
            if c.field == "days_since_last"
            else CustomerStats.first_paid_at
        )
        edge = now - timedelta(days=c.value)
        # Never bought: as if lapsed for ever (>=), never recent (<=).
        if c.op == ">=":
            return or_(column.is_(None), column <= edge)
        return and_(column.is_not(None), column >= edge)
    if c.field in ("level", "price_level"):
        named = CustomerStats.level if c.field == "level" else CustomerStats.price_level
        return (func.coalesce(named, "") if "" in c.value else named).in_(c.value)
    if c.field == "gender":
        return Customer.gender.in_(c.value)
    if c.field == "city":
        return Customer.city.in_(c.value)
    if c.field == "channel":
        buyer = Customer.__table__.alias("on_channel")
        return exists().where(
            or_(buyer.c.id == Customer.id, buyer.c.merged_into_id == Customer.id),
            buyer.c.shop_id == shop_id,
            buyer.c.channel.in_(c.value),
        )
    if c.field in ("tag", "category"):
        words: Any = Customer.tags if c.field == "tag" else CustomerStats.categories
        has = _json_has(words, c.value)
        return has if c.op == "has" else not_(has)
    if c.field == "birth_month":
        return Customer.birth_month == int(c.value)
    if c.field == "greetings":
        accepts = and_(Customer.greetings_off_at.is_(None), Customer.erased_at.is_(None))
        return accepts if c.value else not_(accepts)
    if c.field == "group":
        return exists().where(
            CustomerGroupMember.group_id == c.value,
            CustomerGroupMember.customer_id == Customer.id,
        )
    raise RuleError(say("no field {field!r}", field=c.field))  # parse_rule lets none through


def search_sql(text: str) -> ColumnElement[bool]:
    """A person whose nick, name or phone starts with ``text``, or whose phone ends
    with it (four digits or more), on any of their buyers."""
    text = text.strip()
    if not text:
        return true()
    buyer = Customer.__table__.alias("found")
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    tail: ColumnElement[bool] = false()
    if len(text) >= 4 and text.isascii() and text.isdigit():
        # the last four digits through ix_customer_search_tail, then the rest
        tail = and_(
            phone_tail(buyer.c.phone) == text[-4:],
            buyer.c.phone.like("%" + like, escape="\\"),
        )
    match = or_(
        buyer.c.nick.like(like + "%", escape="\\"),
        buyer.c.name.like(like + "%", escape="\\"),
        buyer.c.phone.like(like + "%", escape="\\"),
        tail,
    )
    return exists().where(
        buyer.c.shop_id == Customer.shop_id,
        func.coalesce(buyer.c.merged_into_id, buyer.c.id) == Customer.id,
        match,
    )


def people(
    shop_id: int, conditions: Sequence[Condition], now: datetime, search: str = ""
) -> Select[Customer, CustomerStats]:
    """The persons of a shop matching every condition (and the search), with their
    stats (``None`` before the first refresh); erased persons are left out."""
    query = (
        select(Customer, CustomerStats)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(
            Customer.shop_id == shop_id,
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
        )
    )
    for condition in conditions:
        query = query.where(condition_sql(condition, shop_id, now))
    if search.strip():
        query = query.where(search_sql(search))
    return query


async def matching_ids(
    session: AsyncSession, shop_id: int, conditions: Sequence[Condition], now: datetime
) -> list[int]:
    """The ids of every person the conditions pick, lowest first (for campaigns)."""
    query = people(shop_id, conditions, now).with_only_columns(Customer.id).order_by(Customer.id)
    return list(await session.scalars(query))


__all__ = [
    "FIELDS",
    "Condition",
    "RuleError",
    "matching_ids",
    "parse_rule",
    "people",
    "rule_data",
    "search_sql",
]
