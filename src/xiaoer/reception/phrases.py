"""Quick phrases (快捷短语) and the variables every reply template may use (C5)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.sheets import YIELD_EVERY, ImportReport, sheet_rows, write_sheet
from xiaoer.core.templates import template_problem
from xiaoer.core.texts import message_of, say
from xiaoer.reception.models import QuickPhrase
from xiaoer.staff.models import StaffAccount, is_leader

VARIABLES = ("shop", "agent", "buyer", "activity", "product", "courier", "cutoff", "position")
_SHORTCUT = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,32}$")


class PhraseError(ValueError):
    pass


def check_template(text: str) -> None:
    """A template may use only the known ``{variables}``; braces must pair."""
    if not text.strip():
        raise PhraseError(say("the text is empty"))
    problem = template_problem(text, VARIABLES)
    if problem:
        raise PhraseError(problem)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(text: str, values: Mapping[str, str]) -> str:
    """The template with its variables filled; a variable without a value is left empty."""
    return text.format_map(_Blank(values))


@dataclass(frozen=True)
class PhraseInput:
    shortcut: str
    text: str
    group: str = ""
    peak: bool = False  # prepared for peak mode


def check_phrase(item: PhraseInput) -> None:
    if not _SHORTCUT.match(item.shortcut):
        raise PhraseError(
            say(
                "shortcut {shortcut!r}: use 1–32 letters, digits, Chinese characters, '-' or '_'",
                shortcut=item.shortcut,
            )
        )
    if len(item.group) > 32:
        raise PhraseError(
            say("group {group!r} is longer than {limit} characters", group=item.group, limit=32)
        )
    check_template(item.text)


def may_edit_shop_phrases(staff: StaffAccount) -> bool:
    return is_leader(staff)


def scope_owner(staff: StaffAccount, scope: str) -> int | None:
    """Whose phrases an edit touches: the shop's (``None``) for a leader who asks for
    them, else the staff member's own."""
    if scope == "shop" and may_edit_shop_phrases(staff):
        return None
    return staff.id


async def phrases_for(
    session: AsyncSession, shop_id: int, staff_id: int, *, peak: bool | None = None
) -> list[QuickPhrase]:
    """The shop's phrases and the agent's own; an own phrase hides a shop one of its
    shortcut. ``peak``: in peak mode (True) the peak phrases come first and hide the
    others of their shortcut; outside it (False) they are left out; None gives all."""
    rows = list(
        await session.scalars(
            select(QuickPhrase)
            .where(
                QuickPhrase.shop_id == shop_id,
                or_(QuickPhrase.owner_id.is_(None), QuickPhrase.owner_id == staff_id),
            )
            .order_by(QuickPhrase.group, QuickPhrase.position, QuickPhrase.id)
        )
    )
    if peak is False:
        rows = [p for p in rows if not p.peak]
    elif peak:
        prepared = {p.shortcut for p in rows if p.peak}
        rows = [p for p in rows if p.peak] + [p for p in rows if p.shortcut not in prepared]
    own = {(p.shortcut, p.peak) for p in rows if p.owner_id is not None}
    return [p for p in rows if p.owner_id is not None or (p.shortcut, p.peak) not in own]


def _owner_is(owner_id: int | None) -> Any:
    return QuickPhrase.owner_id.is_(None) if owner_id is None else QuickPhrase.owner_id == owner_id


async def _phrase(
    session: AsyncSession, shop_id: int, owner_id: int | None, shortcut: str, peak: bool = False
) -> QuickPhrase | None:
    return await session.scalar(
        select(QuickPhrase).where(
            QuickPhrase.shop_id == shop_id,
            QuickPhrase.shortcut == shortcut,
            _owner_is(owner_id),
            QuickPhrase.peak.is_(peak),
        )
    )


async def do_delete_phrase(
    session: AsyncSession, *, shop_id: int, owner_id: int | None, phrase_id: int
) -> None:
    phrase = await session.get(QuickPhrase, phrase_id)
    if phrase is None or phrase.shop_id != shop_id or phrase.owner_id != owner_id:
        raise PhraseError(say("no phrase {phrase_id}", phrase_id=phrase_id))
    await session.delete(phrase)


async def do_save_phrase(
    session: AsyncSession, *, shop_id: int, owner_id: int | None, item: PhraseInput
) -> QuickPhrase:
    """Add a phrase, or change the one with the same shortcut and owner."""
    check_phrase(item)
    existing = await _phrase(session, shop_id, owner_id, item.shortcut, item.peak)
    if existing is not None:
        existing.text, existing.group = item.text, item.group
        return existing
    phrase = QuickPhrase(
        shop_id=shop_id,
        owner_id=owner_id,
        shortcut=item.shortcut,
        text=item.text,
        group=item.group,
        peak=item.peak,
    )
    session.add(phrase)
    await session.flush()
    return phrase


# Excel import and export ----------------------------------------------------

SHEET_HEADERS = ("分组", "快捷编码", "内容")


async def do_import_phrases(
    session: AsyncSession, *, shop_id: int, owner_id: int | None, data: bytes
) -> ImportReport:
    """Import phrases from a workbook: each bad row is reported with its line and
    reason and the rest kept; importing the same file again changes nothing."""
    report = ImportReport()
    seen: set[str] = set()
    for line, row in await sheet_rows(data, SHEET_HEADERS[1:], SHEET_HEADERS[:1]):
        report.read += 1
        if not report.read % YIELD_EVERY:
            await asyncio.sleep(0)  # others' requests go on between slices of a large file
        item = PhraseInput(shortcut=row["快捷编码"], text=row["内容"], group=row.get("分组", ""))
        try:
            check_phrase(item)
        except PhraseError as exc:
            report.rejected.append((line, message_of(exc)))
            continue
        if item.shortcut in seen:
            report.rejected.append(
                (line, say("shortcut {shortcut!r} repeats an earlier row", shortcut=item.shortcut))
            )
            continue
        seen.add(item.shortcut)
        existing = await _phrase(session, shop_id, owner_id, item.shortcut)
        if existing is None:
            report.created += 1
        elif (existing.text, existing.group) == (item.text, item.group):
            report.unchanged += 1
            continue
        else:
            report.updated += 1
        await do_save_phrase(session, shop_id=shop_id, owner_id=owner_id, item=item)
    return report


async def export_phrases(session: AsyncSession, *, shop_id: int, owner_id: int | None) -> bytes:
    rows = await session.scalars(
        select(QuickPhrase)
        .where(QuickPhrase.shop_id == shop_id, _owner_is(owner_id))
        .order_by(QuickPhrase.group, QuickPhrase.position, QuickPhrase.id)
    )
    return write_sheet("快捷短语", SHEET_HEADERS, [(p.group, p.shortcut, p.text) for p in rows])
