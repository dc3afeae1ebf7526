"""Staff accounts: add, find, sign in, password, disable, language."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.auth import (
    SignInLocked,
    Throttle,
    burn_verification,
    check_password_strength,
    hash_password,
    verify_password,
)
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.texts import Text, say
from xiaoer.staff.models import Level, Role, StaffAccount, Team
from xiaoer.staff.sessions import end_all_sessions, signed_in_from

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
LANGUAGES = ("zh", "en")


class StaffError(ValueError):
    pass


def _unknown_language(language: str) -> Text:
    return say(
        "language {language!r}: expected one of {languages}",
        language=language,
        languages=", ".join(LANGUAGES),
    )


def check_new_staff(
    username: str, number: str, name: str, level: str, team: str, roles: Iterable[str]
) -> list[str]:
    """Validate an account's fields; returns the roles in a stable order."""
    if not _USERNAME.match(username):
        raise StaffError(
            say(
                "username {username!r}: use 2–64 letters, digits, '.', '_' or '-'",
                username=username,
            )
        )
    if not number.strip():
        raise StaffError(say("staff number (工号) is empty"))
    if not name.strip():
        raise StaffError(say("name is empty"))
    if level not in {lv.value for lv in Level}:
        raise StaffError(
            say(
                "level {level!r}: expected one of {levels}",
                level=level,
                levels=", ".join(lv.value for lv in Level),
            )
        )
    if team not in {t.value for t in Team}:
        raise StaffError(
            say(
                "team {team!r}: expected one of {teams}",
                team=team,
                teams=", ".join(t.value for t in Team),
            )
        )
    given = list(dict.fromkeys(roles))
    known = [r.value for r in Role]
    unknown = [r for r in given if r not in known]
    if unknown or not given:
        raise StaffError(
            say(
                "roles {roles!r}: expected one or more of {known}",
                roles=given,
                known=", ".join(known),
            )
        )
    return [r for r in known if r in given]


async def do_add_staff(
    session: AsyncSession,
    *,
    shop_id: int,
    username: str,
    number: str,
    name: str,
    password: str,
    level: str = Level.junior.value,
    team: str = Team.presale.value,
    roles: Iterable[str] = (Role.agent.value,),
    language: str = "zh",
    actor: str = "system",
    hired_on: datetime | None = None,
) -> StaffAccount:
    ordered = check_new_staff(username, number, name, level, team, roles)
    check_password_strength(password)
    if language not in LANGUAGES:
        raise StaffError(_unknown_language(language))
    if await staff_by_username(session, username) is not None:
        raise StaffError(say("username {username!r} is taken", username=username))
    taken = await session.scalar(
        select(StaffAccount.id).where(
            StaffAccount.shop_id == shop_id, StaffAccount.number == number
        )
    )
    if taken is not None:
        raise StaffError(say("staff number {number!r} is taken in this shop", number=number))
    account = StaffAccount(
        shop_id=shop_id,
        username=username,
        number=number,
        name=name,
        level=level,
        team=team,
        roles=ordered,
        password_hash=hash_password(password),
        language=language,
        hired_on=hired_on,
    )
    session.add(account)
    await session.flush()
    await record_audit(
        session,
        shop_id=shop_id,
        actor=actor,
        entity="staff",
        entity_id=str(account.id),
        action="add",
        after={
            "username": username,
            "number": number,
            "level": level,
            "team": team,
            "roles": ordered,
        },
    )
    await record_event(
        session, shop_id, "staff.added", {"staff_id": account.id, "username": username}
    )
    return account


async def staff_by_username(session: AsyncSession, username: str) -> StaffAccount | None:
    return await session.scalar(select(StaffAccount).where(StaffAccount.username == username))


async def list_staff(session: AsyncSession, shop_id: int) -> list[StaffAccount]:
    return list(
        await session.scalars(
            select(StaffAccount)
            .where(StaffAccount.shop_id == shop_id)
            .order_by(StaffAccount.number)
        )
    )


async def do_sign_in(
    session: AsyncSession,
    throttle: Throttle,
    *,
    username: str,
    password: str,
    address: str,
    now: datetime | None = None,
) -> StaffAccount | None:
    """The account for these credentials, or ``None``; raises :class:`SignInLocked`.

    The attempt is counted by the throttle (see :class:`Throttle` for the rule) and
    committed before the password is checked: a concurrent attempt sees the count at
    once, and the slow check (in a worker thread) holds no lock. The caller commits
    the rest: a success takes the count back.
    """
    moment = now or utcnow()
    try:
        attempt = await throttle.admit(
            session,
            username,
            address,
            lambda: signed_in_from(session, username, address, moment),
            moment,
        )
    except SignInLocked:
        await session.commit()  # ends the transaction the refused upsert locked a row in
        raise
    await session.commit()
    account = await staff_by_username(session, username)
    if account is None:
        await asyncio.to_thread(burn_verification, password)
        return None
    right = await asyncio.to_thread(verify_password, account.password_hash, password)
    if not (right and account.active):
        return None
    await throttle.succeeded(session, attempt)
    return account


async def do_change_password(
    session: AsyncSession,
    account: StaffAccount,
    password: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> int:
    """Set a new password and end every session of the account (a stolen cookie too).

    Returns how many sessions ended.
    """
    check_password_strength(password)
    account.password_hash = hash_password(password)
    ended = await end_all_sessions(session, account.id, now)
    await record_audit(
        session,
        shop_id=account.shop_id,
        actor=actor,
        entity="staff",
        entity_id=str(account.id),
        action="password",
        after={"sessions_ended": ended},
        at=now,
    )
    return ended


async def do_set_active(
    session: AsyncSession,
    account: StaffAccount,
    active: bool,
    *,
    actor: str,
    now: datetime | None = None,
) -> int:
    """Enable or disable an account; disabling ends all its sessions at once.

    Returns how many sessions ended.
    """
    before = account.active
    account.active = active
    ended = 0 if active else await end_all_sessions(session, account.id, now)
    await record_audit(
        session,
        shop_id=account.shop_id,
        actor=actor,
        entity="staff",
        entity_id=str(account.id),
        action="enable" if active else "disable",
        before={"active": before},
        after={"active": active, "sessions_ended": ended},
        at=now,
    )
    return ended


async def do_set_language(session: AsyncSession, account: StaffAccount, language: str) -> None:
    if language not in LANGUAGES:
        raise StaffError(_unknown_language(language))
    account.language = language
