"""The daily work log (P8, 工作日志): what problems an agent met and how they solved them.

One entry per agent and day; writing again that day replaces the text. An agent
may write for today or catch up on the past week, never ahead. Agents read their
own entries; supervisors and managers read everyone's and search them, so a
problem one agent solved last week helps another today.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.texts import say
from xiaoer.performance.models import WorkLog
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import LEADERS, StaffAccount

MAX_TEXT = 4000  # characters per field: a day's notes, not a report
PAST_DAYS = 7  # how far back an agent may still write a missed day
SEARCH_LIMIT = 200


class WorkLogError(ValueError):
    """A log entry that cannot be written or read; the message says why."""


class WorkLogForbidden(WorkLogError, NotPermitted):
    """The account may not write or read this log."""


def check_log(day: date, today: date, problems: str, solutions: str) -> tuple[str, str]:
    """The two texts, trimmed; raises :class:`WorkLogError` when the entry is not allowed."""
    if day > today:
        raise WorkLogError(say("a work log is written for a day that has happened"))
    if day < today - timedelta(days=PAST_DAYS):
        raise WorkLogError(
            say("a work log may be written for today or the last {days} days", days=PAST_DAYS)
        )
    problems, solutions = problems.strip(), solutions.strip()
    if not problems:
        raise WorkLogError(say("write the problems you met today (or write that there were none)"))
    if not solutions:
        raise WorkLogError(say("write how the problems were solved, or what is still open"))
    for label, text in ((say("problems"), problems), (say("solutions"), solutions)):
        if len(text) > MAX_TEXT:
            raise WorkLogError(
                say(
                    "{field}: at most {limit} characters (given {given})",
                    field=label,
                    limit=MAX_TEXT,
                    given=len(text),
                )
            )
    return problems, solutions


async def do_write_log(
    session: AsyncSession,
    staff: StaffAccount,
    day: date,
    problems: str,
    solutions: str,
    *,
    today: date | None = None,
) -> WorkLog:
    """Write the agent's entry for ``day``, or replace it when one exists."""
    if not staff.has_role("agent"):
        raise WorkLogForbidden(say("the work log is kept by agents"))
    current = today or await shop_today(session, staff.shop_id)
    problems, solutions = check_log(day, current, problems, solutions)
    entry = await _entry(session, staff, day)
    if entry is None:
        try:
            async with session.begin_nested():  # another tab may insert the same day now
                entry = WorkLog(
                    shop_id=staff.shop_id,
                    staff_id=staff.id,
                    day=day,
                    problems=problems,
                    solutions=solutions,
                )
                session.add(entry)
            return entry
        except IntegrityError:
            entry = await _entry(session, staff, day)
            if entry is None:
                raise
    entry.problems, entry.solutions = problems, solutions
    entry.updated_at = utcnow()
    await session.flush()
    return entry


async def _entry(session: AsyncSession, staff: StaffAccount, day: date) -> WorkLog | None:
    return await session.scalar(
        select(WorkLog).where(
            WorkLog.shop_id == staff.shop_id, WorkLog.staff_id == staff.id, WorkLog.day == day
        )
    )


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere, with ``/`` as the escape
    character (a backslash would need quoting differently per database)."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


async def search_logs(
    session: AsyncSession,
    shop_id: int,
    *,
    text: str | None = None,
    staff_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[WorkLog]:
    """A shop's entries, newest first: those whose problems or solutions contain ``text``
    (any letter case), of one agent, between ``start`` and ``end`` (both included)."""
    if start is not None and end is not None and start > end:
        raise WorkLogError(say("the date range ends before it starts"))
    query = select(WorkLog).where(WorkLog.shop_id == shop_id)
    needle = (text or "").strip()
    if needle:
        pattern = _like_pattern(needle)
        # ILIKE on PostgreSQL; lower(…) LIKE lower(…) on SQLite.
        query = query.where(
            or_(
                WorkLog.problems.ilike(pattern, escape="/"),
                WorkLog.solutions.ilike(pattern, escape="/"),
            )
        )
    if staff_id is not None:
        query = query.where(WorkLog.staff_id == staff_id)
    if start is not None:
        query = query.where(WorkLog.day >= start)
    if end is not None:
        query = query.where(WorkLog.day <= end)
    query = query.order_by(WorkLog.day.desc(), WorkLog.id.desc()).limit(max(1, limit))
    return list(await session.scalars(query))


async def logs_for(
    session: AsyncSession,
    viewer: StaffAccount,
    *,
    text: str | None = None,
    staff_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[WorkLog]:
    """:func:`search_logs` as ``viewer`` may see it: an agent only their own entries."""
    if not viewer.has_role(*LEADERS):
        if staff_id is not None and staff_id != viewer.id:
            raise WorkLogForbidden(say("an agent reads only their own work log"))
        staff_id = viewer.id
    return await search_logs(
        session, viewer.shop_id, text=text, staff_id=staff_id, start=start, end=end, limit=limit
    )
