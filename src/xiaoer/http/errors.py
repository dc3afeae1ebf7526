"""A service's error as an HTTP answer: who-may refusals 403, unknown objects 404."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.http.render import error_text


def status_of(exc: BaseException, default: int = 422) -> int:
    if isinstance(exc, NotPermitted):
        return 403
    if isinstance(exc, NotFound):
        return 404
    return default


def refusal(request: HTTPConnection, exc: BaseException, default: int = 422) -> HTTPException:
    """The error in the reader's language with its status (``default`` for the rest)."""
    return HTTPException(status_of(exc, default), error_text(request, exc))
