"""Sign-in and sign-out pages."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.core.auth import Throttle
from xiaoer.core.clock import utcnow
from xiaoer.http.deps import SESSION_CSRF_KEY, SESSION_STAFF_KEY, SessionDep, SettingsDep
from xiaoer.http.i18n import LANGUAGES, Translator
from xiaoer.http.render import language_of, render
from xiaoer.staff.service import SignInLocked, do_sign_in

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
        settings.login_max_failures, timedelta(minutes=settings.login_lockout_minutes)
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
    await session.commit()
    if account is None:
        context = {"next": _safe_next(next), "error": t("login.failed")}
        return render(request, "login.html", context, status_code=401)
    # A fresh session on sign-in: nothing chosen before it carries over.
    request.session.clear()
    request.session[SESSION_STAFF_KEY] = account.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    request.session.pop(SESSION_STAFF_KEY, None)
    request.session.pop(SESSION_CSRF_KEY, None)
    return RedirectResponse("/login", status_code=303)
