"""Passwords and sign-in: argon2 hashes, throttling of repeated failures."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.models import LoginThrottle

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


class PasswordError(ValueError):
    pass


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this when the user is unknown keeps timing alike for both cases.
_DUMMY_HASH = hash_password("not-a-real-password")


def burn_verification(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


ALL_ADDRESSES = "*"


class SignInLocked(Exception):
    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"sign-in locked until {until.isoformat()}")


def address_key(address: str) -> str:
    """The client address as the throttle counts it: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber is usually given a whole /64, so counting its addresses one by
    one would give a single attacker billions of fresh tries.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt let through; counted as a failure until :meth:`Throttle.succeeded`."""

    username: str
    address: str
    counted_for_account: bool


KnownAddress = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Throttle:
    """Failed sign-ins, counted per account and client address, and per account overall.

    The rule:

    - ``max_failures`` failures of one account name from one address (an IPv6 /64)
      lock that address out of that account until ``window`` has passed since the
      last of them. Other addresses are not affected, so nobody can lock the admin
      out from elsewhere.
    - ``account_max_failures`` failures of one account name from all addresses
      together (a guesser spread over many addresses) hold off every address the
      account has not signed in from lately, likewise until ``window`` has passed
      since the last of them; addresses it has signed in from keep only the first
      rule, so the account's own people still get in while it is under attack.

    An attempt is counted *before* its password is checked, by one conditional upsert
    per counter, and a success takes its count back: of many concurrent attempts at
    most the allowed number get as far as checking a password.
    """

    max_failures: int
    window: timedelta
    account_max_failures: int

    async def admit(
        self,
        session: AsyncSession,
        username: str,
        address: str,
        known_address: KnownAddress,
        now: datetime | None = None,
    ) -> Attempt:
        """Count an attempt, or raise :class:`SignInLocked`. The caller commits at once."""
        moment = now or utcnow()
        key = address_key(address)
        until = await self._count(session, username, key, self.max_failures, moment)
        if until is not None:
            raise SignInLocked(until)
        until = await self._count(
            session, username, ALL_ADDRESSES, self.account_max_failures, moment
        )
        if until is None:
            return Attempt(username, key, counted_for_account=True)
        if await known_address():
            return Attempt(username, key, counted_for_account=False)
        raise SignInLocked(until)

    async def succeeded(self, session: AsyncSession, attempt: Attempt) -> None:
        """The password was right: forget this address's failures, take back the count."""
        await session.execute(
            update(LoginThrottle)
            .where(
                LoginThrottle.username == attempt.username, LoginThrottle.address == attempt.address
            )
            .values(failures=0)
        )
        if attempt.counted_for_account:
            await session.execute(
                update(LoginThrottle)
                .where(
                    LoginThrottle.username == attempt.username,
                    LoginThrottle.address == ALL_ADDRESSES,
                    LoginThrottle.failures > 0,
                )
                .values(failures=LoginThrottle.failures - 1)
            )

    async def _count(
        self, session: AsyncSession, username: str, address: str, limit: int, now: datetime
    ) -> datetime | None:
        """Add one to a counter unless it is full: ``None``, or when it opens again.

        One statement: a new key is inserted with one failure; an existing one is
        raised only while below ``limit`` (or started again once its window is over).
        PostgreSQL locks the row for the upsert and re-checks the condition against
        the latest committed count; SQLite has one writer at a time.
        """
        since = now - self.window
        dialect = session.get_bind().dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        row = LoginThrottle.__table__.c
        stale = row.last_at <= since
        stmt = (
            upsert(LoginThrottle)
            .values(username=username, address=address, failures=1, last_at=now)
            .on_conflict_do_update(
                index_elements=[row.username, row.address],
                set_={
                    "failures": case((stale, 1), else_=row.failures + 1),
                    "last_at": now,
                },
                where=or_(row.failures < limit, stale),
            )
            .returning(row.failures)
        )
        if (await session.execute(stmt)).first() is not None:
            return None
        last = await session.scalar(
            select(LoginThrottle.last_at).where(
                LoginThrottle.username == username, LoginThrottle.address == address
            )
        )
        return (as_utc(last) if last else now) + self.window
