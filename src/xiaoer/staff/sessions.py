"""Staff sessions kept on the server, so that signing out ends them everywhere.

The signed cookie carries only a random secret; the ``staff_session`` row is keyed
by its SHA-256 (a copy of the table names no usable cookie). Every request reads
that row and its account by primary key in one statement. Sign-out revokes the row,
a new password or a disabled account revokes all of the account's rows, so a cookie
copied before any of these stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import DEFAULT_ZONE, as_utc, utcnow
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount, StaffSession

# Last-seen is written at most this often per session: a write on every request would
# cost more than the read it accompanies.
LAST_SEEN_EVERY = timedelta(minutes=5)
# Ended sessions are kept this long: they are the record of where an account signed in
# from (the sign-in throttle trusts those addresses a little more).
KEEP_FOR = timedelta(days=30)


@dataclass(frozen=True)
class LiveSession:
    account: StaffAccount
    touched: bool  # last-seen moved: the caller commits
    zone: str = DEFAULT_ZONE  # the shop's time zone, which its pages show times in


def session_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def do_start_session(
    session: AsyncSession,
    account: StaffAccount,
    *,
    address: str,
    user_agent: str,
    now: datetime | None = None,
) -> str:
    """A new session for a signed-in account; returns the secret for the cookie."""
    moment = now or utcnow()
    secret = secrets.token_urlsafe(32)
    await session.execute(
        delete(StaffSession).where(
            StaffSession.staff_id == account.id, StaffSession.created_at < moment - KEEP_FOR
        )
    )
    session.add(
        StaffSession(
            id=session_key(secret),
            staff_id=account.id,
            created_at=moment,
            last_seen_at=moment,
            address=address[:64],
            user_agent=user_agent[:256],
        )
    )
    return secret


async def live_session(
    session: AsyncSession, secret: str, *, max_age: timedelta, now: datetime | None = None
) -> LiveSession | None:
    """The account of a session not revoked, not older than ``max_age``, whose account
    is active; else ``None``. One read by primary key, and now and then a last-seen."""
    moment = now or utcnow()
    key = session_key(secret)
    row = (
        await session.execute(
            select(StaffSession.created_at, StaffSession.last_seen_at, StaffAccount, Shop.timezone)
            .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
            .join(Shop, Shop.id == StaffAccount.shop_id)
            .where(StaffSession.id == key, StaffSession.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    created_at, last_seen_at, account, zone = row
    if as_utc(created_at) <= moment - max_age or not account.active:
        return None
    touched = moment - as_utc(last_seen_at) >= LAST_SEEN_EVERY
    if touched:
        await session.execute(
            update(StaffSession).where(StaffSession.id == key).values(last_seen_at=moment)
        )
    return LiveSession(account, touched, zone or DEFAULT_ZONE)


async def live_accounts(
    session: AsyncSession, keys: set[str], *, max_age: timedelta, now: datetime | None = None
) -> dict[str, StaffAccount]:
    """The accounts of the sessions (by :func:`session_key`) that stand, as
    :func:`live_session` judges each: one read for many (the chat writer's batch)."""
    if not keys:
        return {}
    moment = now or utcnow()
    rows = await session.execute(
        select(StaffSession.id, StaffSession.created_at, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
        .where(StaffSession.id.in_(sorted(keys)), StaffSession.revoked_at.is_(None))
    )
    return {
        key: account
        for key, created_at, account in rows
        if as_utc(created_at) > moment - max_age and account.active
    }


async def do_end_session(session: AsyncSession, secret: str, now: datetime | None = None) -> None:
    """Sign-out: the session's cookie, wherever a copy of it is, works no more."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_key(secret), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


async def end_all_sessions(
    session: AsyncSession, staff_id: int, now: datetime | None = None
) -> int:
    """End every session of an account (a new password, a disabled account)."""
    result = await session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def signed_in_from(
    session: AsyncSession, username: str, address: str, now: datetime | None = None
) -> bool:
    """Whether the account signed in from this address within the keeping period."""
    found = await session.scalar(
        select(StaffSession.id)
        .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
        .where(
            StaffAccount.username == username,
            StaffSession.address == address[:64],
            StaffSession.created_at > (now or utcnow()) - KEEP_FOR,
        )
        .limit(1)
    )
    return found is not None
