"""Typed dependencies shared by every route: the database session, the signed-in staff."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.staff.models import StaffAccount

SESSION_STAFF_KEY = "staff_id"
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


async def current_staff(request: Request, session: SessionDep) -> StaffAccount:
    staff_id = request.session.get(SESSION_STAFF_KEY)
    if not isinstance(staff_id, int):
        raise NotSignedIn()
    account = await session.get(StaffAccount, staff_id)
    if account is None or not account.active:
        request.session.pop(SESSION_STAFF_KEY, None)
        raise NotSignedIn()
    request.state.staff = account
    return account


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
