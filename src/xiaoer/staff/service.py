"""Staff accounts: add, find, sign in, language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.auth import (
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

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
LANGUAGES = ("zh", "en")


class StaffError(ValueError):
    pass


class SignInLocked(Exception):
    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"sign-in locked until {until.isoformat()}")


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
    """The account for these credentials, or ``None``; raises when throttled.

    Failures are recorded per username; after too many within the window the
    account's sign-in is locked for the window, whatever the password.
    """
    moment = now or utcnow()
    until = await throttle.locked_until(session, username, moment)
    if until is not None:
        raise SignInLocked(until)
    account = await staff_by_username(session, username)
    if account is None:
        burn_verification(password)
    elif account.active and verify_password(account.password_hash, password):
        await throttle.clear(session, username)
        return account
    await throttle.record_failure(session, username, address, moment)
    return None


async def do_set_language(session: AsyncSession, account: StaffAccount, language: str) -> None:
    if language not in LANGUAGES:
        raise StaffError(_unknown_language(language))
    account.language = language
