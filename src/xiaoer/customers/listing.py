"""The customer list (R1): every person of the shop, searched and filtered, a page at a
time, newest buyer first.

A filter comes from a query string (so a filtered list is a link, and the export of
"this filter" is the same link) through :func:`parse_filter`, which keeps what was
typed and says, per input, what it could not read; nothing it could not read filters
anything. The inputs become conditions of the rule language
(:mod:`xiaoer.customers.filters`), so the list, a rule group and an export pick the
same people.

A shop may hold a million customers: a page is ``LIMIT``/``OFFSET`` over the primary
key (newest first), at most :data:`MAX_PAGE` pages deep, and the count stops at
:data:`COUNT_CAP` ("10,000+"); only an export counts exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.core.clock import utcnow
from xiaoer.core.policy import member_levels
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.customers.filters import Condition, RuleError, parse_rule, people
from xiaoer.customers.models import CustomerStats
from xiaoer.customers.people import check_reader, person_id, sees_personal
from xiaoer.customers.stats import PRICE_LEVELS
from xiaoer.staff.models import StaffAccount

PAGE = 50
COUNT_CAP = 10_000  # a count past this shows as "10,000+"
COUNT_BUDGET_MS = 80  # a page's count on PostgreSQL; longer, and the list says "many"
MAX_PAGE = COUNT_CAP // PAGE  # deeper than this, narrow the search instead
TEXT_LENGTH = 64
CHANNELS = ("taobao", "tmall", "jd", "own_site", "widget", "phone", "email")
GENDERS = ("female", "male")

# The list's inputs: a number compared to a field ("orders_min" → orders >= n) …
NUMBER_INPUTS: dict[str, tuple[str, str]] = {
    "orders_min": ("orders", ">="),
    "orders_max": ("orders", "<="),
    "spent_min": ("spent", ">="),
    "spent_max": ("spent", "<="),
    "recent_min": ("recent_orders", ">="),
    "last_min": ("days_since_last", ">="),
    "last_max": ("days_since_last", "<="),
}
RECENT_DAYS = 90  # "recent" when the form leaves the days empty
# … one or more of a few words …
CHOICE_INPUTS = ("level", "price_level", "channel", "gender")
# … a word a JSON list holds, or words separated by spaces or commas …
WORD_INPUTS = ("tag", "category")
TEXT_INPUTS = ("q", "city", "tag", "category", "greetings", "recent_days", *NUMBER_INPUTS)


class Query(Protocol):
    """A query string: Starlette's ``QueryParams`` or a plain multi-dict."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass
class CustomerFilter:
    """What the list was asked for: the conditions, the search and the page, with what
    was typed (to show it again) and, per input, what could not be read."""

    q: str = ""
    conditions: list[Condition] = field(default_factory=list)
    page: int = 1
    typed: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, Text] = field(default_factory=dict)

    def query_items(self, **changed: str) -> list[tuple[str, str]]:
        """The filter as query-string pairs (empty ones left out), ``changed`` applied."""
        items = [(k, v) for k, v in {**self.typed, **changed}.items() if v]
        for name, values in self.chosen.items():
            items.extend((name, v) for v in values)
        return items


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()[:TEXT_LENGTH]


def _words(text: str) -> list[str]:
    return [w for w in text.replace("，", ",").replace(",", " ").split() if w]


def parse_filter(query: Query | Mapping[str, str]) -> CustomerFilter:
    """The filter a query string asks for; an input that cannot be read is kept as
    typed, filters nothing, and has its reason in ``errors``."""
    get = query.get
    getlist = getattr(query, "getlist", lambda name: [v] if (v := query.get(name)) else [])
    typed = {name: _printable(str(get(name, "") or "")) for name in TEXT_INPUTS}
    chosen = {
        name: [w for w in (_printable(str(v)) for v in getlist(name)[:20]) if w]
        for name in CHOICE_INPUTS
    }
    result = CustomerFilter(q=typed["q"], typed=typed, chosen=chosen)
    page_text = str(get("page", "") or "").strip()
    if page_text:
        if (
            not (page_text.isascii() and page_text.isdigit())
            or len(page_text) > 6
            or int(page_text) < 1
        ):
            result.errors["page"] = say("a page is a whole number from 1")
        else:
            result.page = min(int(page_text), MAX_PAGE)
    items: dict[str, dict[str, Any]] = {}
    for name, (field_name, op) in NUMBER_INPUTS.items():
        text = typed[name]
        if not text:
            continue
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            result.errors[name] = say("expected a whole number")
            continue
        item: dict[str, Any] = {"field": field_name, "op": op, "value": int(text)}
        if field_name == "recent_orders":
            days = typed["recent_days"] or str(RECENT_DAYS)
            if not (days.isascii() and days.isdigit()) or len(days) > 9:
                result.errors["recent_days"] = say("expected a whole number")
                continue
            item["days"] = int(days)
        items[name] = item
    if typed["recent_days"] and not typed["recent_min"]:
        result.errors["recent_min"] = say("how many orders in those days?")
    for name in CHOICE_INPUTS:
        if chosen[name]:
            # "none" is the form's word for no member level at all
            words = ["" if name == "level" and w == "none" else w for w in chosen[name]]
            items[name] = {"field": name, "op": "in", "value": words}
    if typed["city"]:
        items["city"] = {"field": "city", "op": "in", "value": _words(typed["city"])}
    for name in WORD_INPUTS:
        if typed[name]:
            items[name] = {"field": name, "op": "has", "value": typed[name]}
    if typed["greetings"]:
        if typed["greetings"] not in ("yes", "no"):
            result.errors["greetings"] = say("expected yes or no")
        else:
            items["greetings"] = {"field": "greetings", "op": "=",
                                  "value": typed["greetings"] == "yes"}  # fmt: skip
    for name, item in items.items():
        try:
            result.conditions.extend(parse_rule([item]))
        except RuleError as exc:
            key = "recent_days" if name == "recent_min" and "days" in item else name
            result.errors[key] = exc.args[0]
    return result


@dataclass(frozen=True)
class Row:
    """One person as a list shows them."""

    person: Customer
    stats: CustomerStats | None
    nicks: tuple[tuple[str, str], ...]  # (channel, nick) of each of their buyers
    phone: str  # masked unless the reader may see it

    @property
    def id(self) -> int:
        return self.person.id


@dataclass(frozen=True)
class Count:
    """How many matched, counted up to :data:`COUNT_CAP` (``capped`` when there are more);
    ``counted`` is false when the count ran out of its time, and ``value`` is then only
    what the pages shown so far hold."""

    value: int
    capped: bool
    counted: bool = True

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, -(-self.value // PAGE)))


@dataclass(frozen=True)
class ListPage:
    rows: list[Row]
    page: int
    count: Count


def shown_phone(staff: StaffAccount, phone: str) -> str:
    return phone if sees_personal(staff) else mask_phone(phone) if phone else ""


async def level_names(session: AsyncSession, shop_id: int) -> list[str]:
    """The shop's member levels, lowest first, as the policy names them."""
    policy = await policy_on(session, shop_id)
    return [name for name, _orders, _fen in member_levels(policy.customers.member_levels)]


def choices(levels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """What the filter form offers for each choice input."""
    return {
        "level": tuple(levels),
        "price_level": PRICE_LEVELS,
        "channel": CHANNELS,
        "gender": GENDERS,
    }


async def count_capped(
    session: AsyncSession,
    query: Select[Customer, CustomerStats],
    *,
    cap: int = COUNT_CAP,
    budget_ms: int = COUNT_BUDGET_MS,
) -> Count | None:
    """How many rows ``query`` gives, counting no further than ``cap`` + 1; on
    PostgreSQL within ``budget_ms`` (None when it took longer: a rare filter over a
    million customers is counted by the export, not on every page view)."""
    capped = query.with_only_columns(Customer.id).order_by(None).limit(cap + 1).subquery()
    counting = select(func.count()).select_from(capped)
    if session.get_bind().dialect.name != "postgresql" or budget_ms <= 0:
        value = int(await session.scalar(counting) or 0)
        return Count(min(value, cap), value > cap)
    before = await session.scalar(text("SELECT current_setting('statement_timeout')"))
    try:
        async with session.begin_nested():
            await session.execute(text(f"SET LOCAL statement_timeout = {int(budget_ms)}"))
            value = int(await session.scalar(counting) or 0)
            await session.execute(
                text("SELECT set_config('statement_timeout', :was, true)"), {"was": before}
            )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", "") != "57014":  # query_canceled
            raise
        return None  # the savepoint's rollback took the SET LOCAL back too
    return Count(min(value, cap), value > cap)


async def rows_of(
    session: AsyncSession, staff: StaffAccount, found: Sequence[tuple[Customer, Any]]
) -> list[Row]:
    """The found persons with every nick of theirs, phones as the reader may see them."""
    ids = [person.id for person, _stats in found]
    nicks: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if ids:
        owner = person_id()
        buyers = await session.execute(
            select(owner, Customer.channel, Customer.nick)
            .where(
                Customer.shop_id == staff.shop_id,
                or_(Customer.id.in_(ids), Customer.merged_into_id.in_(ids)),
            )
            .order_by(owner, Customer.id != owner, Customer.id)
        )
        for who, channel, nick in buyers:
            if who in nicks and nick:
                nicks[who].append((channel, nick))
    return [
        Row(person, stats, tuple(nicks[person.id]), shown_phone(staff, person.phone))
        for person, stats in found
    ]


async def list_page(
    session: AsyncSession,
    staff: StaffAccount,
    chosen: CustomerFilter,
    *,
    extra: Sequence[Condition] = (),
    now: datetime | None = None,
) -> ListPage:
    """One page of the persons the filter (and ``extra`` conditions, e.g. a group's
    rule) picks, with the capped count."""
    check_reader(staff)
    query = people(staff.shop_id, [*extra, *chosen.conditions], now or utcnow(), chosen.q)
    page = chosen.page

    async def rows_from(page: int) -> list[tuple[Customer, CustomerStats | None]]:
        newest = query.order_by(Customer.id.desc()).limit(PAGE + 1).offset((page - 1) * PAGE)
        return [(person, stats) for person, stats in await session.execute(newest)]

    found = await rows_from(page)
    counted = await count_capped(session, query)
    if counted is not None and page > counted.pages:  # past the end: the last page
        page = counted.pages
        found = await rows_from(page)
    if counted is None:
        # as many as the pages so far hold, and one more page when this one is full
        seen = (page - 1) * PAGE + min(len(found), PAGE) + (1 if len(found) > PAGE else 0)
        counted = Count(min(seen, COUNT_CAP), False, counted=False)
    rows = await rows_of(session, staff, found[:PAGE])
    return ListPage(rows, page, counted)


def page_numbers(page: int, pages: int, around: int = 3) -> list[int]:
    """The page links to show: the first, the last, and a few either side of ``page``."""
    shown = {1, pages, *range(max(1, page - around), min(pages, page + around) + 1)}
    return sorted(shown)


__all__ = [
    "COUNT_CAP",
    "MAX_PAGE",
    "PAGE",
    "Count",
    "CustomerFilter",
    "ListPage",
    "Row",
    "choices",
    "count_capped",
    "level_names",
    "list_page",
    "page_numbers",
    "parse_filter",
    "rows_of",
    "shown_phone",
]
