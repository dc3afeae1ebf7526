"""Typed dependencies shared by every route: the database session, the signed-in staff."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.sessions import live_session

SESSION_ID_KEY = "sid"  # the secret of the server-side session (xiaoer.staff.sessions)
SESSION_CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid staff session: pages redirect to the sign-in page, APIs answer 401."""


class Forbidden(Exception):
    """Signed in, but the account's roles do not allow this."""


class CsrfFailed(Exception):
    """An unsafe request without the session's CSRF token."""


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_db(request).session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Every unsafe request carries the token: form field or ``X-CSRF-Token`` header."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_CSRF_KEY)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise CsrfFailed()


def session_max_age(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.session_max_age_seconds)


async def current_staff(
    request: Request, session: SessionDep, settings: SettingsDep
) -> StaffAccount:
    """The account of the request's session, as the server's record of it stands now."""
    secret = request.session.get(SESSION_ID_KEY)
    if not isinstance(secret, str):
        raise NotSignedIn()
    live = await live_session(session, secret, max_age=session_max_age(settings))
    if live is None:
        request.session.pop(SESSION_ID_KEY, None)
        raise NotSignedIn()
    if live.touched:
        await session.commit()
    request.state.staff = live.account
    request.state.zone = live.zone
    return live.account


def require_staff(
    *roles: str,
) -> Callable[[StaffAccount], Coroutine[Any, Any, StaffAccount]]:
    """The access helper every staff route uses: signed in, and holding one of ``roles``.

    With no roles given, any signed-in staff account may pass.
    """

    async def dependency(
        account: Annotated[StaffAccount, Depends(current_staff)],
    ) -> StaffAccount:
        if roles and not account.has_role(*roles):
            raise Forbidden()
        return account

    dependency.required_roles = roles  # type: ignore[attr-defined]
    return dependency


AnyStaff = Annotated[StaffAccount, Depends(require_staff())]
