"""Edits to a customer's file: the fields any reader keeps (name, gender, city, tags,
notes) and those only the leaders do (phone, e-mail, the birthday), each checked and
audited; greetings turned off at once on the buyer's word, and on again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.texts import say
from xiaoer.customers.birthdays import Birthday, lunar_date_exists
from xiaoer.customers.file import CustomerFileError, actor_of
from xiaoer.customers.people import person_of, sees_personal
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount

GENDERS = ("", "female", "male")
PERSONAL_FIELDS = ("phone", "email", "birthday")
MAX_TAGS = 20
MAX_TAG = 16
MAX_NOTES = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")


def _text(fields: Mapping[str, Any], key: str, limit: int, label: str) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise CustomerFileError(say("{field} must be text", field=label))
    value = value.strip()
    if len(value) > limit:
        raise CustomerFileError(
            say("{field} is at most {limit} characters long", field=label, limit=limit)
        )
    return value


def _number(value: Any, label: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise CustomerFileError(say("{field} must be a whole number", field=label))
    text = str(value).strip()
    if not text.isdigit() or len(text) > 4:
        raise CustomerFileError(say("{field} must be a whole number", field=label))
    return int(text)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "yes", "on", "true", "是")


def parse_tags(value: Any) -> list[str]:
    """Tags as a list, or as text split at commas, 、 or spaces; repeats dropped."""
    if isinstance(value, list):
        words = [w for w in value if isinstance(w, str)]
        if len(words) != len(value):
            raise CustomerFileError(say("tags: expected words"))
    elif isinstance(value, str):
        words = _TAG_SPLIT.split(value)
    else:
        raise CustomerFileError(say("tags: expected words"))
    tags: list[str] = []
    for word in (w.strip() for w in words):
        if not word or word in tags:
            continue
        if len(word) > MAX_TAG:
            raise CustomerFileError(
                say("tag {tag!r} is longer than {limit} characters", tag=word, limit=MAX_TAG)
            )
        tags.append(word)
    if len(tags) > MAX_TAGS:
        raise CustomerFileError(say("at most {limit} tags", limit=MAX_TAGS))
    return tags


def parse_birthday(fields: Mapping[str, Any], today: date) -> Birthday | None:
    """``birth_year`` (optional), ``birth_month``, ``birth_day``, ``birth_lunar``,
    ``birth_leap``; an empty month and day clear the birthday."""
    year = _number(fields.get("birth_year"), say("year of birth"))
    month = _number(fields.get("birth_month"), say("month of birth"))
    day = _number(fields.get("birth_day"), say("day of birth"))
    lunar = _flag(fields.get("birth_lunar"))
    leap = _flag(fields.get("birth_leap"))
    if month is None and day is None:
        if year is not None:
            raise CustomerFileError(say("a birthday needs its month and day"))
        return None
    if month is None or day is None:
        raise CustomerFileError(say("a birthday needs its month and day"))
    if not 1 <= month <= 12:
        raise CustomerFileError(say("birth month must be 1 to 12"))
    if leap and not lunar:
        raise CustomerFileError(say("only a lunar birthday can be in a leap month"))
    if year is not None and not 1900 <= year <= today.year:
        raise CustomerFileError(say("birth year must be 1900 to {year}", year=today.year))
    if lunar:
        if not 1 <= day <= 30:
            raise CustomerFileError(say("a lunar month has at most 30 days"))
        if year is not None and not lunar_date_exists(year, month, day, leap):
            raise CustomerFileError(say("no such lunar date in {year}", year=year))
        return Birthday(month, day, year, True, leap)
    try:
        date(year if year is not None else 2000, month, day)  # 2000: Feb 29 exists
    except ValueError as exc:
        raise CustomerFileError(
            say("{month}/{day} is not a day of the calendar", month=month, day=day)
        ) from exc
    return Birthday(month, day, year, False, False)


def _check_not_erased(person: Customer) -> None:
    if person.erased_at is not None:
        raise CustomerFileError(say("this customer's data was erased on request"))


async def do_edit_customer(
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    fields: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> Customer:
    """Change the fields given (absent ones stay): ``name``, ``gender``, ``city``,
    ``tags``, ``notes`` by any reader; ``phone``, ``email`` and the birthday only by
    those who see personal data. Audited: which fields, and the values of those that
    are not personal."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    _check_not_erased(person)
    wants_personal = [
        key for key in PERSONAL_FIELDS if key in fields or (key == "birthday" and any(
            k.startswith("birth_") for k in fields))
    ]  # fmt: skip
    if wants_personal and not sees_personal(staff):
        raise NotPermitted(
            say("only a supervisor or the manager changes phone, e-mail and birthday")
        )
    changes: dict[str, Any] = {}
    if "name" in fields:
        changes["name"] = _text(fields, "name", 64, say("customer name"))
    if "city" in fields:
        changes["city"] = _text(fields, "city", 32, say("customer city"))
    if "gender" in fields:
        gender = _text(fields, "gender", 8, say("customer gender"))
        if gender not in GENDERS:
            raise CustomerFileError(say("gender must be female, male or left empty"))
        changes["gender"] = gender
    if "notes" in fields:
        changes["notes"] = _text(fields, "notes", MAX_NOTES, say("customer notes"))
    if "tags" in fields:
        changes["tags"] = parse_tags(fields["tags"])
    if "phone" in fields:
        phone = _text(fields, "phone", 32, say("customer phone"))
        if phone and not _PHONE.match(phone):
            raise CustomerFileError(say("phone: digits only, with + - or spaces"))
        changes["phone"] = phone
    if "email" in fields:
        email = _text(fields, "email", 254, say("customer e-mail"))
        if email and not _EMAIL.match(email):
            raise CustomerFileError(say("e-mail: expected an address like name@example.com"))
        changes["email"] = email.lower()
    if "birthday" in wants_personal:
        today = await shop_today(session, person.shop_id, now)
        birthday = parse_birthday(fields, today)
        changes.update(
            birth_year=birthday.year if birthday else None,
            birth_month=birthday.month if birthday else None,
            birth_day=birthday.day if birthday else None,
            birth_lunar=birthday.lunar if birthday else False,
            birth_leap=birthday.leap if birthday else False,
        )
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(person, key)
        if old == value:
            continue
        personal = key in ("phone", "email") or key.startswith("birth_")
        before[key] = "…" if personal else old
        after[key] = "…" if personal else value
        setattr(person, key, value)
    if after:
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="edit", before=before, after=after, at=now,
        )  # fmt: skip
        await session.flush()
    return person


async def do_greetings_off(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, now: datetime | None = None
) -> Customer:
    """The buyer wants no greetings: from this moment none is sent (the sender looks
    at ``greetings_off_at`` just before sending)."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    if person.greetings_off_at is None:
        person.greetings_off_at = now
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="greetings_off", at=now,
        )  # fmt: skip
        await session.flush()
    return person


async def do_greetings_on(
    session: AsyncSession, staff: StaffAccount, customer_id: int, *, now: datetime | None = None
) -> Customer:
    """The buyer accepts greetings again."""
    now = now or utcnow()
    person = await person_of(session, staff, customer_id)
    _check_not_erased(person)
    if person.greetings_off_at is not None:
        person.greetings_off_at = None
        await record_audit(
            session, shop_id=person.shop_id, actor=actor_of(staff), entity="customer",
            entity_id=str(person.id), action="greetings_on", at=now,
        )  # fmt: skip
        await session.flush()
    return person
