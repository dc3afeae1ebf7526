"""Managing a shop's knowledge base: entries by hand or by Excel, and the export (A1, A2).

A shop answers from the shipped defaults until its manager first changes
something; then the defaults are copied into the shop's own entries and the
change applies to that copy, so nothing a shop has is ever edited behind its
back. An import reports each bad row with its line and reason and keeps the rest;
importing the same file again changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.assistant.classifier import BARGAIN, BARGAIN_TYPES, INTENTS
from xiaoer.assistant.knowledge import default_entries
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.core.clock import utcnow
from xiaoer.core.db import lock_shop
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.sheets import YIELD_EVERY, ImportReport, sheet_rows, write_sheet
from xiaoer.core.templates import template_problem
from xiaoer.core.texts import message_of, say
from xiaoer.staff.models import StaffAccount

VARIABLES = (
    "shop",
    "agent",
    "buyer",
    "activity",
    "courier",
    "cutoff",
    "ship_day",
    "courier_change",
    "product",
    "price",
    "stock",
    "similar",
    "related",
    "size",
    "height",
    "weight",
)
SHEET_HEADERS = ("意图", "议价类型", "标题", "示例问题", "回答")
_QUESTION_BREAK = re.compile(r"[\n|｜]+")


class KnowledgeError(ValueError):
    """An entry that cannot be stored; the message says why, ``field`` which field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class KnowledgeForbidden(KnowledgeError, NotPermitted):
    """Only the manager keeps the knowledge base."""


class KnowledgeNotFound(NotFound):
    """No such entry in the shop: answered 404, not shown as a form error."""


@dataclass(frozen=True)
class EntryInput:
    intent: str
    title: str
    answer: str
    questions: tuple[str, ...] = ()
    bargain_type: str | None = None


def questions_from(text: str) -> tuple[str, ...]:
    """Example questions written one per line, or separated by ``|``."""
    return tuple(q.strip() for q in _QUESTION_BREAK.split(text) if q.strip())


def check_entry(item: EntryInput) -> None:
    if item.intent not in INTENTS:
        raise KnowledgeError(
            say(
                "intent {intent!r}: expected one of {choices}",
                intent=item.intent,
                choices=", ".join(INTENTS),
            ),
            "intent",
        )
    if item.intent == BARGAIN and item.bargain_type not in BARGAIN_TYPES:
        raise KnowledgeError(
            say(
                "a bargain answer needs its type: one of {choices}",
                choices=", ".join(BARGAIN_TYPES),
            ),
            "bargain_type",
        )
    if item.intent != BARGAIN and item.bargain_type:
        raise KnowledgeError(say("only a bargain answer has a bargain type"), "bargain_type")
    if not 0 < len(item.title) <= 64:
        raise KnowledgeError(say("the title must be 1–64 characters"), "title")
    if not item.answer.strip():
        raise KnowledgeError(say("the answer is empty"), "answer")
    if len(item.answer) > 2000:
        raise KnowledgeError(
            say("the answer is longer than {limit} characters", limit=2000), "answer"
        )
    problem = template_problem(item.answer, VARIABLES)
    if problem:
        raise KnowledgeError(problem, "answer")


async def stored_entries(session: AsyncSession, shop_id: int) -> list[KnowledgeEntry]:
    rows = await session.scalars(
        select(KnowledgeEntry)
        .where(KnowledgeEntry.shop_id == shop_id)
        .order_by(KnowledgeEntry.position, KnowledgeEntry.id)
    )
    return list(rows)


async def _adopt_defaults(session: AsyncSession, shop_id: int) -> None:
    """Copy the defaults into the shop's entries the first time it changes anything.

    The shop is locked first, so two first edits at once copy them once.
    """
    await lock_shop(session, shop_id)
    count = await session.scalar(select(func.count()).where(KnowledgeEntry.shop_id == shop_id))
    if count:
        return
    for position, entry in enumerate(default_entries()):
        session.add(
            KnowledgeEntry(
                shop_id=shop_id,
                intent=entry.intent,
                bargain_type=entry.bargain_type,
                title=entry.title,
                questions=list(entry.questions),
                answer=entry.answer,
                position=position,
            )
        )
    await session.flush()


async def _same_title(
    session: AsyncSession, shop_id: int, item: EntryInput
) -> KnowledgeEntry | None:
    return await session.scalar(
        select(KnowledgeEntry).where(
            KnowledgeEntry.shop_id == shop_id,
            KnowledgeEntry.intent == item.intent,
            KnowledgeEntry.title == item.title,
        )
    )


async def do_save_entry(
    session: AsyncSession, *, shop_id: int, item: EntryInput, entry_id: int | None = None
) -> KnowledgeEntry:
    """Add an entry, or change one (by id, else the one of the same intent and title)."""
    check_entry(item)
    await _adopt_defaults(session, shop_id)
    entry = None
    if entry_id is not None:
        entry = await session.get(KnowledgeEntry, entry_id)
        if entry is None or entry.shop_id != shop_id:
            raise KnowledgeError(say("no entry {entry_id}", entry_id=entry_id))
    else:
        entry = await _same_title(session, shop_id, item)
    if entry is None:
        last = await session.scalar(
            select(func.max(KnowledgeEntry.position)).where(KnowledgeEntry.shop_id == shop_id)
        )
        entry = KnowledgeEntry(shop_id=shop_id, position=(last or 0) + 1)
        session.add(entry)
    entry.intent = item.intent
    entry.bargain_type = item.bargain_type or None
    entry.title = item.title
    entry.questions = list(item.questions)
    entry.answer = item.answer
    entry.active = True
    entry.updated_at = utcnow()
    await session.flush()
    return entry


def check_may_keep(staff: StaffAccount) -> None:
    """The manager keeps the knowledge base; everyone at the workbench reads it."""
    if not staff.has_role("manager"):
        raise KnowledgeForbidden(say("only the manager changes the knowledge base"))


async def entry_to_edit(
    session: AsyncSession, staff: StaffAccount, intent: str, title: str
) -> EntryInput:
    """The entry of this intent and title as it stands (the shop's, else the default)."""
    check_may_keep(staff)
    stored = await stored_entries(session, staff.shop_id)
    found = (
        [EntryInput(e.intent, e.title, e.answer, tuple(e.questions), e.bargain_type)
         for e in stored if e.active]
        if stored
        else [EntryInput(e.intent, e.title, e.answer, e.questions, e.bargain_type)
              for e in default_entries()]
    )  # fmt: skip
    for entry in found:
        if (entry.intent, entry.title) == (intent, title):
            return entry
    raise KnowledgeNotFound(say("no such answer in this shop"))


async def do_edit_entry(
    session: AsyncSession, *, staff: StaffAccount, intent: str, title: str, item: EntryInput
) -> KnowledgeEntry:
    """Change the entry of this intent and title in place: its intent, title, questions
    and answer (a default one is adopted first)."""
    check_may_keep(staff)
    check_entry(item)
    await _adopt_defaults(session, staff.shop_id)
    entry = await session.scalar(
        select(KnowledgeEntry).where(
            KnowledgeEntry.shop_id == staff.shop_id,
            KnowledgeEntry.intent == intent,
            KnowledgeEntry.title == title,
        )
    )
    if entry is None:
        raise KnowledgeNotFound(say("no such answer in this shop"))
    other = await _same_title(session, staff.shop_id, item)
    if other is not None and other.id != entry.id:
        raise KnowledgeError(
            say("another answer of this question type is titled {title}", title=item.title),
            "title",
        )
    return await do_save_entry(session, shop_id=staff.shop_id, item=item, entry_id=entry.id)


async def do_delete_entry(session: AsyncSession, *, shop_id: int, intent: str, title: str) -> None:
    """Remove the entry of this intent and title (a default one is adopted first)."""
    await _adopt_defaults(session, shop_id)
    entry = await session.scalar(
        select(KnowledgeEntry).where(
            KnowledgeEntry.shop_id == shop_id,
            KnowledgeEntry.intent == intent,
            KnowledgeEntry.title == title,
        )
    )
    if entry is None:
        raise KnowledgeNotFound(say("no entry {intent} / {title}", intent=intent, title=title))
    await session.delete(entry)
    await session.flush()


async def do_import_entries(session: AsyncSession, *, shop_id: int, data: bytes) -> ImportReport:
    report = ImportReport()
    seen: set[tuple[str, str]] = set()
    rows = await sheet_rows(data, ("意图", "标题", "回答"), ("议价类型", "示例问题"))
    await _adopt_defaults(session, shop_id)
    for line, row in rows:
        report.read += 1
        if not report.read % YIELD_EVERY:
            await asyncio.sleep(0)  # others' requests go on between slices of a large file
        item = EntryInput(
            intent=row["意图"],
            title=row["标题"],
            answer=row["回答"],
            questions=questions_from(row.get("示例问题", "")),
            bargain_type=row.get("议价类型") or None,
        )
        try:
            check_entry(item)
        except KnowledgeError as exc:
            report.rejected.append((line, message_of(exc)))
            continue
        key = (item.intent, item.title)
        if key in seen:
            repeated = say(
                "{intent} / {title} repeats an earlier row", intent=item.intent, title=item.title
            )
            report.rejected.append((line, repeated))
            continue
        seen.add(key)
        existing = await _same_title(session, shop_id, item)
        if existing is None:
            report.created += 1
        elif (
            existing.answer,
            tuple(existing.questions),
            existing.bargain_type,
            existing.active,
        ) == (item.answer, item.questions, item.bargain_type, True):
            report.unchanged += 1
            continue
        else:
            report.updated += 1
        await do_save_entry(session, shop_id=shop_id, item=item)
    return report


async def export_entries(session: AsyncSession, shop_id: int) -> bytes:
    """The shop's entries (or the defaults it still uses) as a workbook to edit and import."""
    stored = await stored_entries(session, shop_id)
    if stored:
        rows = [
            (e.intent, e.bargain_type or "", e.title, "\n".join(e.questions), e.answer)
            for e in stored
            if e.active
        ]
    else:
        rows = [
            (e.intent, e.bargain_type or "", e.title, "\n".join(e.questions), e.answer)
            for e in default_entries()
        ]
    return write_sheet("知识库", SHEET_HEADERS, rows)
