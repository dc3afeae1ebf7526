"""Passwords and sign-in: argon2 hashes, throttling of repeated failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.models import LoginFailure

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


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    window: timedelta

    async def locked_until(
        self, session: AsyncSession, username: str, now: datetime | None = None
    ) -> datetime | None:
        """When sign-in for ``username`` opens again, or ``None`` if it is open."""
        moment = now or utcnow()
        since = moment - self.window
        count, newest = (
            await session.execute(
                select(func.count(), func.max(LoginFailure.at)).where(
                    LoginFailure.username == username, LoginFailure.at > since
                )
            )
        ).one()
        if count < self.max_failures or newest is None:
            return None
        return as_utc(newest) + self.window

    async def record_failure(
        self, session: AsyncSession, username: str, address: str, now: datetime | None = None
    ) -> None:
        session.add(LoginFailure(username=username, address=address[:64], at=now or utcnow()))

    async def clear(self, session: AsyncSession, username: str) -> None:
        await session.execute(delete(LoginFailure).where(LoginFailure.username == username))
