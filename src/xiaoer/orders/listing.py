"""The orders list: every order of the shop, newest first, filtered, searched, a page
at a time, with the filtered set's count and total.

A filter comes from a query string (so a filtered list is a link) through
:func:`parse_filter`, which keeps what was typed and says, per field, what it could
not read; nothing it could not read filters anything. Pages follow each other by
keyset (the last row's creation time and id), never by offset, so a page deep in a
million orders costs what the first does and a new order does not shift the pages.

After-sales sits above orders: it registers its refund filters here
(:func:`refund_filter`) rather than orders importing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.texts import Text, say
from xiaoer.orders.access import OrderForbidden
from xiaoer.orders.errors import OrderError
from xiaoer.orders.models import (
    PAID_STATUSES,
    Flag,
    Order,
    TradeStatus,
    phone_tail,
)
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount

PAGE = 50
EXPORT_LIMIT = 20_000  # rows in one workbook; a larger set is narrowed first
SEARCH_LENGTH = 64
CHANNELS = ("taobao", "tmall", "jd", "own_site", "phone")
NOTE_STATES = ("missing", "late")
REMINDER_STATES = ("none", "open", "done", "recovered")
FIELDS = ("status", "start", "end", "agent", "flag", "channel", "note", "reminder", "refund",
          "q", "after")  # fmt: skip

# After-sales' refund filters: name -> condition on an order of a shop.
RefundCondition = Callable[[int], ColumnElement[bool]]
_refund_filters: dict[str, RefundCondition] = {}


def refund_filter(name: str) -> Callable[[RefundCondition], RefundCondition]:
    """Register (a decorator) the condition the refund filter ``name`` puts on orders."""

    def register(condition: RefundCondition) -> RefundCondition:
        _refund_filters[name] = condition
        return condition

    return register


def refund_states() -> tuple[str, ...]:
    return tuple(_refund_filters)


@dataclass
class OrderFilter:
    """What the list is narrowed to; ``typed`` keeps the query as it came, ``errors``
    what of it could not be read (field -> message)."""

    status: str = ""
    start: date | None = None
    end: date | None = None
    agent_id: int | None = None
    unowned: bool = False
    flag: int | None = None
    channel: str = ""
    note: str = ""
    reminder: str = ""
    refund: str = ""
    q: str = ""
    after: tuple[datetime, int] | None = None
    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, Text] = field(default_factory=dict)

    @property
    def narrowed(self) -> bool:
        """Whether anything but the page narrows the list."""
        return any(v for k, v in self.typed.items() if k != "after")


def check_may_list(staff: StaffAccount) -> None:
    """Agents and leaders read the shop's orders (contact details masked as
    ``orders.access`` says); the back office works from its own pages."""
    if not staff.has_role("agent", *LEADERS):
        raise OrderForbidden(say("the orders list is for agents and their leaders"))


_CURSOR = re.compile(r"^(\d{1,17})\.(\d{1,19})$")


def cursor_of(order: Order) -> str:
    """The position after ``order``: its creation time in microseconds and its id."""
    at = order.created_at if order.created_at.tzinfo else order.created_at.replace(tzinfo=UTC)
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}.{order.id}"


def _cursor(text: str) -> tuple[datetime, int] | None:
    found = _CURSOR.match(text)
    if found is None or int(found[2]) > 2**63 - 1:
        return None
    try:
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(found[1]))
    except OverflowError:
        return None
    return at, int(found[2])


def _printable(text: str) -> str:
    """What was typed without control characters and lone surrogates, which no column
    holds (PostgreSQL refuses a NUL) and nobody means to search for."""
    return "".join(ch for ch in text if ch.isprintable()).strip()


async def parse_filter(
    session: AsyncSession, staff: StaffAccount, query: Mapping[str, str]
) -> OrderFilter:
    """The filter a query string asks for, every value checked against the shop."""
    typed = {name: _printable(str(query.get(name, "")))[:SEARCH_LENGTH] for name in FIELDS}
    chosen = OrderFilter(typed={k: v for k, v in typed.items() if v})
    errors = chosen.errors
    if status := typed["status"]:
        if status in {s.value for s in TradeStatus}:
            chosen.status = status
        else:
            errors["status"] = say("no order status {value}", value=status)
    for name in ("start", "end"):
        if text := typed[name]:
            try:
                setattr(chosen, name, date.fromisoformat(text))
            except ValueError:
                errors[name] = say("{value} is not a day (YYYY-MM-DD)", value=text)
    if chosen.start and chosen.end and chosen.start > chosen.end:
        errors["end"] = say("the last day comes before the first")
    if agent := typed["agent"]:
        if agent == "none":
            chosen.unowned = True
        else:
            known = agent.isdigit() and int(agent) <= 2**63 - 1
            member = await session.get(StaffAccount, int(agent)) if known else None
            if member is None or member.shop_id != staff.shop_id:
                errors["agent"] = say("no agent {value} in this shop", value=agent)
            else:
                chosen.agent_id = member.id
    if flag := typed["flag"]:
        if flag.isdigit() and int(flag) in {f.value for f in Flag}:
            chosen.flag = int(flag)
        else:
            errors["flag"] = say("no flag colour {value}", value=flag)
    for name, allowed in (
        ("channel", CHANNELS),
        ("note", NOTE_STATES),
        ("reminder", REMINDER_STATES),
        ("refund", refund_states()),
    ):
        if value := typed[name]:
            if value in allowed:
                setattr(chosen, name, value)
            else:
                errors[name] = say("{value} is not one of the choices", value=value)
    chosen.q = typed["q"]
    if after := typed["after"]:
        position = _cursor(after)
        if position is None:
            errors["after"] = say("this page link is damaged; start from the first page")
        else:
            chosen.after = position
    return chosen


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _like(text: str) -> str:
    """``text`` as the start of a LIKE pattern, its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search(words: str) -> ColumnElement[bool]:
    """Order number, buyer nick, phone tail (last 4 digits), receiver, waybill."""
    if words.isdigit() and len(words) == 4:
        return phone_tail() == words
    start = _like(words)
    found = [
        Order.platform_order_id.like(start, escape="\\"),
        Order.buyer_nick.like(start, escape="\\"),
        Order.receiver_name.like(start, escape="\\"),
        and_(  # an order with a waybill: what its index holds
            Order.tracking_number != "",
            Order.tracking_number.like(_like(words.upper()), escape="\\"),
        ),
    ]
    return or_(*found)


def conditions(shop_id: int, zone: ZoneInfo, chosen: OrderFilter) -> list[ColumnElement[bool]]:
    """The filter as conditions on ``Order``, the shop's first."""
    where: list[ColumnElement[bool]] = [Order.shop_id == shop_id]
    if chosen.status:
        where.append(Order.status == chosen.status)
    if chosen.start:
        where.append(Order.created_at >= _midnight(chosen.start, zone))
    if chosen.end:
        where.append(Order.created_at < _midnight(chosen.end + timedelta(days=1), zone))
    if chosen.unowned:
        where.append(Order.owner_id.is_(None))
    elif chosen.agent_id is not None:
        where.append(Order.owner_id == chosen.agent_id)
    # A colour is a range of the flag's index, which holds only the orders with one
    # (``orders.models.FLAGGED``); grey reads ``ix_order_list_created``, which carries it.
    if chosen.flag == Flag.grey:
        where.append(Order.flag == Flag.grey.value)
    elif chosen.flag is not None:
        where += [Order.flag != Flag.grey.value, Order.flag == chosen.flag]
    # Channel, note and reminder read the marks the database keeps on the order row
    # (``Order.channel``), each an index range, never a join or an EXISTS per order.
    if chosen.channel:
        where.append(Order.channel == chosen.channel)
    if chosen.note == "missing":
        where.append(Order.status.in_([s.value for s in PAID_STATUSES]))
        where.append(Order.noted.is_(False))
    elif chosen.note == "late":
        where.append(Order.note_late.is_(True))
    if chosen.reminder == "none":
        where.append(Order.reminded.is_(False))
    elif chosen.reminder == "open":
        where.append(Order.remind_open.is_(True))
    elif chosen.reminder == "done":
        where.append(Order.remind_done.is_(True))
    elif chosen.reminder == "recovered":
        where.append(Order.recovered.is_(True))
    if chosen.refund:
        where.append(_refund_filters[chosen.refund](shop_id))
    if chosen.q:
        where.append(_search(chosen.q))
    return where


def _newest_first(query: Select[Order], chosen: OrderFilter) -> Select[Order]:
    if chosen.after is not None:
        at, order_id = chosen.after
        query = query.where(tuple_(Order.created_at, Order.id) < tuple_(at, order_id))
    return query.order_by(Order.created_at.desc(), Order.id.desc())


async def orders_page(
    session: AsyncSession, staff: StaffAccount, chosen: OrderFilter, *, limit: int = PAGE
) -> tuple[list[Order], str | None]:
    """One page of the filtered list and the position of the next (None on the last)."""
    check_may_list(staff)
    zone = await shop_zone(session, staff.shop_id)
    query = _newest_first(select(Order).where(*conditions(staff.shop_id, zone, chosen)), chosen)
    rows = list(await session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_of(rows[-1]) if more and rows else None


def _complement(
    shop_id: int, chosen: OrderFilter
) -> tuple[OrderFilter, ColumnElement[bool]] | None:
    """For "no reminder" and "no refund", which most orders meet: the filter without
    it, and the condition the few others meet. Their indexes hold only those others
    (migration 0038), so the set's count and total are the wider set's less theirs: two
    index ranges, not a test of every row."""
    if chosen.reminder == "none":
        return replace(chosen, reminder=""), Order.reminded.is_(True)
    if chosen.refund == "none" and "any" in _refund_filters:
        return replace(chosen, refund=""), _refund_filters["any"](shop_id)
    return None


def _count_and_sum(where: list[ColumnElement[bool]], sign: int) -> Select[int, int, int]:
    """Count and total of the orders ``where`` holds, with the sign they are added by."""
    return select(literal(sign), func.count(), func.coalesce(func.sum(Order.total_fen), 0)).where(
        *where
    )


async def orders_total(
    session: AsyncSession, staff: StaffAccount, chosen: OrderFilter
) -> tuple[int, int]:
    """(orders, fen of their total amount) of the whole filtered set, every page."""
    check_may_list(staff)
    zone = await shop_zone(session, staff.shop_id)
    complement = _complement(staff.shop_id, chosen)
    query: Any
    if complement is None:
        query = _count_and_sum(conditions(staff.shop_id, zone, chosen), 1)
    else:  # both ranges in one statement, so in one snapshot
        wider, others = complement
        where = conditions(staff.shop_id, zone, wider)
        query = union_all(_count_and_sum(where, 1), _count_and_sum([*where, others], -1))
    count, fen = 0, 0
    for sign, part_count, part_fen in await session.execute(query):
        count += sign * int(part_count)
        fen += sign * int(part_fen)
    return count, fen


async def orders_to_export(
    session: AsyncSession, staff: StaffAccount, chosen: OrderFilter
) -> list[Order]:
    """The whole filtered set, newest first, for a workbook of at most ``EXPORT_LIMIT``."""
    check_may_list(staff)
    count, _ = await orders_total(session, staff, chosen)
    if count > EXPORT_LIMIT:
        raise OrderError(
            say("{count} orders are more than one export holds ({limit}); narrow the filter",
                count=count, limit=EXPORT_LIMIT)
        )  # fmt: skip
    whole = OrderFilter(**{**chosen.__dict__, "after": None})
    zone = await shop_zone(session, staff.shop_id)
    query = _newest_first(select(Order).where(*conditions(staff.shop_id, zone, whole)), whole)
    return list(await session.scalars(query))
