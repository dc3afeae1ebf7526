"""Sign-in and sign-out pages."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.core.auth import SignInLocked, Throttle
from xiaoer.core.clock import utcnow
from xiaoer.http.deps import SESSION_CSRF_KEY, SESSION_ID_KEY, SessionDep, SettingsDep
from xiaoer.http.i18n import LANGUAGES, Translator
from xiaoer.http.render import language_of, render
from xiaoer.staff.service import do_sign_in
from xiaoer.staff.sessions import do_end_session, do_start_session

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a signed-in user to another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/", lang: str | None = None) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    throttle = Throttle(
        settings.login_max_failures,
        timedelta(minutes=settings.login_lockout_minutes),
        settings.login_account_max_failures,
    )
    address = request.client.host if request.client else ""
    t = Translator(language_of(request, None))
    try:
        account = await do_sign_in(
            session, throttle, username=username.strip(), password=password, address=address
        )
    except SignInLocked as locked:
        minutes = max(1, math.ceil((locked.until - utcnow()).total_seconds() / 60))
        context = {"next": _safe_next(next), "error": t("login.locked", minutes=minutes)}
        return render(request, "login.html", context, status_code=429)
    if account is None:
        await session.commit()
        context = {"next": _safe_next(next), "error": t("login.failed")}
        return render(request, "login.html", context, status_code=401)
    # A fresh session on sign-in, with a new secret: nothing of the cookie before it
    # carries over, and a session the browser held before ends.
    earlier = request.session.get(SESSION_ID_KEY)
    if isinstance(earlier, str):
        await do_end_session(session, earlier)
    secret = await do_start_session(
        session, account, address=address, user_agent=request.headers.get("user-agent", "")
    )
    await session.commit()
    request.session.clear()
    request.session[SESSION_ID_KEY] = secret
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    """Ends the session on the server: a copy of the cookie works no more."""
    secret = request.session.pop(SESSION_ID_KEY, None)
    if isinstance(secret, str):
        await do_end_session(session, secret)
        await session.commit()
    request.session.pop(SESSION_CSRF_KEY, None)
    return RedirectResponse("/login", status_code=303)
