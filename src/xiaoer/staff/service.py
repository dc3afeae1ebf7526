"""Staff accounts: add, find, sign in, password, disable, language; who may change whom."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
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
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import Text, say
from xiaoer.staff.models import Level, Role, StaffAccount, Team
from xiaoer.staff.sessions import end_all_sessions, signed_in_from

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
LANGUAGES = ("zh", "en")


class StaffError(ValueError):
    """An account's value that cannot be used; ``field`` names the form field it is of."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.problems: dict[str, str] = {field: message} if field else {}


class StaffForbidden(StaffError, NotPermitted):
    """The signed-in account may not change this account (or grant these roles)."""


class StaffNotFound(StaffError, NotFound):
    """No such account in the signed-in account's shop."""


def _unknown_language(language: str) -> Text:
    return say(
        "language {language!r}: expected one of {languages}",
        language=language,
        languages=", ".join(LANGUAGES),
    )


def check_new_staff(
    username: str, number: str, name: str, level: str, team: str, roles: Iterable[str]
) -> list[str]:
    """Validate an account's fields; returns the roles in a stable order.

    Every field is checked: the error names the first problem, and ``problems`` all
    of them by field, for a form to show each beside its field.
    """
    problems: dict[str, str] = {}
    if not _USERNAME.match(username):
        problems["username"] = say(
            "username {username!r}: use 2–64 letters, digits, '.', '_' or '-'",
            username=username,
        )
    if not number.strip():
        problems["number"] = say("staff number (工号) is empty")
    if not name.strip():
        problems["name"] = say("name is empty")
    if level not in {lv.value for lv in Level}:
        problems["level"] = say(
            "level {level!r}: expected one of {levels}",
            level=level,
            levels=", ".join(lv.value for lv in Level),
        )
    if team not in {t.value for t in Team}:
        problems["team"] = say(
            "team {team!r}: expected one of {teams}",
            team=team,
            teams=", ".join(t.value for t in Team),
        )
    given = list(dict.fromkeys(roles))
    known = [r.value for r in Role]
    unknown = [r for r in given if r not in known]
    if not given:
        problems["roles"] = say("choose at least one role")
    elif unknown:
        problems["roles"] = say(
            "roles {roles}: expected one or more of {known}",
            roles=", ".join(unknown),
            known=", ".join(known),
        )
    if problems:
        field, message = next(iter(problems.items()))
        error = StaffError(message, field)
        error.problems = problems
        raise error
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
        raise StaffError(say("username {username!r} is taken", username=username), "username")
    taken = await session.scalar(
        select(StaffAccount.id).where(
            StaffAccount.shop_id == shop_id, StaffAccount.number == number
        )
    )
    if taken is not None:
        raise StaffError(
            say("staff number {number!r} is taken in this shop", number=number), "number"
        )
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


# --- who may change whom ----------------------------------------------------------------

# Who keeps the staff list: the floor's leaders and the system's administrator.
STAFF_KEEPERS = (Role.supervisor.value, Role.manager.value, Role.admin.value)
# Roles only a manager or an administrator may give, and whose holders only they may change.
TOP_ROLES = (Role.manager.value, Role.admin.value)
# A generated password: letters and digits that cannot be misread (no 0/O, 1/l/I).
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105


def check_may_keep_staff(actor: StaffAccount, account: StaffAccount | None = None) -> None:
    """The actor keeps the staff list; for an existing account, one of their own shop
    that they may change (a supervisor does not change a manager's or an administrator's)."""
    if account is not None and account.shop_id != actor.shop_id:
        raise StaffNotFound(say("no staff member {staff_id} in this shop", staff_id=account.id))
    if not actor.has_role(*STAFF_KEEPERS):
        raise StaffForbidden(say("only a supervisor, a manager or an administrator keeps staff"))
    if account is not None and account.has_role(*TOP_ROLES) and not actor.has_role(*TOP_ROLES):
        raise StaffForbidden(say("only a manager or an administrator changes a manager's account"))


def check_may_grant(actor: StaffAccount, roles: Iterable[str], before: Iterable[str] = ()) -> None:
    """Manager and administrator are given (and taken) only by a manager or an administrator."""
    moved = set(roles) ^ set(before)
    if moved & set(TOP_ROLES) and not actor.has_role(*TOP_ROLES):
        raise StaffForbidden(
            say("only a manager or an administrator makes someone manager or administrator"),
            "roles",
        )


async def check_keeps_a_manager(
    session: AsyncSession, account: StaffAccount, *, roles: Iterable[str], active: bool
) -> None:
    """The shop keeps at least one active manager: nobody disables or demotes the last."""
    manager = Role.manager.value
    if not (account.active and manager in account.roles) or (active and manager in roles):
        return
    others = await session.scalars(
        select(StaffAccount).where(
            StaffAccount.shop_id == account.shop_id,
            StaffAccount.id != account.id,
            StaffAccount.active.is_(True),
        )
    )
    if not any(manager in other.roles for other in others):
        raise StaffError(say("the shop's last active manager stays a manager"), "roles")


async def staff_member(session: AsyncSession, actor: StaffAccount, staff_id: int) -> StaffAccount:
    """An account of the actor's shop; another shop's is as unknown as a missing one."""
    account = await session.get(StaffAccount, staff_id)
    if account is None or account.shop_id != actor.shop_id:
        raise StaffNotFound(say("no staff member {staff_id} in this shop", staff_id=staff_id))
    return account


def new_password() -> str:
    """A password to hand over once: 12 characters in three groups, easy to read out."""
    chars = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


async def do_hire(
    session: AsyncSession,
    actor: StaffAccount,
    *,
    username: str,
    number: str,
    name: str,
    level: str,
    team: str,
    roles: Iterable[str],
) -> tuple[StaffAccount, str]:
    """Add an account to the actor's shop with a new password, returned to show once."""
    given = list(roles)
    check_may_keep_staff(actor)
    check_may_grant(actor, given)
    password = new_password()
    account = await do_add_staff(
        session,
        shop_id=actor.shop_id,
        username=username.strip(),
        number=number.strip(),
        name=name.strip(),
        password=password,
        level=level,
        team=team,
        roles=given,
        actor=actor.username,
        hired_on=utcnow(),
    )
    return account, password


async def do_edit_staff(
    session: AsyncSession,
    actor: StaffAccount,
    account: StaffAccount,
    *,
    number: str,
    name: str,
    level: str,
    team: str,
    roles: Iterable[str],
) -> dict[str, tuple[object, object]]:
    """Change an account's number, name, level, team and roles; returns what changed."""
    check_may_keep_staff(actor, account)
    number, name = number.strip(), name.strip()
    ordered = check_new_staff(account.username, number, name, level, team, roles)
    check_may_grant(actor, ordered, account.roles)
    await check_keeps_a_manager(session, account, roles=ordered, active=account.active)
    if number != account.number:
        taken = await session.scalar(
            select(func.count()).where(
                StaffAccount.shop_id == account.shop_id,
                StaffAccount.number == number,
                StaffAccount.id != account.id,
            )
        )
        if taken:
            raise StaffError(
                say("staff number {number!r} is taken in this shop", number=number), "number"
            )
    after = {"number": number, "name": name, "level": level, "team": team, "roles": ordered}
    changed: dict[str, tuple[object, object]] = {
        key: (getattr(account, key), value)
        for key, value in after.items()
        if getattr(account, key) != value
    }
    if not changed:
        return changed
    for key, (_old, value) in changed.items():
        setattr(account, key, value)
    await record_audit(
        session,
        shop_id=account.shop_id,
        actor=actor.username,
        entity="staff",
        entity_id=str(account.id),
        action="edit",
        before={key: old for key, (old, _new) in changed.items()},
        after={key: new for key, (_old, new) in changed.items()},
    )
    await record_event(
        session, account.shop_id, "staff.changed", {"staff_id": account.id, "fields": list(changed)}
    )
    return changed


async def do_switch_active(
    session: AsyncSession, actor: StaffAccount, account: StaffAccount, active: bool
) -> int:
    """Disable (signing the account out everywhere) or enable again; returns sessions ended."""
    check_may_keep_staff(actor, account)
    if not active and account.id == actor.id:
        raise StaffForbidden(say("nobody disables their own account"))
    await check_keeps_a_manager(session, account, roles=account.roles, active=active)
    if account.active == active:
        return 0
    return await do_set_active(session, account, active, actor=actor.username)


async def do_reset_password(
    session: AsyncSession, actor: StaffAccount, account: StaffAccount
) -> str:
    """A new password for the account, to show its keeper once; its sessions end."""
    check_may_keep_staff(actor, account)
    if account.id == actor.id:
        raise StaffForbidden(say("your own password is changed with `xiaoer user password`"))
    password = new_password()
    await do_change_password(session, account, password, actor=actor.username)
    return password
