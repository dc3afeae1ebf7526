"""Customers to Excel (R1): a group or a filter, first column "序号" numbered 1…n, then
the fields the reader picks.

Only supervisors and the manager export the customer base; the phone is full only
for the roles that see personal data (``people.PERSONAL``), masked otherwise. The
workbook is written a thousand persons at a time in constant memory
(:class:`xiaoer.core.sheets.SheetStream`), and the set is counted exactly first: one
larger than :data:`EXPORT_LIMIT` is refused with its size, to be narrowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import local, utcnow
from xiaoer.core.sheets import SheetStream
from xiaoer.core.texts import say
from xiaoer.customers.filters import Condition, people
from xiaoer.customers.listing import Row, rows_of
from xiaoer.customers.people import check_manager
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import StaffAccount

EXPORT_LIMIT = 200_000  # persons in one workbook; a larger set is narrowed first
CHUNK = 1000
FIELDS = (
    "nick", "name", "phone", "city", "gender", "birthday", "level", "price_level", "orders",
    "spent", "first_purchase", "last_purchase", "categories", "tags", "refunds", "reviews",
)  # fmt: skip
DEFAULT_FIELDS = ("nick", "name", "phone", "city", "level", "orders", "spent", "last_purchase")
WIDTHS = {"nick": 24, "phone": 14, "birthday": 12, "categories": 24, "tags": 24}


class ExportError(ValueError):
    """An export that cannot be made as asked; the message says why."""


def parse_fields(values: Iterable[str]) -> list[str]:
    """The fields asked for, in the workbook's order; none asked: the default ones."""
    asked = [v.strip() for v in values if v.strip()]
    unknown = [v for v in asked if v not in FIELDS]
    if unknown:
        raise ExportError(say("no field {field!r} to export", field=unknown[0][:32]))
    return [f for f in FIELDS if f in asked] if asked else list(DEFAULT_FIELDS)


Word = Callable[[str, str], str]  # (group, key) → the reader's word


def _birthday(person: Customer, word: Word) -> str:
    if not person.birth_month or not person.birth_day:
        return ""
    year = f"{person.birth_year}-" if person.birth_year else ""
    shown = f"{year}{person.birth_month:02d}-{person.birth_day:02d}"
    if person.birth_lunar:
        leap = word("birthday", "leap") if person.birth_leap else ""
        return f"{word('birthday', 'lunar')}{leap} {shown}"
    return shown


def _day(at: datetime | None, zone: str) -> date | None:
    return local(at, zone).date() if at is not None else None


def _cell(row: Row, name: str, word: Word, zone: str) -> Any:
    person, stats = row.person, row.stats
    if name == "nick":
        return " / ".join(nick for _channel, nick in row.nicks) or person.nick
    if name == "name":
        return person.name
    if name == "phone":
        return row.phone
    if name == "city":
        return person.city
    if name == "gender":
        return word("gender", person.gender) if person.gender else ""
    if name == "birthday":
        return _birthday(person, word)
    if stats is None:
        return 0 if name in ("orders", "refunds", "reviews") else ""
    if name == "level":
        return stats.level
    if name == "price_level":
        return word("price_level", stats.price_level) if stats.price_level else ""
    if name == "orders":
        return stats.orders
    if name == "spent":
        return Decimal(stats.spent_fen) / 100
    if name == "first_purchase":
        return _day(stats.first_paid_at, zone)
    if name == "last_purchase":
        return _day(stats.last_paid_at, zone)
    if name == "categories":
        return "、".join(stats.categories or [])
    if name == "tags":
        return "、".join(person.tags or [])
    if name == "refunds":
        return stats.refunds
    return stats.reviews  # reviews


async def export_workbook(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    conditions: Sequence[Condition],
    search: str,
    fields: Sequence[str],
    title: str,
    headers: Sequence[str],
    word: Word,
    now: datetime | None = None,
) -> bytes:
    """The persons the conditions and search pick, newest first, as a workbook: "序号"
    (``headers[0]``) then ``fields`` (named by the rest of ``headers``)."""
    check_manager(staff)
    now = now or utcnow()
    query = people(staff.shop_id, conditions, now, search)
    count = await session.scalar(
        select(func.count()).select_from(query.with_only_columns(Customer.id).subquery())
    )
    if (count or 0) > EXPORT_LIMIT:
        raise ExportError(
            say("{count} customers are more than one export holds ({limit}); narrow the filter",
                count=count, limit=EXPORT_LIMIT)
        )  # fmt: skip
    zone = (await shop_zone(session, staff.shop_id)).key
    sheet = SheetStream(title, headers, [8, *(WIDTHS.get(f, 10) for f in fields)])
    after: int | None = None
    while True:
        chunk = query.order_by(Customer.id.desc()).limit(CHUNK)
        if after is not None:
            chunk = chunk.where(Customer.id < after)
        found = [(c, s) for c, s in await session.execute(chunk)]
        if not found:
            break
        for row in await rows_of(session, staff, found):
            sheet.append([sheet.rows + 1, *(_cell(row, f, word, zone) for f in fields)])
        after = found[-1][0].id
        for person, stats in found:  # constant memory: rows written are not needed again
            session.expunge(person)
            if stats is not None:
                session.expunge(stats)
        if len(found) < CHUNK:
            break
    return sheet.finish()


__all__ = [
    "DEFAULT_FIELDS",
    "EXPORT_LIMIT",
    "FIELDS",
    "ExportError",
    "export_workbook",
    "parse_fields",
]
